"""A tiny stand-in for the Slack Web API, so the bot can run its real code path in the bench:
auth.test, users.info (emails of the bench's Slack users), chat.* and views.* answer ok;
response-URL posts are accepted. It counts calls and nothing else."""
from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

TEAM_ID, BOT_USER_ID = "TBENCH0001", "UBENCHBOT1"


class FakeSlackApi:
    def __init__(self, users: dict[str, str]):
        self.users = dict(users)  # Slack user id → email
        self.calls: Counter = Counter()
        self._lock = threading.Lock()
        self._ts = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-slack", daemon=True)
        self._thread.start()
        port = self.server.server_port
        self.api_url = f"http://127.0.0.1:{port}/api/"
        self.respond_url = f"http://127.0.0.1:{port}/respond/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, args: dict) -> dict:
        with self._lock:
            self.calls[method] += 1
            self._ts += 1
            ts = f"1700000000.{self._ts:06d}"
        if method == "auth.test":
            return {"ok": True, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": "BBENCH0001", "team": "Bench",
                    "user": "pardot", "url": "https://bench.slack.test/"}
        if method == "users.info":
            user = args.get("user")
            if user not in self.users:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": user, "team_id": TEAM_ID, "name": user.lower(),
                                         "profile": {"email": self.users[user]}}}
        if method.startswith(("chat.", "views.")) or method == "respond":
            return {"ok": True, "channel": args.get("channel", "CBENCH0001"), "ts": ts, "message_ts": ts,
                    "view": {"id": f"V{self._ts}"}}
        return {"ok": False, "error": "unknown_method"}


def _handler(fake: FakeSlackApi):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            args = dict(parse_qsl(url.query))
            if raw:
                if "json" in (self.headers.get("Content-Type") or ""):
                    try:
                        args.update(json.loads(raw))
                    except ValueError:
                        pass
                else:
                    args.update(dict(parse_qsl(raw)))
            method = "respond" if url.path.startswith("/respond/") else url.path.removeprefix("/api/")
            data = json.dumps(fake.answer(method, args)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

    return Handler
