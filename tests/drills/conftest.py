"""Failure drills (issue 9): real worker processes, real Redis and SQL, the sandbox over HTTPS.

Every test here carries the `drills` marker; `pytest -m drills` runs only them."""
from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/tests/drills/" in str(item.fspath):
            item.add_marker(pytest.mark.drills)
