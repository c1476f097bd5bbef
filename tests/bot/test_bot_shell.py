"""The shell adapter: the same grammar and service from a terminal (`python app.py shell`)."""
import io
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from select import select as wait_readable

from sqlalchemy import select

from bot.shell import run_shell
from sync.models import AuditEntry, UserMatch

ROOT = Path(__file__).resolve().parents[2]


def seed_roles(rt, cid):
    with rt.store.session() as s:
        for email, role in {"admin@sandbox.example": "Administrator", "admin2@sandbox.example": "Administrator",
                            "marketing@sandbox.example": "Marketing", "sales@sandbox.example": "Sales"}.items():
            s.add(UserMatch(connector_id=cid, email=email, pardot_role=role))


def test_shell_session_with_identity_switch_refusal_and_job_outcome(runtime, service, admin, sandbox, run_worker):
    service.create_connector(admin, error_queue_owner="#sync-errors")
    seed_roles(runtime, service.connector_id())
    run_worker()  # the first cycle: credentials verified, describe read (the checklist can pass)

    def lines():
        yield "whoami\n"
        yield "pause now\n"            # refused: sales is a viewer
        yield "stauts\n"               # a typo gets the closest usage
        yield "/as marketing@sandbox.example\n"
        yield "sync prospect nobody@example.com\n"
        run_worker()                   # the job ends between two commands
        yield "resume checklist is green\n"
        yield "/as admin2@sandbox.example\n"
        yield "approve 1\n"
        yield "status\n"
        yield "exit\n"
        yield "never read\n"

    out = io.StringIO()
    assert run_shell(runtime, ["--as", "sales@sandbox.example"], stdin=lines(), stdout=out) == 0
    text = out.getvalue()
    assert "Acting as sales@sandbox.example: role viewer (Pardot user role Sales)." in text
    assert "Refused: 'pause' needs the admin role; you are viewer (your role comes from: Pardot user role Sales)." in text
    assert "Did you mean `status`?" in text
    assert "Acting as marketing@sandbox.example: role operator" in text
    assert "Sync with CRM for prospect nobody@example.com is queued as job `sync-prospect-" in text
    assert "✗ Sync with CRM for prospect nobody@example.com failed: not found: " \
           "Pardot has no prospect with email nobody@example.com" in text
    assert "Reactivation request #1 by marketing@sandbox.example (via cli): checklist is green" in text
    assert "✓ Approved by admin2@sandbox.example at" in text
    assert "State: ACTIVE" in text and "never read" not in text and "*" not in text
    with runtime.store.session() as s:
        refusal = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused")).one()
        assert (refusal.actor, refusal.channel, refusal.action) == ("sales@sandbox.example", "cli", "pause")


def test_shell_without_identity_is_a_viewer_and_ends_at_eof(runtime, service, admin):
    service.create_connector(admin)
    out = io.StringIO()
    assert run_shell(runtime, [], stdin=io.StringIO("whoami\n/as\nversion\n"), stdout=out) == 0
    assert "You are unknown, role viewer (no email known: viewer), via cli." in out.getvalue()
    assert "Usage: `/as EMAIL`" in out.getvalue()
    assert "Connector version 2 for business unit" in out.getvalue()


