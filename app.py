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
import os
import pkgutil
import sys
from pathlib import Path

import click
from flask import Flask

import bot
from sync.config import Config, ConfigError, check_database_url
from sync.db import SchemaNotCurrent, Store, schema_revisions
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
GUNICORN_CONF = Path(__file__).resolve().parent / "gunicorn.conf.py"
# Options a command passes on untouched (gunicorn's for `web`).
_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True}


def build_runtime(config: Config | None = None) -> Runtime:
    config = config or Config.from_env()
    runtime = Runtime(config, migrate=False)  # refuses an old schema: SchemaNotCurrent
    runtime.notifier = bot.make_notifier(runtime)
    return install(runtime)


def create_app(config: Config | None = None, runtime: Runtime | None = None) -> Flask:
    try:
        runtime = runtime or build_runtime(config)
    except (ConfigError, SchemaNotCurrent) as exc:
        # Under gunicorn a worker's exit 2 is respawned for ever; its APP_LOAD_ERROR (4) halts it.
        _die(exc, 4 if "gunicorn.arbiter" in sys.modules else 2)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1 * 1024 * 1024
    app.extensions["connector"] = runtime
    import api  # the web process only: the others need not import jsonschema and the routes
    from api.health import bp as health

    app.register_blueprint(health)
    api.register(app, runtime)
    bot.register(app, runtime)
    return app


def _die(exc: Exception, code: int = 2) -> None:
    """A refusal to start is one line on stderr, no traceback."""
    if isinstance(exc, SchemaNotCurrent):
        print(f"cannot start: {exc}", file=sys.stderr)
    else:
        print(f"configuration error: {exc}", file=sys.stderr)
    raise SystemExit(code)


def _runtime_or_die() -> Runtime:
    try:
        return build_runtime()
    except (ConfigError, SchemaNotCurrent) as exc:
        _die(exc)


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
    data_dir = Path(os.environ.get("CONNECTOR_DATA_DIR", "").strip() or "./.connector").resolve()
    url = os.environ.get("DATABASE_URL", "").strip() or f"sqlite:///{data_dir / 'connector.db'}"
    check_database_url(url)
    return url


def run_migrate() -> int:
    """The release step (Procfile `release:`): run once per deploy, before the processes start."""
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


def _given(args: list[str], short: str, long: str) -> bool:
    """Whether a gunicorn option is among `args`: `-b X`, `-bX`, `--bind X` or `--bind=X`."""
    return any(a == long or a.startswith(long + "=") or (a.startswith(short) and not a.startswith("--"))
               for a in args)


def run_web(argv: list[str]) -> int:
    """gunicorn 'app:create_app()' once the schema is known to be current: a refusal is one
    line and exit 2 here, where gunicorn itself would respawn a failing worker for ever."""
    try:
        config = Config.from_env()
        store = Store(config.database_url)
        try:
            store.check_schema()
        finally:
            store.dispose()
    except (ConfigError, SchemaNotCurrent) as exc:
        _die(exc)
    args = list(argv)
    if not _given(args, "-b", "--bind"):
        args = ["--bind", f"0.0.0.0:{os.environ.get('PORT', '8000')}", *args]
    if not _given(args, "-c", "--config"):  # worker model and GC settings (issue 11), whatever the cwd
        args = ["--config", str(GUNICORN_CONF), *args]
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", *args, "app:create_app()"])
    return 0  # not reached


# ---------------------------------------------------------------------------- the commands
# The names are the Procfile's. A command's return value is its exit status.

class _Commands(click.Group):
    def list_commands(self, ctx):  # in the order of the module docstring, not alphabetical
        return list(self.commands)


@click.group(cls=_Commands, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]},
             help="The connector's processes, by their Procfile names. Processes refuse to start on a database "
                  "that `migrate` has not brought up to date (exit 2); `web|worker|scheduler|bot --check` imports "
                  "what that process imports and exits 0, without reading the configuration or connecting.")
@click.pass_context
def cli(ctx: click.Context) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _check_option(fn):
    return click.option("--check", is_flag=True, help="import what the process imports, connect to nothing")(fn)


@cli.command(help="The release step: bring the database schema up to date.")
def migrate() -> int:
    return run_migrate()


@cli.command(context_settings=_PASS_THROUGH, help="The web process: gunicorn 'app:create_app()' [GUNICORN ARGS].")
@_check_option
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def web(check: bool, gunicorn_args: tuple[str, ...]) -> int:
    return check_imports("web") if check else run_web(list(gunicorn_args))


@cli.command(help="An RQ worker.")
@_check_option
def worker(check: bool) -> int:
    if check:
        return check_imports("worker")
    from sync.worker import run_worker

    return run_worker(_runtime_or_die())


@cli.command(help="Enqueues a cycle every SYNC_POLL_INTERVAL.")
@_check_option
def scheduler(check: bool) -> int:
    if check:
        return check_imports("scheduler")
    from sync.scheduler import Scheduler

    Scheduler(_runtime_or_die()).run()
    return 0


@cli.command(name="bot", help="Slack Socket Mode (when SLACK_APP_TOKEN is set).")
@_check_option
def bot_command(check: bool) -> int:
    if check:
        return check_imports("bot")
    from bot.socket_mode import run_socket_mode

    return run_socket_mode(_runtime_or_die())


@cli.command(help="The chat commands in a terminal.")
@click.option("--as", "as_email", help="act as this email address (default: CONNECTOR_SHELL_AS)")
@click.option("--wait", type=float, help="at the end of input, wait up to this many seconds for queued jobs")
@click.option("--first-cycle-wait", type=float, help="after creating the first connector, wait this long for "
              "its first cycle")
def shell(as_email: str | None, wait: float | None, first_cycle_wait: float | None) -> int:
    from bot.shell import run_shell

    argv = []  # the shell's own parser holds the defaults
    for flag, value in (("--as", as_email), ("--wait", wait), ("--first-cycle-wait", first_cycle_wait)):
        if value is not None:
            argv += [flag, str(value)]
    return run_shell(_runtime_or_die(), argv)


@cli.command(help="migrate, then sandbox, web, worker, scheduler and the shell on the embedded default.")
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", "8000")), show_default="$PORT or 8000")
@click.option("--as", "as_email", default="admin@sandbox.example", show_default=True)
def demo(port: int, as_email: str) -> int:
    from bot.demo import run_demo

    return run_demo(port, as_email, migrate=run_migrate, build_runtime=build_runtime)


@cli.result_callback()
def _exit_status(status: int | None, **_) -> None:
    raise SystemExit(status or 0)


def main(argv: list[str]) -> int:
    return cli.main(args=argv, prog_name="python app.py")


if __name__ == "__main__":
    main(sys.argv[1:])
