"""One process's wiring of the core: config, store, Redis, queue, clients, engine.

The composition root (app.py) installs a Runtime with the right notifier; RQ job
functions find it through `current()`."""
from __future__ import annotations

import os
import threading
from typing import Callable

from .config import Config
from .db import Store
from .jobs import JobQueue
from .notify import log_notifier
from .redis_server import connect


class Runtime:
    def __init__(self, config: Config, notifier: Callable[[str, dict], None] | None = None,
                 migrate: bool = True):
        self.config = config
        self.store = Store(config.database_url)
        # Processes only check the schema (SchemaNotCurrent); `python app.py migrate` is the
        # release step that changes it, so processes started at once never race (issue 9 item 11).
        if migrate:
            self.store.migrate()
        else:
            self.store.check_schema()
        self.redis = connect(config.redis_url, config.data_dir)
        self.notifier = notifier or log_notifier
        self._lock = threading.Lock()
        self._engine = None
        self._budget = None
        self.queue = JobQueue(self.redis, self.store, self.budget())

    def notify(self, event: str, payload: dict) -> None:
        try:
            self.notifier(event, payload)
        except Exception:  # noqa: BLE001 - a broken notifier must not break a sync
            import logging

            logging.getLogger("connector.events").exception("notifier failed for %s", event)

    def budget(self):
        if self._budget is None:
            from .budget import Budget

            self._budget = Budget(self.redis, f"budget:{self.config.pardot_business_unit_id}")
        return self._budget

    def service(self):
        from .service import Service

        return Service(self.store, self.redis, self.config, self.queue, self.notify,
                       pardot=lambda: self.engine().clients()[1])

    def engine(self):
        with self._lock:
            if self._engine is None:
                from .engine import Engine

                self._engine = Engine(self)
            return self._engine


_current: Runtime | None = None
_pid: int | None = None


def install(runtime: Runtime) -> Runtime:
    global _current, _pid
    _current, _pid = runtime, os.getpid()
    return runtime


def current() -> Runtime:
    if _current is None or _pid != os.getpid():
        install(Runtime(Config.from_env(), migrate=False))
    return _current