def test_the_demo_flow_through_python_app_py_shell_and_a_worker(runtime, sandbox, control, database_url, redis_url,
                                                              tmp_path):
    """`create` bootstraps the first connector; its first cycle (a real worker process)
    reads the Pardot users, so the roles apply; then resume and a second admin approves."""
    control.post("seed", json={"seed": 1, **{k: 0 for k in ("leads", "contacts", "person_accounts", "prospects",
                                                             "users", "campaigns")}})  # the five fixed people
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SALESFORCE_", "PARDOT_"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, CONNECTOR_DATA_DIR=str(runtime.config.data_dir),
               SANDBOX_INFO=os.path.join(sandbox.data_dir, "sandbox.json"))
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen([sys.executable, "app.py", "worker"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            done = subprocess.run(
                [sys.executable, "app.py", "shell", "--as", "admin@sandbox.example"], cwd=ROOT, env=env,
                input="version\ncreate owner #sync-errors\nwhoami\nresume checklist reviewed\napprove 1\n"
                      "/as admin2@sandbox.example\napprove 1\nstatus\nsend opportunity 006000000000001AAA\n",
                text=True, capture_output=True, timeout=120)
        finally:
            worker.terminate()
            worker.wait(30)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Acting as admin@sandbox.example: role viewer (no connector yet, so no Pardot users are known)." in out
    assert "no connector exists for business unit" in out  # `version` before `create`
    assert "creating it as the server operator cli:" in out and "Connector v2 created for business unit" in out
    assert "First cycle: #1 ok" in out
    assert "You are admin@sandbox.example, role admin (Pardot user role Administrator), via cli." in out
    assert "Reactivation request #1 by admin@sandbox.example (via cli): checklist reviewed is pending" in out
    assert "you filed this request; a different admin must decide it (R31)" in out
    assert "✓ Approved by admin2@sandbox.example at" in out and "State: ACTIVE" in out
    assert "Usage: `send lead|contact|account ID`" in out


# ---------------------------------------------------------------------- a terminal (issue 9 item 13)
class Terminal:
    """A process on a pseudo-terminal, as a person at a keyboard runs it (the shell sees a tty)."""

    def __init__(self, args: list[str], env: dict):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.seen = ""

    def read_until(self, pattern: str, timeout: float = 90) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.seen)
            if match:
                return match
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in:\n{self.seen[-3000:]}"
            ready, _, _ = wait_readable([self.master], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the process ended and closed the terminal
                    chunk = b""
                if not chunk:
                    assert re.search(pattern, self.seen), f"ended without {pattern!r}:\n{self.seen[-3000:]}"
                self.seen += chunk.decode(errors="replace")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = wait_readable([self.master], [], [], 0.5)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:
                    break
        code = self.proc.wait(max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code

    def kill(self) -> None:
        """After a failed assertion: SIGTERM first, so a demo stops its children."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)


def _process_env(runtime, sandbox, database_url, redis_url) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SALESFORCE_", "PARDOT_"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, CONNECTOR_DATA_DIR=str(runtime.config.data_dir),
               SANDBOX_INFO=os.path.join(sandbox.data_dir, "sandbox.json"))
    return env


def test_the_shell_prints_a_job_outcome_when_it_ends_not_at_the_next_enter(runtime, service, admin, sandbox,
                                                                          database_url, redis_url, tmp_path):
    """Before: the outcome waited for the next line typed; a person who typed nothing saw nothing."""
    service.create_connector(admin)
    seed_roles(runtime, service.connector_id())
    env = _process_env(runtime, sandbox, database_url, redis_url)
    shell = Terminal([sys.executable, "app.py", "shell", "--as", "admin@sandbox.example"], env)
    worker = None
    try:
        shell.read_until(r"pardot> $")
        shell.type("sync prospect nobody@example.com\n")
        shell.read_until(r"is queued as job `sync-prospect-[^`]+`.*\n.*pardot> $")
        # Only now does a worker run the job; nothing more is typed.
        with open(tmp_path / "worker.log", "wb") as log:
            worker = subprocess.Popen([sys.executable, "app.py", "worker"], cwd=ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
        shell.read_until(r"✗ Sync with CRM for prospect nobody@example\.com failed: [^\n]*\n[^\n]*pardot> $")
        shell.type("exit\n")
        assert shell.finish() == 0
    finally:
        shell.kill()
        if worker is not None:
            worker.terminate()
            worker.wait(30)
    assert "Traceback" not in shell.seen


def test_ctrl_c_leaves_the_shell_without_a_traceback(runtime, service, admin, sandbox, database_url, redis_url):
    """Before: KeyboardInterrupt's traceback, exit code 1."""
    service.create_connector(admin)
    shell = Terminal([sys.executable, "app.py", "shell"], _process_env(runtime, sandbox, database_url, redis_url))
    try:
        shell.read_until(r"pardot> $")
        shell.type("vers")  # half a command typed, then Ctrl-C
        shell.proc.send_signal(signal.SIGINT)
        assert shell.finish() == 0
    finally:
        shell.kill()
    assert "Traceback" not in shell.seen and "KeyboardInterrupt" not in shell.seen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_second_demo_on_the_same_data_dir_says_so_and_starts_nothing(tmp_path):
    """Before: the second demo started a second sandbox, worker and scheduler on the same store.
    After the first ends (Ctrl-C), its lock file is left behind but no longer held: a demo starts."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "SALESFORCE_", "PARDOT_")) and k not in ("DATABASE_URL", "REDIS_URL",
                                                                                "SANDBOX_INFO")}
    env.update(CONNECTOR_DATA_DIR=str(tmp_path / "data"))
    first = Terminal([sys.executable, "app.py", "demo", "--port", str(_free_port())], env)
    try:
        first.read_until(r"pardot-connector demo is running[\s\S]*pardot> $", timeout=180)
        second = subprocess.run([sys.executable, "app.py", "demo", "--port", str(_free_port())], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)
        assert second.returncode == 1
        assert second.stderr.strip() == (f"a demo is already running on {tmp_path / 'data'} (pid {first.proc.pid}); "
                                         "use it, or stop it (`exit` in its shell) before starting another")
        assert "demo is running" not in second.stdout
        first.type("version\n")  # the first demo is unharmed
        first.read_until(r"no connector exists for business unit")
        first.proc.send_signal(signal.SIGINT)
        assert first.finish(timeout=90) == 0
    finally:
        first.kill()
    assert "Traceback" not in first.seen
    assert (tmp_path / "data" / "demo.lock").read_text().strip() == str(first.proc.pid)  # left behind, stale
    third = Terminal([sys.executable, "app.py", "demo", "--port", str(_free_port())], env)
    try:
        third.read_until(r"pardot-connector demo is running[\s\S]*pardot> $", timeout=180)
        third.type("exit\n")
        assert third.finish(timeout=90) == 0
    finally:
        third.kill()
