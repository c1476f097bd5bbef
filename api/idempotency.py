"""`Idempotency-Key` on POSTs: a repeat gets the first response back (24 h, per token).

A key first reserves a short-lived "in progress" slot (SET NX), so two concurrent repeats
cannot both run the work; the finished response then replaces it. A repeat with a different
request under the same key is refused with 422. 5xx answers are not kept, so a retry after
a crash runs again."""
from __future__ import annotations

import hashlib
import json
import re

from flask import Response, request

from .errors import ApiError

TTL = 24 * 3600
IN_PROGRESS_TTL = 120
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
KEPT_HEADERS = ("Location",)


class Idempotency:
    def __init__(self, redis, prefix: str = "idem"):
        self.redis, self.prefix = redis, prefix

    def _slot(self, owner: str, key: str) -> str:
        return f"{self.prefix}:{hashlib.sha256(f'{owner}|{key}'.encode()).hexdigest()}"

    @staticmethod
    def fingerprint() -> str:
        h = hashlib.sha256()
        for part in (request.method, request.path, request.query_string, request.get_data(cache=True)):
            h.update(part if isinstance(part, bytes) else part.encode())
            h.update(b"\0")
        return h.hexdigest()

    def begin(self, owner: str, key: str) -> tuple[str, Response | None]:
        """Reserve the key; returns (slot, None) to go on, or (slot, the stored response)."""
        if not KEY_RE.match(key):
            raise ApiError(400, "invalid", "the Idempotency-Key header is invalid",
                           {"Idempotency-Key": "must be 1-255 visible ASCII characters"})
        slot, fp = self._slot(owner, key), self.fingerprint()
        if self.redis.set(slot, json.dumps({"fp": fp, "state": "running"}), nx=True, ex=IN_PROGRESS_TTL):
            return slot, None
        raw = self.redis.get(slot)
        if raw is None:  # expired between the two calls: take it now
            return self.begin(owner, key)
        stored = json.loads(raw)
        if stored["fp"] != fp:
            raise ApiError(422, "idempotency_key_reused",
                           "this Idempotency-Key was already used with a different request; use a new key",
                           {"Idempotency-Key": "already used for another request"})
        if stored["state"] == "running":
            raise ApiError(409, "idempotency_in_progress",
                           "a request with this Idempotency-Key is still running; retry shortly",
                           headers={"Retry-After": "1"})
        response = Response(stored["body"], status=stored["status"], mimetype="application/json")
        for name, value in stored["headers"].items():
            response.headers[name] = value
        response.headers["Idempotent-Replayed"] = "true"
        return slot, response

    def finish(self, slot: str, response: Response) -> None:
        if response.status_code >= 500:
            self.redis.delete(slot)
            return
        headers = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
        self.redis.set(slot, json.dumps({"fp": self.fingerprint(), "state": "done", "status": response.status_code,
                                         "headers": headers, "body": response.get_data(as_text=True)}), ex=TTL)

    def abandon(self, slot: str) -> None:
        """The request ended without a response to keep (teardown after a crash)."""
        raw = self.redis.get(slot)
        if raw is not None and json.loads(raw).get("state") == "running":
            self.redis.delete(slot)
