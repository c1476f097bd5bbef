"""Fixtures for the client tests: the shared HTTPS sandbox (tests/conftest.py), real Redis with a
unique key namespace per test (cleaned afterwards), and clients built from a sandbox Config."""
from __future__ import annotations

import os
import uuid

import pytest
import redis as redis_lib

from sync.budget import Budget
from sync.config import Config
from sync.pardot import PardotClient
from sync.remote import RetryPolicy
from sync.salesforce import SalesforceClient
from sync.semaphore import RedisSemaphore

FAST = RetryPolicy(attempts=3, initial=0.01, maximum=0.05)


@pytest.fixture(scope="session")
def clients_redis_url(redis_url) -> str:
    """The suite's Redis (tests/conftest.py), but a database of its own on the local server:
    other suites flush theirs between tests, possibly from another pytest run."""
    if os.environ.get("CLIENTS_TEST_REDIS_URL"):
        return os.environ["CLIENTS_TEST_REDIS_URL"]
    return "redis://127.0.0.1:6379/11" if redis_url == "redis://127.0.0.1:6379/9" else redis_url


@pytest.fixture
def redis_conn(clients_redis_url):
    conn = redis_lib.Redis.from_url(clients_redis_url)
    yield conn
    conn.close()


@pytest.fixture
def ns(redis_conn):
    """A unique key namespace; every key under it is deleted after the test."""
    name = f"test-clients:{uuid.uuid4().hex}"
    yield name
    keys = list(redis_conn.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        redis_conn.delete(*keys)


@pytest.fixture
def budget(redis_conn, ns):
    return Budget(redis_conn, ns)


@pytest.fixture
def config(sandbox, tmp_path, clients_redis_url) -> Config:
    return Config.from_env({"CONNECTOR_DATA_DIR": str(tmp_path), "REDIS_URL": clients_redis_url,
                            "SANDBOX_INFO": os.path.join(sandbox.data_dir, "sandbox.json")})


@pytest.fixture
def reset(control):
    control.post("reset")
    return control


@pytest.fixture
def sf(reset, config, budget) -> SalesforceClient:
    return SalesforceClient(config, budget, retry=FAST)


def make_pardot(config, sf, redis_conn, budget, ns, **kwargs) -> PardotClient:
    kwargs.setdefault("busy_retry", RetryPolicy(attempts=5, initial=0.01, maximum=0.05))
    kwargs.setdefault("transient_retry", FAST)
    kwargs.setdefault("semaphore", RedisSemaphore(redis_conn, f"{ns}:pardot-inflight", 5, lease_seconds=60))
    return PardotClient(config, sf.access_token, sf.reauthenticate, redis_conn, budget, **kwargs)


@pytest.fixture
def pardot(config, sf, redis_conn, budget, ns) -> PardotClient:
    return make_pardot(config, sf, redis_conn, budget, ns)


def calls(control) -> dict:
    return control.get("calls")


def fault(control, **spec) -> dict:
    return control.post("faults", spec, expect=201)


def insert(control, side: str, obj: str, records: list[dict]) -> list[dict]:
    """Arrange rows directly in the sandbox (not counted as API calls)."""
    return control.post(f"records/{side}/{obj}", {"records": records}, expect=201)["records"]
