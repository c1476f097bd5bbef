"""`python app.py shell [--as EMAIL]`: the chat commands in a terminal, against the same service.

Reads stdin line by line, so it works typed or piped; `/as EMAIL` switches identity,
`exit`, end of input or Ctrl-C quits. Roles come from service.resolve_role(email, "cli") (R33).
A background thread watches the jobs a command queued and prints each outcome as it ends,
above the prompt (issue 9 item 13)."""
from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import sys
import threading
import time
from typing import Iterable, Iterator, TextIO

from sync import incidents
from sync.errors import NotFound, ServiceError
from sync.roles import Principal

from . import render
from .dispatch import Dispatcher
from .grammar import Command, parse

PROMPT = "pardot> "
FIRST_CYCLE_WAIT = 30.0
WATCH_INTERVAL = 0.5  # how often the watcher asks whether a queued job has ended
FOLLOW_UP = "I print its outcome once it ends (or ask: `job ID`)."
_EMOJI = {":white_check_mark:": "✓", ":x:": "✗", ":warning:": "!", ":no_entry:": "✗",
          ":hourglass:": "…", ":rotating_light:": "!", ":red_circle:": "✗", ":large_green_circle:": "✓"}
_EMOJI_RE = re.compile(r":[a-z_]+:")
_BOLD_RE = re.compile(r"\*([^*\n]+)\*")


def terminal_text(text: str) -> str:
    """Slack mrkdwn → plain terminal text."""
    text = _EMOJI_RE.sub(lambda m: _EMOJI.get(m.group(0), ""), text)
    return _BOLD_RE.sub(r"\1", text).replace("```", "")


def _lines(stdin: Iterable[str], shell: Shell) -> Iterator[str]:
    if not shell.interactive:
        yield from stdin
        return
    while True:
        shell.prompt()
        line = stdin.readline()
        shell.at_prompt = False
        if not line:
            shell.say("")
            return
        yield line


def server_operator() -> Principal:
    """Who creates the first connector from the shell: before one exists no Pardot user is
    known, so nobody has a role yet (R33). Whoever runs the shell on the server holds the
    database credentials already (the same rule as `flask connector`)."""
    return Principal(f"cli:{getpass.getuser()}", "admin", "cli", "server operator creating the first connector")


