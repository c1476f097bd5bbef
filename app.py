"""Composition root: builds the runtime and the Flask app; runs the processes.

    python app.py migrate              the release step: bring the database schema up to date
    python app.py web [GUNICORN ARGS]  the web process (gunicorn 'app:create_app()': API, Slack, health)
    python app.py worker               an RQ worker
    python app.py scheduler            enqueues a cycle every SYNC_POLL_INTERVAL
    python app.py bot                  Slack Socket Mode (when SLACK_APP_TOKEN is set)
    python app.py shell [--as EMAIL]   the chat commands in a terminal
    python app.py demo                 migrate + sandbox + web + worker + scheduler + shell

Processes refuse to start on a database that `migrate` has not brought up to date (exit 2).
`python app.py web|worker|scheduler|bot --check` imports everything that process imports at
run time and exits 0, without reading the configuration or connecting to anything.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

from flask import Flask

from sync.config import Config, ConfigError
from sync.db import SchemaNotCurrent
from sync.runtime import Runtime, install

# What each Procfile process imports at run time (`--check`): whole packages, since much of it
# is imported lazily (listeners, API routes, job functions) and would fail only on first use.
PROCESS_IMPORTS = {
    "web": ("sync", "bot", "api", "gunicorn.app.wsgiapp", "gunicorn.workers.gthread"),
    "worker": ("sync", "bot", "rq"),
    "scheduler": ("sync", "bot", "rq"),
    "bot": ("sync", "bot", "slack_bolt.adapter.socket_mode"),
}
_NOT_IMPORTED = ("sync.migrations",)  # alembic runs these itself, in `migrate` only


def build_runtime(config: Config | None = None) -> Runtime:
    config = config or Config.from_env()
    runtime = Runtime(config, migrate=False)  # refuses an old schema: SchemaNotCurrent
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
    except (ConfigError, SchemaNotCurrent) as exc:
        # Under gunicorn a worker's exit 2 is respawned for ever; its APP_LOAD_ERROR (4) halts it.
        _die(exc, 4 if "gunicorn.arbiter" in sys.modules else 2)
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


def _die(exc: Exception, code: int = 2) -> None:
    if isinstance(exc, SchemaNotCurrent):
        print(f"cannot start: {exc}", file=sys.stderr)
    else:
        print(f"configuration error: {exc}", file=sys.stderr)
    raise SystemExit(code)


def check_imports(process: str) -> int:
    """`PROCESS --check`: import every module the process may import, connect to nothing."""
    names: list[str] = []
    try:
        for root in PROCESS_IMPORTS[process]:
            module = importlib.import_module(root)
            names.append(root)
            if hasattr(module, "__path__") and root in ("sync", "bot", "api"):
                for info in pkgutil.walk_packages(module.__path__, root + "."):
                    if not info.name.startswith(_NOT_IMPORTED):
                        importlib.import_module(info.name)
                        names.append(info.name)
    except ImportError as exc:
        print(f"{process}: cannot import what it needs: {exc}", file=sys.stderr)
        return 1
    print(f"{process}: {len(names)} modules import")
    return 0


def _database_url() -> str:
    """DATABASE_URL as Config reads it; the release step needs no org or Slack settings."""
    import os
    from pathlib import Path

    from sync.config import _check_database_url

    data_dir = Path(os.environ.get("CONNECTOR_DATA_DIR", "").strip() or "./.connector").resolve()
    url = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{data_dir / 'connector.db'}"
    _check_database_url(url)
    return url


def run_migrate() -> int:
    """The release step (Procfile `release:`): run once per deploy, before the processes start."""
    from sync.db import Store, schema_revisions

    try:
        database_url = _database_url()
    except ConfigError as exc:
        _die(exc)
    store = Store(database_url)
    try:
        before, _ = schema_revisions(store.engine)
        store.migrate()
        after, _ = schema_revisions(store.engine)
    finally:
        store.dispose()
    where = store.engine.url.render_as_string(hide_password=True)
    was = ", ".join(sorted(before)) or "no schema"
    print(f"database {where}: schema at {', '.join(sorted(after))} (was {was})")
    return 0


def run_web(argv: list[str]) -> int:
    """gunicorn 'app:create_app()' once the schema is known to be current: a refusal is one
    line and exit 2 here, where gunicorn itself would respawn a failing worker for ever."""
    import os

    from sync.db import Store

    try:
        config = Config.from_env()
        store = Store(config.database_url)
        try:
            store.check_schema()
        finally:
            store.dispose()
    except (ConfigError, SchemaNotCurrent) as exc:
        _die(exc)
    args = argv or ["--bind", f"0.0.0.0:{os.environ.get('PORT', '8000')}", "--workers", "2", "--threads", "4"]
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *args, "app:create_app()"])
    return 0  # not reached


def run_demo(argv: list[str]) -> int:
    """Everything on the embedded default: sandbox org, embedded Redis, SQLite, shell bot."""
    import argparse
    import os
    import signal
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python app.py demo")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--as", dest="as_email", default="admin@sandbox.example")
    args = parser.parse_args(argv)
    data_dir = Path(os.environ.get("CONNECTOR_DATA_DIR", "./.connector")).resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    lock = _demo_lock(data_dir)
    if lock is None:
        return 1

    def stop(_signum, _frame):  # a closed terminal or `kill`: stop the children too (they have their own session)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        return _demo(args, data_dir, logs, lock)
    except KeyboardInterrupt:  # Ctrl-C before the shell is up: the children are stopped below
        print(flush=True)
        return 0
    finally:
        lock.close()


def _demo_lock(data_dir):
    """One demo per data directory: a second `make demo` would start a second worker and
    scheduler on the same store. An flock, so a demo killed with -9 leaves no stale lock:
    the kernel drops it with the last process holding it (the children inherit it)."""
    import fcntl
    import os

    path = data_dir / "demo.lock"
    lock = open(path, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        print(f"a demo is already running on {data_dir} (pid {holder}); use it, or stop it (`exit` in its "
              "shell) before starting another", file=sys.stderr)
        return None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def _demo(args, data_dir, logs, lock) -> int:
    import json
    import os
    import subprocess
    import time

    from sync.redis_server import EmbeddedRedis

    info_path = data_dir / "sandbox" / "sandbox.json"
    info_path.unlink(missing_ok=True)
    env = {**os.environ, "CONNECTOR_DATA_DIR": str(data_dir)}
    env.setdefault("SYNC_POLL_INTERVAL", "30")
    children: list[subprocess.Popen] = []

    def spawn(name: str, cmd: list[str]) -> None:
        out = open(logs / f"{name}.log", "ab")
        # Own session: Ctrl-C in the shell reaches the demo only, which stops the children in
        # order. They inherit the demo lock, so it holds while any of them runs.
        children.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, pass_fds=(lock.fileno(),)))

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
        engine = os.environ.get("DEMO_ENGINE", "builtin")
        if engine == "salesforce":  # issue 10: the sandbox org runs Salesforce's own connector v2
            import requests

            requests.post(info["control_url"] + "/sf-connector", json={"present": True, "period": 30},
                          verify=info["ca_path"], timeout=30).raise_for_status()
        os.environ.update({k: env[k] for k in ("CONNECTOR_DATA_DIR", "REDIS_URL", "SYNC_POLL_INTERVAL")})
        run_migrate()  # the release step, before any process starts (they only check the schema)
        runtime = build_runtime()
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
""" + ("""Engine: Salesforce's own connector (DEMO_ENGINE=salesforce): start with
`create owner #sync-errors --engine salesforce`, then `status`, `pause`, `resume`.
""" if engine == "salesforce" else ""), flush=True)
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
    if command in PROCESS_IMPORTS and "--check" in argv[1:]:
        return check_imports(command)
    if command == "migrate":
        return run_migrate()
    if command == "web":
        return run_web(argv[1:])
    if command == "demo":
        return run_demo(argv[1:])
    if command not in ("worker", "scheduler", "shell", "bot"):
        print(__doc__)
        return 0 if command == "help" else 2
    try:
        runtime = build_runtime()
    except (ConfigError, SchemaNotCurrent) as exc:
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
