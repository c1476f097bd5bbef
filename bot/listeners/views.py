"""Modal submissions: the reason for denying a reactivation request.

The modal is acknowledged (closed) first: the clicker's role needs users.info, which can
outlast Slack's 3 s. A refusal then reaches the clicker as an ephemeral message."""
from __future__ import annotations

import json
import logging

from sync.errors import ServiceError

from .actions import DENY_VIEW
from .commands import unavailable_or_failed

log = logging.getLogger("connector.bot")
DEFAULT_REASON = "denied in Slack without a reason"


def register(app) -> None:
    app.view(DENY_VIEW)(on_deny_submitted)


def on_deny_submitted(ack, body, view, context):
    ack()  # the request's message is updated by bot.notifications when the denial lands
    deps = context["connector"]
    user = body["user"]["id"]
    meta = json.loads(view.get("private_metadata") or "{}")
    value = (((view.get("state") or {}).get("values") or {}).get("reason") or {}).get("reason") or {}
    reason = (value.get("value") or "").strip() or DEFAULT_REASON
    try:
        principal = deps.identity.principal(user)
        deps.service.deny_reactivation(principal, int(meta["request_id"]), reason)
    except ServiceError as exc:  # refused: tell the clicker why
        deps.poster.ephemeral(meta.get("channel"), user, exc.message)
    except Exception as exc:  # noqa: BLE001 - acknowledged already: the clicker still gets an answer
        deps.poster.ephemeral(meta.get("channel"), user, unavailable_or_failed(exc, "the deny modal"))
