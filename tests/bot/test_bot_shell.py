"""The shell adapter: the same grammar and service from a terminal (`python app.py shell`)."""
import io
import os
import subprocess
import sys
from pathlib import Path

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
    assert "✗ Sync with CRM for prospect nobody@example.com failed: deleted (NOT_FOUND): " \
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
