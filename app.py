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


def run_demo(argv: list[str]) -> int:
    """Everything on the embedded default: sandbox org, embedded Redis, SQLite, shell bot."""
    import argparse
    import json
    import os
    import subprocess
    import time
    from pathlib import Path

    from sync.redis_server import EmbeddedRedis

    parser = argparse.ArgumentParser(prog="python app.py demo")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--as", dest="as_email", default="admin@sandbox.example")
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("CONNECTOR_DATA_DIR", "./.connector")).resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    info_path = data_dir / "sandbox" / "sandbox.json"
    info_path.unlink(missing_ok=True)
    env = {**os.environ, "CONNECTOR_DATA_DIR": str(data_dir)}
    env.setdefault("SYNC_POLL_INTERVAL", "30")
    children: list[subprocess.Popen] = []

    def spawn(name: str, cmd: list[str]) -> None:
        out = open(logs / f"{name}.log", "ab")
        children.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT))

    redis_server = EmbeddedRedis(data_dir)
    try:
        env.setdefault("REDIS_URL", redis_server.ensure_running())
        spawn("sandbox", [sys.executable, "-m", "sandbox", "--data-dir", str(info_path.parent), "--seed", "1"])
        deadline = time.monotonic() + 60
        while not info_path.exists():
            if time.monotonic() > deadline or children[0].poll() is not None:
                print(f"the sandbox did not start; see {logs / 'sandbox.log'}", file=sys.stderr)
                return 1
            time.sleep(0.2)
        info = json.loads(info_path.read_text())
        os.environ.update({k: env[k] for k in ("CONNECTOR_DATA_DIR", "REDIS_URL", "SYNC_POLL_INTERVAL")})
        runtime = build_runtime()  # migrates the database before the other processes start
        spawn("web", [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{args.port}", "--workers", "2",
                      "--threads", "4", "app:create_app()"])
        spawn("worker", [sys.executable, "app.py", "worker"])
        spawn("scheduler", [sys.executable, "app.py", "scheduler"])
        print(f"""
pardot-connector demo is running
  REST API         http://127.0.0.1:{args.port}/api/v1   (OpenAPI: /api/v1/openapi.json, health: /readyz)
  Slack events     http://127.0.0.1:{args.port}/slack/events   (off until SLACK_* is set)
  sandbox org      {info['base_url']}   (control API: {info['control_url']})
  database         {runtime.config.database_url}
  redis            {env['REDIS_URL']}
  logs             {logs}/(sandbox|web|worker|scheduler).log
  API token        FLASK_APP=app:create_app .venv/bin/flask tokens create --name me --role admin

Type `help`. Start with `create owner #sync-errors` (the connector starts paused, R1),
then `checklist`, `resume`, and approve as a different admin: `/as admin2@sandbox.example`,
`approve ID`. Records then flow both ways every cycle. `exit` stops everything.
""", flush=True)
        from bot.shell import run_shell

        return run_shell(runtime, ["--as", args.as_email])
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        redis_server.stop()


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    command = argv[0] if argv else "help"
    if command == "demo":
        return run_demo(argv[1:])
    try:
        runtime = build_runtime()
    except ConfigError as exc:
        _die(exc)
    if command == "worker":
        from sync.worker import run_worker

        return run_worker(runtime)
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
