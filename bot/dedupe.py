"""Slack retries never run a command twice.

Slack re-sends an event it thinks was not acknowledged (`X-Slack-Retry-Num`), and a
double click or a proxy can repeat a request. Each request gets a key — the event id,
else the trigger id, else a hash of the body — claimed once in Redis with a TTL."""
from __future__ import annotations

import hashlib
import logging

from slack_bolt import BoltResponse

from sync import incidents

log = logging.getLogger("connector.bot")
DEDUPE_TTL = 3600  # Slack retries within minutes; an hour is ample


def request_key(body: dict, raw_body: str) -> str:
    if body.get("event_id"):
        return "event:" + body["event_id"]
    if body.get("trigger_id"):
        return "trigger:" + body["trigger_id"]
    return "body:" + hashlib.sha256(raw_body.encode()).hexdigest()


def dedupe_middleware(redis):
    def dedupe(req, body, next):  # bolt passes arguments by name
        if not isinstance(body, dict) or body.get("type") in ("url_verification", "ssl_check"):
            return next()
        key = request_key(body, req.raw_body or "")
        try:
            first = redis.set(f"slack:seen:{key}", "1", nx=True, ex=DEDUPE_TTL)
        except Exception as exc:  # noqa: BLE001 - Redis down: let the command run and say "unavailable"
            if not incidents.is_outage(exc):
                raise
            log.warning("Slack request %s not deduplicated: Redis is unreachable", key)
            first = True
        if first:
            return next()
        retry = (req.headers.get("x-slack-retry-num") or ["-"])[0]
        log.info("ignoring a repeated Slack request %s (retry %s)", key, retry)
        return BoltResponse(status=200, body="")

    return dedupe
