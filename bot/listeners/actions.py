"""Buttons: Retry, Dismiss, View on error messages; Approve, Deny on reactivation requests.

Every click runs as the clicker, so the service checks the clicker's role and audits a
refusal; refusals and confirmations are shown to the clicker only."""
from __future__ import annotations

import json
import logging

from slack_sdk.errors import SlackApiError

from sync.errors import ServiceError

from .. import render
from ..grammar import Command
from .commands import unavailable_or_failed

log = logging.getLogger("connector.bot")
DENY_VIEW = "reactivation_deny"
FOLLOW_UP = "I'll post the outcome in the thread of that message."


def register(app) -> None:
    app.action(render.RETRY)(on_retry)
    app.action(render.RETRY_CATEGORY)(on_retry_category)
    app.action(render.DISMISS)(on_dismiss)
    app.action(render.VIEW)(on_view)
    app.action(render.APPROVE)(on_approve)
    app.action(render.DENY)(on_deny)


def where(body: dict) -> tuple[str | None, str | None]:
    """The channel and message the button sits on (none in App Home and modals)."""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    ts = (body.get("message") or {}).get("ts") or container.get("message_ts")
    return channel, ts


def _run(deps, body: dict, command: Command) -> None:
    user = body["user"]["id"]
    channel, ts = where(body)
    notify = {"transport": "slack", "channel": channel, "thread_ts": ts, "user": user} if channel else \
        {"transport": "slack", "channel": user, "user": user}
    try:
        reply = deps.dispatcher.execute(deps.identity.principal(user), command, notify=notify, follow_up=FOLLOW_UP)
    except Exception as exc:  # noqa: BLE001 - the clicker gets an answer (e.g. Redis down), not silence
        deps.poster.ephemeral(channel, user, unavailable_or_failed(exc, f"the {command.name} button"))
        return
    if command.name == "approve" and reply.ok:
        return  # the request's message itself changes (bot.notifications)
    deps.poster.ephemeral(channel, user, reply.text)


def on_retry(ack, body, action, context):
    ack()
    _run(context["connector"], body, Command("retry", {"error_id": int(action["value"])}))


def on_retry_category(ack, body, action, context):
    ack()
    _run(context["connector"], body, Command("retry", {"category": action["value"]}))


def on_dismiss(ack, body, action, context):
    ack()
    _run(context["connector"], body, Command("dismiss", {"error_id": int(action["value"])}))


def on_approve(ack, body, action, context):
    ack()
    _run(context["connector"], body, Command("approve", {"request_id": int(action["value"])}))


def on_view(ack, body, action, context):
    ack()
    deps = context["connector"]
    user = body["user"]["id"]
    try:
        error = deps.service.get_error(deps.identity.principal(user), int(action["value"]))
    except ServiceError as exc:
        deps.poster.ephemeral(where(body)[0], user, exc.message)
        return
    _, blocks = render.error_detail(error)
    deps.client.views_open(trigger_id=body["trigger_id"], view={
        "type": "modal", "title": {"type": "plain_text", "text": f"Sync error #{error['id']}"[:24]},
        "close": {"type": "plain_text", "text": "Close"}, "blocks": blocks})


def on_deny(ack, body, action, context):
    """Asks the reason in a modal; the decision happens on submit (bot.listeners.views)."""
    ack()
    deps = context["connector"]
    request_id = int(action["value"])
    channel, _ = where(body)
    try:
        deps.client.views_open(trigger_id=body["trigger_id"], view={
            "type": "modal", "callback_id": DENY_VIEW,
            "private_metadata": json.dumps({"request_id": request_id, "channel": channel}),
            "title": {"type": "plain_text", "text": f"Deny request #{request_id}"[:24]},
            "submit": {"type": "plain_text", "text": "Deny"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [{"type": "input", "block_id": "reason", "optional": True,
                        "label": {"type": "plain_text", "text": "Why? (recorded in the audit log)"},
                        "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True}}]})
    except SlackApiError as exc:  # no modal: deny with the default reason rather than lose the click
        log.warning("views.open failed (%s); denying with the default reason", exc.response.get("error"))
        _run(deps, body, Command("deny", {"request_id": request_id, "reason": None}))
