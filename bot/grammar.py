"""The chat command grammar, shared by `/pardot`, mentions, DMs and the shell.

Pure: text in, a Command or a ParseError out. It checks only shapes (a number, an
email, a keyword); the service checks values, so the transports can never disagree
with the API about what is valid."""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

from sync.names import ERROR_CATEGORIES  # `help errors` lists them as the service checks them


@dataclass(frozen=True)
class Spec:
    name: str
    usage: str
    summary: str


SPECS = (
    Spec("help", "help [COMMAND]", "list the commands, or explain one"),
    Spec("version", "version", "the connector version and the app version"),
    Spec("status", "status", "state, last cycle, backlog, open errors, API usage"),
    Spec("checklist", "checklist", "the pre-reactivation checklist"),
    Spec("errors", "errors [CATEGORY] [open|all]", "the sync error queue, newest first"),
    Spec("error", "error ID", "one sync error in full"),
    Spec("retry", "retry ID|CATEGORY", "retry one sync error, or every open error of a category"),
    Spec("dismiss", "dismiss ID", "dismiss one sync error"),
    Spec("sync", "sync prospect ID|EMAIL", "Sync with CRM: sync one prospect now (works while paused)"),
    Spec("sync status", "sync status ID", "one record's link and sync state (prospect or Salesforce id)"),
    Spec("send", "send lead|contact|account ID", "Send to Pardot: sync one Salesforce record now"),
    Spec("job", "job ID", "the state and outcome of a manual sync or retry"),
    Spec("pause", "pause [REASON]", "pause the connector (admin)"),
    Spec("resume", "resume [NOTE]", "request reactivation; a different admin approves it"),
    Spec("approve", "approve REQUEST_ID", "approve a reactivation request (admin, not the requester)"),
    Spec("deny", "deny REQUEST_ID [REASON]", "deny a reactivation request (admin)"),
    Spec("create", "create [v1|v2] [owner CHANNEL] [--engine builtin|salesforce]",
         "create the connector for this business unit (admin); --engine salesforce operates Salesforce's own "
         "connector v2"),
    Spec("settings", "settings [KEY VALUE]", "show the settings, or change one (admin; the rules of the API's)"),
    Spec("whoami", "whoami", "your role and where it came from"),
)
# `help COMMAND` shows one of these under the usage.
EXAMPLES = {
    "help": "help errors", "version": "version", "status": "status", "checklist": "checklist",
    "errors": "errors validation all", "error": "error 12", "retry": "retry validation",
    "dismiss": "dismiss 12", "sync": "sync prospect ada@example.com", "sync status": "sync status 00Q5g00000AbCdEAAV", "send": "send lead 00Q5g00000AbCdEAAV",
    "job": "job sync-prospect-92cf1a", "pause": "pause bulk import tonight", "resume": "resume checklist reviewed",
    "approve": "approve 3", "deny": "deny 3 the checklist fails", "create": "create v2 owner #sync-errors",
    "settings": "settings error_queue_owner #sync-errors", "whoami": "whoami",
}

SPEC = {s.name: s for s in SPECS}
ALIASES = {"?": "help", "ver": "version", "state": "status", "who": "whoami", "unpause": "resume",
           "reactivate": "resume"}
ERROR_STATUS_WORDS = ("open", "all", "retrying", "resolved", "dismissed")
SEND_OBJECTS = ("lead", "contact", "account")
VERSIONS = {"1": 1, "v1": 1, "2": 2, "v2": 2}

# Slack escapes links, users, channels and emails in message text (<mailto:a@b|a@b>).
_SLACK_LINK = re.compile(r"<(mailto:|tel:|https?://)?([^>|]*)(?:\|([^>]*))?>")
_SLACK_ENTITY = re.compile(r"<([#@!])([A-Z0-9]+)(?:\|([^>]*))?>")


@dataclass(frozen=True)
class Command:
    name: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ParseError:
    """What was wrong, and the usage of the command the user most likely meant."""
    message: str
    spec: Spec | None = None
    suggestion: bool = False  # True when `spec` is a guess for an unknown command word


