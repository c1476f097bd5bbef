"""Composition root: builds the runtime and the Flask app; runs the processes.

    gunicorn 'app:create_app()'        the web process (API, Slack events, health)
    python app.py worker               an RQ worker
    python app.py scheduler            enqueues a cycle every SYNC_POLL_INTERVAL
    python app.py bot                  Slack Socket Mode (when SLACK_APP_TOKEN is set)
    python app.py shell [--as EMAIL]   the chat commands in a terminal
    python app.py demo                 sandbox + web + worker + scheduler + shell
"""
from __future__ import annotations

import logging
import sys

from flask import Flask

from sync.config import Config, ConfigError
from sync.runtime import Runtime, install


def build_runtime(config: Config | None = None) -> Runtime:
    config = config or Config.from_env()
    runtime = Runtime(config)
    runtime.notifier = _notifier(runtime)
    return install(runtime)


def _notifier(runtime: Runtime):
    try:
        import bot
    except ImportError:
        return runtime.notifier
    return bot.make_notifier(runtime) if hasattr(bot, "make_notifier") else runtime.notifier


def create_app(config: Config | None = None, runtime: Runtime | None = None) -> Flask:
    try:
        runtime = runtime or build_runtime(config)
    except ConfigError as exc:
        _die(exc)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1 * 1024 * 1024
    app.extensions["connector"] = runtime
    from api.health import bp as health

    app.register_blueprint(health)
    try:
        import api
        if hasattr(api, "register"):
            api.register(app, runtime)
    except ImportError:
        pass
    try:
        import bot
        if hasattr(bot, "register"):
            bot.register(app, runtime)
    except ImportError:
        pass
    return app


def _die(exc: Exception) -> None:
    print(f"configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    command = argv[0] if argv else "help"
    if command == "demo":
        from sync.demo import run_demo

        return run_demo(argv[1:])
    try:
        runtime = build_runtime()
    except ConfigError as exc:
        _die(exc)
    if command == "worker":
        from rq import SimpleWorker

        from sync.jobs import QUEUE

        # SimpleWorker: no fork per job, so the runtime's pools and caches are reused.
        SimpleWorker([QUEUE], connection=runtime.redis).work(with_scheduler=False)
        return 0
    if command == "scheduler":
        from sync.scheduler import Scheduler

        Scheduler(runtime).run()
        return 0
    if command == "shell":
        from bot.shell import run_shell

        return run_shell(runtime, argv[1:])
    if command == "bot":
        from bot.socket_mode import run_socket_mode

        return run_socket_mode(runtime)
    print(__doc__)
    return 0 if command == "help" else 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
