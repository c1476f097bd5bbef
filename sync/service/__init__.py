"""The one service layer (DESIGN.md §1): the whole operational surface.

The Slack bot, the REST API and the CLI call `Service` and nothing else. Role checks (R32),
validation (sync/requests.py) and the audit log (R34) live here, once. One module per concern
(issue 12); `Service` composes them, so callers keep one object and the same method names:

    lifecycle      create, pause, version, status, checklist (R1–R3, R7, R36)
    reactivations  request, approve, deny, expire (R31)
    manual         manual syncs and their jobs (R6); one record's sync state
    error_queue    list, read, retry, dismiss sync errors (R25–R27)
    configuration  settings, field mappings, MDS rules (R14–R16, R22, R23, R30)
    access         roles (R33), API tokens, the audit log (R34)
    base           construction, the role check and the one "refuse and audit" helper
"""
from __future__ import annotations

from ..names import ERROR_CATEGORIES
from ..serialize import error_dict, iso, job_dict
from .access import Access
from .base import ACTION_WORDS, DEFAULT_SETTINGS
from .configuration import Configuration
from .error_queue import ERROR_STATUSES, ErrorQueue
from .lifecycle import Lifecycle
from .manual import ManualSyncs
from .reactivations import Reactivations

__all__ = ["ACTION_WORDS", "DEFAULT_SETTINGS", "ERROR_CATEGORIES", "ERROR_STATUSES", "Service", "error_dict",
           "iso", "job_dict"]


class Service(Lifecycle, Reactivations, ManualSyncs, ErrorQueue, Configuration, Access):
    """Built once per process by the composition root (app.py, the worker, the CLI)."""