def unescape(text: str) -> str:
    """Slack markup → the words a person typed; channels and users keep their ids."""
    text = _SLACK_ENTITY.sub(lambda m: m.group(2) if m.group(1) in "#@" else (m.group(3) or m.group(2)), text)
    text = _SLACK_LINK.sub(lambda m: m.group(3) or m.group(2), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _positive_int(token: str) -> int | None:
    token = token.lstrip("#")
    return int(token) if token.isdigit() and int(token) > 0 else None


def closest(word: str) -> Spec | None:
    names = [s.name for s in SPECS] + list(ALIASES)
    match = difflib.get_close_matches(word.lower(), names, n=1, cutoff=0.5)
    return SPEC[ALIASES.get(match[0], match[0])] if match else None


def parse(text: str) -> Command | ParseError:
    text = unescape(text or "").strip()
    if text.lower().startswith("/pardot"):
        text = text[len("/pardot"):].strip()
    if not text:
        return Command("help")
    head, _, rest = text.partition(" ")
    word = ALIASES.get(head.lower(), head.lower())
    spec = SPEC.get(word)
    if spec is None:
        guess = closest(word)
        return ParseError(f"I don't know the command `{head}`.", guess, suggestion=True)
    words = _Words(word, rest.strip(), spec)
    if word in ("version", "status", "checklist", "whoami"):
        return words.bad(f"`{word}` takes no arguments; got `{words.rest}`.") if words.tokens else Command(word)
    if word == "sync" and words.tokens and words.tokens[0].lower() == "status":
        return _parse_sync_status(words)
    parser = _PARSERS.get(word)
    if parser is None:
        raise AssertionError(f"no parser for {word}")  # every SPECS entry has one
    return parser(words)


@dataclass(frozen=True)
class _Words:
    """A command's words after the command word."""
    word: str
    rest: str
    spec: Spec

    @property
    def tokens(self) -> list[str]:
        return self.rest.split()

    def bad(self, problem: str) -> ParseError:
        return ParseError(problem, self.spec)


def _parse_help(w: _Words) -> Command | ParseError:
    tokens = w.tokens
    if not tokens:
        return Command("help")
    topic = ALIASES.get(tokens[0].lower(), tokens[0].lower())
    if topic not in SPEC or len(tokens) > 1:
        return ParseError(f"There is no command `{w.rest}`.", closest(tokens[0]), suggestion=True)
    return Command("help", {"topic": topic})


def _parse_errors(w: _Words) -> Command | ParseError:
    args: dict = {}
    for token in w.tokens:
        key = "status" if token.lower() in ERROR_STATUS_WORDS else "category"
        if key in args:
            return w.bad(f"`errors` takes one category and one of open|all; `{token}` is one too many.")
        args[key] = token.lower()
    return Command("errors", args)


def _parse_one_id(w: _Words) -> Command | ParseError:
    """error ID, dismiss ID, approve REQUEST_ID, job ID."""
    tokens = w.tokens
    if len(tokens) != 1:
        return w.bad(f"`{w.word}` takes exactly one id.")
    if w.word == "job":
        return Command("job", {"job_id": tokens[0]})
    number = _positive_int(tokens[0])
    if number is None:
        return w.bad(f"`{tokens[0]}` is not an id (a positive number).")
    return Command(w.word, {"request_id" if w.word == "approve" else "error_id": number})


def _parse_retry(w: _Words) -> Command | ParseError:
    tokens = w.tokens
    if len(tokens) != 1:
        return w.bad("`retry` takes one error id or one category.")
    number = _positive_int(tokens[0])
    if number is not None:
        return Command("retry", {"error_id": number})
    if not tokens[0].isalpha():
        return w.bad(f"`{tokens[0]}` is neither an error id nor a category.")
    return Command("retry", {"category": tokens[0].lower()})


def _parse_sync_status(w: _Words) -> Command | ParseError:
    tokens = w.tokens
    if len(tokens) != 2:
        return ParseError("`sync status` takes one prospect id or one Salesforce id.", SPEC["sync status"])
    key = "prospect_id" if tokens[1].lstrip("#").isdigit() else "crm_id"
    return Command("sync_status", {key: tokens[1].lstrip("#") if key == "prospect_id" else tokens[1]})


def _parse_sync(w: _Words) -> Command | ParseError:
    tokens = w.tokens
    if tokens and tokens[0].lower() in ("prospect", "prospects"):
        tokens = tokens[1:]
    if len(tokens) != 1:
        return w.bad("`sync` takes one prospect id or one email address.")
    number = _positive_int(tokens[0])
    if number is not None:
        return Command("sync", {"prospect_id": number})
    if "@" in tokens[0]:
        return Command("sync", {"email": tokens[0]})
    return w.bad(f"`{tokens[0]}` is neither a prospect id (a number) nor an email address.")


def _parse_send(w: _Words) -> Command | ParseError:
    tokens = w.tokens
    if len(tokens) != 2 or tokens[0].lower() not in SEND_OBJECTS:
        return w.bad("`send` takes lead, contact or account and a Salesforce id.")
    return Command("send", {"sobject": tokens[0].capitalize(), "crm_id": tokens[1]})


def _parse_note(w: _Words) -> Command:
    """pause [REASON], resume [NOTE]."""
    return Command(w.word, {"reason" if w.word == "pause" else "note": w.rest or None})


def _parse_deny(w: _Words) -> Command | ParseError:
    tokens = w.tokens
    if not tokens:
        return w.bad("`deny` needs the request id.")
    number = _positive_int(tokens[0])
    if number is None:
        return w.bad(f"`{tokens[0]}` is not a request id (a positive number).")
    reason = w.rest[len(tokens[0]):].strip()
    return Command("deny", {"request_id": number, "reason": reason or None})


def _parse_settings(w: _Words) -> Command | ParseError:
    tokens = w.tokens
    if not tokens:
        return Command("settings")
    if len(tokens) < 2:
        return w.bad(f"`settings {tokens[0]}` needs a value: `settings {tokens[0]} VALUE`.")
    return Command("settings", {"key": tokens[0], "value": _setting_value(w.rest[len(tokens[0]):].strip())})


def _parse_create(w: _Words) -> Command | ParseError:
    tokens = w.tokens
    args = {}
    i = 0
    while i < len(tokens):
        token = tokens[i].lower()
        if token in VERSIONS and "version" not in args:
            args["version"] = VERSIONS[token]
        elif token == "owner" and i + 1 < len(tokens) and "owner" not in args:
            args["owner"] = tokens[i + 1]
            i += 1
        elif token.startswith("--engine=") and "engine" not in args:  # R35
            args["engine"] = token.split("=", 1)[1]
        elif token in ("--engine", "engine") and i + 1 < len(tokens) and "engine" not in args:
            args["engine"] = tokens[i + 1].lower()
            i += 1
        else:
            return w.bad(f"I don't understand `{tokens[i]}` here.")
        i += 1
    return Command("create", args)


_PARSERS = {
    "help": _parse_help, "errors": _parse_errors, "error": _parse_one_id, "dismiss": _parse_one_id,
    "approve": _parse_one_id, "job": _parse_one_id, "retry": _parse_retry, "sync": _parse_sync,
    "send": _parse_send, "pause": _parse_note, "resume": _parse_note, "deny": _parse_deny,
    "settings": _parse_settings, "create": _parse_create,
}


def _setting_value(text: str):
    """VALUE as JSON when it is JSON (true, 0.4, null, {"a@b.c": "admin"}), else the text
    (#sync-errors); the service judges it, as it does for PATCH /api/v1/settings."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def help_text(topic: str | None = None) -> str:
    if topic:
        spec = SPEC[topic]
        lines = [f"`{spec.usage}` - {spec.summary}", f"Example: `{EXAMPLES[topic]}`"]
        if topic in ("errors", "retry"):
            lines.append(f"Categories: {', '.join(ERROR_CATEGORIES)}; statuses: {', '.join(ERROR_STATUS_WORDS)}."
                         if topic == "errors" else f"Categories: {', '.join(ERROR_CATEGORIES)}.")
        if topic == "settings":
            lines.append("`settings` lists the keys and their values; VALUE is JSON (true, 0.4, null) or text.")
        return "\n".join(lines)
    width = max(len(s.usage) for s in SPECS)
    lines = [f"  {s.usage.ljust(width)}  {s.summary}" for s in SPECS]
    return "Commands (`/pardot COMMAND`, a mention, a DM or the shell):\n" + "\n".join(lines)
