"""Slack user → email → role (R33).

users.info gives the email (scope users:read.email); the role itself comes from
service.resolve_role, which applies the override list and the Pardot user role and
caches its answer. The email lookup is cached here so a command costs no Slack call."""
from __future__ import annotations

import logging
from dataclasses import replace

from slack_sdk.errors import SlackApiError

from sync.roles import Principal

log = logging.getLogger("connector.bot")
EMAIL_TTL = 3600
MISS_TTL = 60  # an unknown or failing lookup is retried soon


class SlackIdentity:
    def __init__(self, client, redis, service):
        self.client = client
        self.redis = redis
        self.service = service

    def email(self, user_id: str) -> str | None:
        key = f"slack:email:{user_id}"
        cached = self.redis.get(key)
        if cached is not None:
            return cached.decode() or None
        try:
            profile = self.client.users_info(user=user_id)["user"].get("profile") or {}
            email = (profile.get("email") or "").strip().lower()
        except SlackApiError as exc:
            log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
            self.redis.set(key, "", ex=MISS_TTL)
            return None
        self.redis.set(key, email, ex=EMAIL_TTL if email else MISS_TTL)
        return email or None

    def principal(self, user_id: str, read_pardot: bool = False) -> Principal:
        """read_pardot: `create` before any connector exists (service.resolve_role); only ever
        called after Slack was acknowledged."""
        email = self.email(user_id)
        principal = self.service.resolve_role(email, "slack", read_pardot=read_pardot)
        if not email:  # still name the person in the audit log
            principal = replace(principal, who=f"slack:{user_id}",
                                role_source=f"{principal.role_source} (no email in the Slack profile)")
        return principal
