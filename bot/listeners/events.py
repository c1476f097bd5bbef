"""Mentions and DMs speak the `/pardot` grammar; App Home opens publish the status view."""
from __future__ import annotations

import logging
import re

from slack_sdk.errors import SlackApiError

from .. import render
from .commands import unavailable_or_failed

log = logging.getLogger("connector.bot")
FOLLOW_UP = "I'll post the outcome in this thread when it ends."
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def register(app) -> None:
    app.event("app_mention")(on_mention)
    app.event("message")(on_message)
    app.event("app_home_opened")(on_home_opened)


def on_mention(event, context):
    if (event.get("channel") or "").startswith("D"):
        return  # a DM: on_message answers it
    text = _MENTION.sub(" ", event.get("text") or "", count=1)
    converse(context["connector"], event, text, thread_ts=event.get("thread_ts") or event.get("ts"))


def on_message(event, context):
    if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
        return
    text = _MENTION.sub(" ", event.get("text") or "", count=1)
    converse(context["connector"], event, text, thread_ts=event.get("thread_ts"))


def converse(deps, event: dict, text: str, thread_ts: str | None) -> None:
    channel, user = event["channel"], event["user"]
    try:
        principal = deps.identity.principal(user)
        notify = {"transport": "slack", "channel": channel, "thread_ts": thread_ts, "user": user}
        reply = deps.dispatcher.run(principal, text, notify=notify, follow_up=FOLLOW_UP)
    except Exception as exc:  # noqa: BLE001 - the asker gets an answer (e.g. Redis down), not silence
        deps.poster.post(channel, unavailable_or_failed(exc, "a mention or DM"), thread_ts=thread_ts)
        return
    if reply.request:
        try:
            where = deps.approvals.post_request(reply.request, channel)
        except SlackApiError as exc:
            log.warning("could not post the approval message: %s", exc.response.get("error"))
            where = None
        text_, blocks = render.reactivation_filed(reply.request, render.channel_link(where))
        deps.poster.post(channel, text_, blocks, thread_ts=thread_ts)
        return
    deps.poster.post(channel, reply.text, reply.blocks, thread_ts=thread_ts)


def on_home_opened(event, context):
    if event.get("tab", "home") == "home":
        context["connector"].home.opened(event["user"])
