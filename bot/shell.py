"""`python app.py shell [--as EMAIL]`: the chat commands in a terminal, against the same service.

Reads stdin line by line, so it works typed or piped; `/as EMAIL` switches identity,
`exit` or end of input quits. Roles come from service.resolve_role(email, "cli") (R33)."""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Iterable, Iterator, TextIO

from sync.errors import ServiceError

from .dispatch import Dispatcher
from .grammar import Command

PROMPT = "pardot> "
FOLLOW_UP = "I print its outcome once it ends (or ask: `job ID`)."
_EMOJI = {":white_check_mark:": "✓", ":x:": "✗", ":warning:": "!", ":no_entry:": "✗",
          ":hourglass:": "…", ":rotating_light:": "!", ":red_circle:": "✗", ":large_green_circle:": "✓"}
_EMOJI_RE = re.compile(r":[a-z_]+:")
_BOLD_RE = re.compile(r"\*([^*\n]+)\*")


def terminal_text(text: str) -> str:
    """Slack mrkdwn → plain terminal text."""
    text = _EMOJI_RE.sub(lambda m: _EMOJI.get(m.group(0), ""), text)
    return _BOLD_RE.sub(r"\1", text).replace("```", "")


def _lines(stdin: Iterable[str], stdout: TextIO, interactive: bool) -> Iterator[str]:
    if not interactive:
        yield from stdin
        return
    while True:
        stdout.write(PROMPT)
        stdout.flush()
        line = stdin.readline()
        if not line:
            stdout.write("\n")
            return
        yield line


def run_shell(runtime, argv: list[str], stdin: Iterable[str] | None = None, stdout: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py shell", description="chat commands in a terminal")
    parser.add_argument("--as", dest="as_email", default=os.environ.get("CONNECTOR_SHELL_AS"),
                        help="act as this email address (its role comes from the Pardot user or the override list)")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="at the end of input, wait up to this many seconds for queued jobs to end")
    args = parser.parse_args(argv)
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    interactive = bool(getattr(stdin, "isatty", lambda: False)())
    service = runtime.service()
    dispatcher = Dispatcher(service)
    pending: dict[str, dict] = {}

    def say(text: str) -> None:
        print(terminal_text(text), file=stdout, flush=True)

    def become(email: str | None):
        principal = service.resolve_role(email, "cli")
        say(f"Acting as {principal.who}: role {principal.role} ({principal.role_source}).")
        return principal

    def report_finished() -> None:
        for job_id in list(pending):
            try:
                job = service.get_job(principal, job_id)
            except ServiceError as exc:
                say(f"job {job_id}: {exc.message}")
                pending.pop(job_id)
                continue
            if job["state"] not in ("queued", "started"):
                pending.pop(job_id)
                say(dispatcher.execute(principal, Command("job", {"job_id": job_id})).text)

    principal = become(args.as_email)
    say("Type `help` for the commands, `/as EMAIL` to switch identity, `exit` to quit.")
    for raw in _lines(stdin, stdout, interactive):
        report_finished()
        line = raw.strip()
        if not line or line.startswith("#!"):
            continue
        if line.lower() in ("exit", "quit", "/exit", "/quit"):
            break
        if line.split()[0].lower() == "/as":
            email = line[3:].strip()
            if not email:
                say("Usage: `/as EMAIL`")
                continue
            principal = become(email)
            continue
        reply = dispatcher.run(principal, line, notify={"transport": "cli"}, follow_up=FOLLOW_UP)
        say(reply.text)
        if reply.job and reply.job["state"] in ("queued", "started"):
            pending[reply.job["id"]] = reply.job
    deadline = time.monotonic() + max(0.0, args.wait)
    report_finished()
    while pending and time.monotonic() < deadline:
        time.sleep(0.2)
        report_finished()
    for job_id in pending:
        say(f"job {job_id} has not ended yet; `job {job_id}` shows its outcome later.")
    return 0

