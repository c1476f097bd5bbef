"""gunicorn settings of the web process (`python app.py web`, the Procfile's `web`; gunicorn also
reads this file by itself when started from this directory). Command-line options win.

WEB_CONCURRENCY — worker processes (default 2 × cores + 1, gunicorn's own advice); WEB_THREADS —
threads per worker (default 1: the sync worker; above 1: gthread). Requests are short (Redis and
SQL reads; Salesforce and Pardot are never called inline), so the sync worker fits: a free worker
takes the next connection from the listen queue all workers share, so a worker held up (a status
recompute, a garbage collection, the OS running something else) delays only its one request.
gthread keeps each keep-alive connection on the worker that accepted it, and measured on 2 cores
with 50 API clients its p99 was 70-107 ms against 55-65 ms for 5 sync workers (issue 11). Like
any sync-worker deployment it belongs behind a proxy or load balancer that buffers slow clients;
where there is none, WEB_THREADS=4 (gthread) is the choice. The cost: each Slack request holds a
worker for bolt's ack (it polls every 10 ms), which made the bot's ack p99 100-270 ms instead of
75-100 ms (target 300 ms)."""
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


workers = _count("WEB_CONCURRENCY", 2 * _cores() + 1)
threads = _count("WEB_THREADS", 1)
worker_class = "sync" if threads == 1 else "gthread"


def post_worker_init(worker) -> None:
    # The app's import-time objects (routes, the OpenAPI document and its validators, SQLAlchemy
    # models: ~150,000 objects) never die; frozen, the garbage collector stops scanning them
    # on every full collection, which otherwise stalls all of a worker's requests for
    # 30–130 ms every ~1,500 requests (issue 11: the API p99).
    gc.freeze()
