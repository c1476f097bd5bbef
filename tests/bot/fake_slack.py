"""A local stand-in for the Slack Web API: a threaded HTTP server that records every call.

It answers the methods the bot uses with Slack's response shapes, keeps the posted
messages (chat.update edits them), receives response-URL posts, and can answer 429 with
Retry-After to exercise rate limiting."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

TEAM_ID, BOT_USER_ID, BOT_ID = "T0FAKE0001", "UBOT000001", "B0FAKE0001"


@dataclass
class Call:
    method: str          # "chat.postMessage", … or "response_url"
    args: dict
    status: int = 200
    ok: bool = True
    path: str = ""
    at: float = field(default_factory=time.monotonic)


class FakeSlack:
    def __init__(self):
        self.users: dict[str, str | None] = {}
        self._lock = threading.Condition()
        self.reset()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-slack", daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/api/"

    def reset(self) -> None:
        with self._lock:
            self.calls: list[Call] = []
            self.messages: dict[tuple[str, str], dict] = {}
            self.channels: dict[str, str] = {}
            self.failures: dict[str, list[tuple[int, int]]] = {}
            self.held: dict[str, threading.Event] = {}
            self._ts = 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def response_url(self, name: str = "cmd") -> str:
        return f"http://127.0.0.1:{self.server.server_port}/respond/{name}"

    def hold(self, method: str) -> threading.Event:
        """Calls of `method` wait (unanswered) until the returned event is set: a slow Slack."""
        with self._lock:
            return self.held.setdefault(method, threading.Event())

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1, times: int = 1) -> None:
        with self._lock:
            self.failures.setdefault(method, []).extend([(status, retry_after)] * times)

    # ------------------------------------------------------------------ reading what happened
    def calls_of(self, method: str, ok_only: bool = True) -> list[dict]:
        with self._lock:
            return [c.args for c in self.calls if c.method == method and (c.ok or not ok_only)]

    def wait_for(self, predicate, timeout: float = 20, what: str = "the expected Slack calls"):
        """Wait until predicate() is truthy; returns its value. Not a timing assertion: the
        bot answers Slack first and posts from background threads."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    summary = [(c.method, c.status, str(c.args.get("text", ""))[:80]) for c in self.calls]
                    raise AssertionError(f"timed out waiting for {what}; calls so far: {summary}")
                self._lock.wait(min(left, 0.5))

    def wait_calls(self, method: str, count: int = 1, **match) -> list[dict]:
        def found():
            hits = [a for a in self.calls_of(method) if all(a.get(k) == v for k, v in match.items())]
            return hits if len(hits) >= count else None
        return self.wait_for(found, what=f"{count} {method} call(s) matching {match}")

    def message(self, channel: str, ts: str) -> dict:
        with self._lock:
            return dict(self.messages[(channel, ts)])

    def channel_id(self, name_or_id: str) -> str:
        if not name_or_id.startswith("#"):
            return name_or_id
        return self.channels.setdefault(name_or_id, f"C{len(self.channels) + 100:08d}")

    # ------------------------------------------------------------------ answering
    def answer(self, method: str, args: dict, path: str) -> tuple[int, dict, dict]:
        with self._lock:
            pending = self.failures.get(method)
            if pending:
                status, retry_after = pending.pop(0)
                self.calls.append(Call(method, args, status, False, path))
                self._lock.notify_all()
                return status, {"Retry-After": str(retry_after)}, {"ok": False, "error": "ratelimited"}
            body = self._ok(method, args)
            self.calls.append(Call(method, args, 200, bool(body.get("ok", True)), path))
            self._lock.notify_all()
            return 200, {}, body

    def _next_ts(self) -> str:
        self._ts += 1
        return f"17000{self._ts:05d}.{self._ts:06d}"

    def _ok(self, method: str, a: dict) -> dict:
        if method == "response_url":
            return {"ok": True}
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "pardot",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID}
        if method == "users.info":
            user = a.get("user")
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
            profile = {"email": self.users[user]} if self.users[user] else {}
            return {"ok": True, "user": {"id": user, "team_id": TEAM_ID, "name": user.lower(), "profile": profile}}
        if method == "chat.postMessage":
            channel = self.channel_id(a.get("channel", ""))
            ts = self._next_ts()
            self.messages[(channel, ts)] = {"text": a.get("text"), "blocks": a.get("blocks"),
                                            "thread_ts": a.get("thread_ts")}
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": a.get("text"), "ts": ts}}
        if method == "chat.update":
            key = (a.get("channel"), a.get("ts"))
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key].update(text=a.get("text"), blocks=a.get("blocks"))
            return {"ok": True, "channel": key[0], "ts": key[1], "text": a.get("text")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._next_ts()}
        if method in ("views.publish", "views.open"):
            return {"ok": True, "view": {"id": f"V{self._next_ts().replace('.', '')}", **(a.get("view") or {})}}
        return {"ok": False, "error": "unknown_method"}


def _handler(fake: FakeSlack):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def _handle(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            args: dict = dict(parse_qsl(url.query))
            if raw:
                if "json" in (self.headers.get("Content-Type") or ""):
                    args.update(json.loads(raw))
                else:
                    args.update(dict(parse_qsl(raw)))
            for key in ("blocks", "view"):  # form-encoded calls carry these as JSON strings
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
            if url.path.startswith("/respond/"):
                method = "response_url"
            elif url.path.startswith("/api/"):
                method = url.path[len("/api/"):]
            else:
                method = "unknown"
            gate = fake.held.get(method)
            if gate is not None:
                gate.wait(120)
            status, headers, body = fake.answer(method, args, url.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

    return Handler