class Shell:
    def __init__(self, runtime, stdout: TextIO, first_cycle_wait: float, interactive: bool = False):
        self.service = runtime.service()
        self.dispatcher = Dispatcher(self.service)
        self.stdout = stdout
        self.first_cycle_wait = first_cycle_wait
        self.interactive = interactive
        self.email: str | None = None
        self.pending: dict[str, dict] = {}
        self.at_prompt = False  # the prompt is on screen, waiting for a line
        self._lock = threading.RLock()  # one writer at a time; guards `pending`
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def say(self, text: str) -> None:
        with self._lock:
            print(terminal_text(text), file=self.stdout, flush=True)

    def prompt(self) -> None:
        with self._lock:
            self.stdout.write(PROMPT)
            self.stdout.flush()
            self.at_prompt = True

    def announce(self, text: str) -> None:
        """An outcome that arrives while the person may be typing: printed above the prompt,
        which is drawn again below it."""
        with self._lock:
            if self.at_prompt and self.interactive:
                self.stdout.write("\r\x1b[K")  # back to the line start, erase the bare prompt
                self.say(text)
                self.stdout.write(PROMPT)
                self.stdout.flush()
            else:
                self.say(text)

    def start_watching(self) -> None:
        self._watcher = threading.Thread(target=self._watch, name="shell-jobs", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(5)

    def _watch(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL):
            try:
                self.report_finished()
            except Exception:
                logging.getLogger("connector.bot").warning("shell: could not read job outcomes", exc_info=True)

    @property
    def principal(self) -> Principal:
        # Resolved per command, so a changed Pardot role or override applies without a restart.
        if not self._connector_exists():
            # Not asked of the service: its role cache would keep this "viewer" past the first cycle.
            return Principal((self.email or "unknown").strip().lower(), "viewer", "cli",
                             "no connector yet, so no Pardot users are known")
        return self.service.resolve_role(self.email, "cli")

    def become(self, email: str | None) -> None:
        self.email = email
        p = self.principal
        self.say(f"Acting as {p.who}: role {p.role} ({p.role_source}).")

    def report_finished(self) -> None:
        with self._lock:
            waiting = list(self.pending)
        for job_id in waiting:
            try:
                job = self.service.get_job(self.principal, job_id)
            except ServiceError as exc:
                text = f"job {job_id}: {exc.message}"
            else:
                if job["state"] in ("queued", "started"):
                    continue
                text = self.dispatcher.execute(self.principal, Command("job", {"job_id": job_id})).text
            with self._lock:
                if self.pending.pop(job_id, None) is not None:  # told once, by whichever thread got here first
                    self.announce(text)

    def command(self, line: str) -> None:
        parsed = parse(line)
        if isinstance(parsed, Command) and parsed.name == "create" and not self._connector_exists():
            self._create_first(parsed)
            return
        reply = self.dispatcher.run(self.principal, line, notify={"transport": "cli"}, follow_up=FOLLOW_UP)
        with self._lock:
            self.say(reply.text)
            if reply.job and reply.job["state"] in ("queued", "started"):
                self.pending[reply.job["id"]] = reply.job

    def _connector_exists(self) -> bool:
        try:
            self.service.connector_id()
            return True
        except NotFound:
            return False

    def _create_first(self, cmd: Command) -> None:
        operator = server_operator()
        self.say(f"No connector exists yet, so nobody has a role: creating it as the server operator {operator.who}.")
        reply = self.dispatcher.execute(operator, cmd)
        self.say(reply.text)
        if not reply.ok:
            return
        # People's roles come from the Pardot users the first cycle reads (R4, R33).
        self.say("Waiting for the first cycle to verify the credentials and read the Pardot users…")
        deadline = time.monotonic() + self.first_cycle_wait
        while time.monotonic() < deadline:
            last = self.service.status(operator).get("last_cycle")
            if last and last.get("finished_at"):
                self.service.forget_roles()  # roles looked up before the users were known
                self.say(f"First cycle: {render.cycle_line(last)}.")
                self.become(self.email)
                return
            time.sleep(0.25)
        self.say("No worker has run the first cycle yet (is `python app.py worker` running?); "
                 "roles apply once it has.")

    def finish(self, wait: float) -> None:
        deadline = time.monotonic() + max(0.0, wait)
        self.report_finished()
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.2)
            self.report_finished()
        with self._lock:
            for job_id in self.pending:
                self.say(f"job {job_id} has not ended yet; `job {job_id}` shows its outcome later.")


def run_shell(runtime, argv: list[str], stdin: Iterable[str] | None = None, stdout: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py shell", description="chat commands in a terminal")
    parser.add_argument("--as", dest="as_email", default=os.environ.get("CONNECTOR_SHELL_AS"),
                        help="act as this email address (its role comes from the Pardot user or the override list)")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="at the end of input, wait up to this many seconds for queued jobs to end")
    parser.add_argument("--first-cycle-wait", type=float, default=FIRST_CYCLE_WAIT,
                        help="after creating the first connector, wait this long for its first cycle")
    args = parser.parse_args(argv)
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    interactive = bool(getattr(stdin, "isatty", lambda: False)())
    # The shell prints outcomes itself; the event log would interleave with them.
    events_log = logging.getLogger("connector.events")
    previous_level = events_log.level
    events_log.setLevel(logging.WARNING)
    shell = Shell(runtime, stdout, args.first_cycle_wait, interactive)
    try:
        try:
            shell.become(args.as_email)
        except Exception as exc:  # Redis or the database down at start: the commands will say so too
            if not incidents.is_outage(exc):
                raise
            shell.email = args.as_email
            shell.say(incidents.UNAVAILABLE)
        shell.say("Type `help` for the commands, `/as EMAIL` to switch identity, `exit` or Ctrl-C to quit.")
        shell.start_watching()
        for raw in _lines(stdin, shell):
            line = raw.strip()
            try:
                shell.report_finished()
                if not line or line.startswith("#"):
                    continue
                if line.lower() in ("exit", "quit", "/exit", "/quit"):
                    break
                if line.split()[0].lower() == "/as":
                    if not line[3:].strip():
                        shell.say("Usage: `/as EMAIL`")
                    else:
                        shell.become(line[3:].strip())
                    continue
                shell.command(line)
            except Exception as exc:  # Redis or the database down: say so and keep the shell
                if not incidents.is_outage(exc):
                    raise
                shell.say(incidents.UNAVAILABLE)
        shell.finish(args.wait)
    except KeyboardInterrupt:  # Ctrl-C leaves like `exit`, without a traceback
        shell.at_prompt = False
        shell.say("")
    finally:
        shell.stop_watching()
        events_log.setLevel(previous_level)
    return 0
