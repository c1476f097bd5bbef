"""gunicorn settings of the web process (`python app.py web`, the Procfile's `web`; gunicorn also
reads this file by itself when started from this directory). Command-line options win.

WEB_CONCURRENCY — worker processes (default: one per CPU core); WEB_THREADS — threads per
worker (default 4). Requests are short (a few Redis and SQL reads; Salesforce and Pardot are
never called inline), so one gthread worker per core keeps every core busy without the
context switches and GIL contention of many threads, and the threads keep a worker busy while
one request waits on Redis or SQL. Keep-alive connections stay on the poller, not on a thread."""
from __future__ import annotations

import gc
import os


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"configuration error: {name}: must be a whole number above 0, got {raw!r}")
    return int(raw)


def _cores() -> int:
    # The cores this process may run on (a cpuset or taskset limits them), not the host's count.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


worker_class = "gthread"
workers = _count("WEB_CONCURRENCY", _cores())
threads = _count("WEB_THREADS", 4)


def post_worker_init(worker) -> None:
    # The app's import-time objects (routes, the OpenAPI document and its validators, SQLAlchemy
    # models: ~150,000 objects) never die; frozen, the garbage collector stops scanning them
    # on every full collection, which otherwise stalls all of a worker's requests for
    # 30–130 ms every ~1,500 requests (issue 11: the API p99).
    gc.freeze()
