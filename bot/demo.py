"""`python app.py demo`: everything on the embedded default (sandbox org, embedded Redis,
SQLite, the shell bot). app.py passes in the release step and the runtime builder, so this
module imports nothing from the composition root."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from sync.redis_server import EmbeddedRedis

SANDBOX_START_TIMEOUT = 60.0
BANNER = """
pardot-connector demo is running
  REST API         http://127.0.0.1:{port}/api/v1   (OpenAPI: /api/v1/openapi.json, health: /readyz)
  Slack events     http://127.0.0.1:{port}/slack/events   (off until SLACK_* is set)
  sandbox org      {base_url}   (control API: {control_url})
  database         {database_url}
  redis            {redis_url}
  logs             {logs}/(sandbox|web|worker|scheduler).log
  API token        FLASK_APP=app:create_app .venv/bin/flask tokens create --name me --role admin

Type `help`. Start with `create owner #sync-errors` (the connector starts paused, R1),
then `checklist`, `resume`, and approve as a different admin: `/as admin2@sandbox.example`,
`approve ID`. Records then flow both ways every cycle. `exit` stops everything.
"""
SALESFORCE_ENGINE_BANNER = """Engine: Salesforce's own connector (DEMO_ENGINE=salesforce): start with
`create owner #sync-errors --engine salesforce`, then `status`, `pause`, `resume`.
"""


def run_demo(port: int, as_email: str, migrate: Callable[[], int], build_runtime: Callable) -> int:
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
    demo = Demo(data_dir, logs, lock)
    try:
        return demo.run(port, as_email, migrate, build_runtime)
    except KeyboardInterrupt:  # Ctrl-C before the shell is up: the children are stopped below
        print(flush=True)
        return 0
    finally:
        demo.stop()
        lock.close()


def _demo_lock(data_dir: Path):
    """One demo per data directory: a second `make demo` would start a second worker and
    scheduler on the same store. An flock, so a demo killed with -9 leaves no stale lock:
    the kernel drops it with the last process holding it (the children inherit it)."""
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


class Demo:
    """The demo's child processes and embedded Redis, stopped in reverse order by stop()."""

    def __init__(self, data_dir: Path, logs: Path, lock):
        self.logs, self.lock = logs, lock
        self.info_path = data_dir / "sandbox" / "sandbox.json"
        self.env = {**os.environ, "CONNECTOR_DATA_DIR": str(data_dir)}
        self.env.setdefault("SYNC_POLL_INTERVAL", "30")
        self.children: list[subprocess.Popen] = []
        self.redis_server = EmbeddedRedis(data_dir)

    def spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.logs / f"{name}.log", "ab")
        # Own session: Ctrl-C in the shell reaches the demo only, which stops the children in
        # order. They inherit the demo lock, so it holds while any of them runs.
        self.children.append(subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True, pass_fds=(self.lock.fileno(),)))

    def run(self, port: int, as_email: str, migrate: Callable[[], int], build_runtime: Callable) -> int:
        self.info_path.unlink(missing_ok=True)
        self.env.setdefault("REDIS_URL", self.redis_server.ensure_running())
        info = self.start_sandbox()
        if info is None:
            return 1
        engine = os.environ.get("DEMO_ENGINE", "builtin")
        if engine == "salesforce":  # issue 10: the sandbox org runs Salesforce's own connector v2
            import requests

            requests.post(info["control_url"] + "/sf-connector", json={"present": True, "period": 30},
                          verify=info["ca_path"], timeout=30).raise_for_status()
        os.environ.update({k: self.env[k] for k in ("CONNECTOR_DATA_DIR", "REDIS_URL", "SYNC_POLL_INTERVAL")})
        migrate()  # the release step, before any process starts (they only check the schema)
        runtime = build_runtime()
        self.spawn("web", [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                           "--threads", "4", "app:create_app()"])
        self.spawn("worker", [sys.executable, "app.py", "worker"])
        self.spawn("scheduler", [sys.executable, "app.py", "scheduler"])
        banner = BANNER.format(port=port, base_url=info["base_url"], control_url=info["control_url"],
                               database_url=runtime.config.database_url, redis_url=self.env["REDIS_URL"],
                               logs=self.logs)
        print(banner + (SALESFORCE_ENGINE_BANNER if engine == "salesforce" else ""), flush=True)
        from .shell import run_shell

        return run_shell(runtime, ["--as", as_email])

    def start_sandbox(self) -> dict | None:
        """The sandbox org in its own process; its connection details once it writes them."""
        self.spawn("sandbox", [sys.executable, "-m", "sandbox", "--data-dir", str(self.info_path.parent),
                               "--seed", "1"])
        deadline = time.monotonic() + SANDBOX_START_TIMEOUT
        while not self.info_path.exists():
            if time.monotonic() > deadline or self.children[0].poll() is not None:
                print(f"the sandbox did not start; see {self.logs / 'sandbox.log'}", file=sys.stderr)
                return None
            time.sleep(0.2)
        return json.loads(self.info_path.read_text())

    def stop(self) -> None:
        for child in reversed(self.children):
            child.terminate()
        for child in self.children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        self.redis_server.stop()
