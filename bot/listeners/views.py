"""Modal submissions: the reason for denying a reactivation request."""
from __future__ import annotations

import json

from sync.errors import ServiceError

from .actions import DENY_VIEW

DEFAULT_REASON = "denied in Slack without a reason"


def register(app) -> None:
    app.view(DENY_VIEW)(on_deny_submitted)


def on_deny_submitted(ack, body, view, context):
    deps = context["connector"]
    meta = json.loads(view.get("private_metadata") or "{}")
    value = (((view.get("state") or {}).get("values") or {}).get("reason") or {}).get("reason") or {}
    reason = (value.get("value") or "").strip() or DEFAULT_REASON
    principal = deps.identity.principal(body["user"]["id"])
    try:
        deps.service.deny_reactivation(principal, int(meta["request_id"]), reason)
    except ServiceError as exc:  # refused: the modal stays open and shows the service's reason
        ack(response_action="errors", errors={"reason": exc.message[:150]})
        return
    ack()  # the request's message is updated by bot.notifications
