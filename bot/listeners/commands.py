"""`/pardot …`: parse, check the role, enqueue, answer within Slack's 3 s (ack)."""
from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from .. import render

log = logging.getLogger("connector.bot")
FOLLOW_UP = "I'll post the outcome here when it ends."


def register(app) -> None:
    app.command("/pardot")(on_pardot)


def on_pardot(ack, command, context):
    deps = context["connector"]
    user, channel = command["user_id"], command.get("channel_id")
    principal = deps.identity.principal(user)
    notify = {"transport": "slack", "response_url": command.get("response_url"), "user": user}
    reply = deps.dispatcher.run(principal, command.get("text") or "", notify=notify, follow_up=FOLLOW_UP)
    if not reply.request:
        ack(text=reply.text, blocks=reply.blocks)
        return
    # A reactivation request: answer now, then post the approval message for the admins.
    where = deps.approvals.target(channel)
    text, blocks = render.reactivation_filed(reply.request, render.channel_link(where))
    ack(text=text, blocks=blocks)
    try:
        deps.approvals.post_request(reply.request, channel)
    except SlackApiError as exc:
        error = exc.response.get("error")
        log.warning("could not post the approval message of request #%s: %s", reply.request["id"], error)
        deps.poster.respond(command["response_url"], f"I could not post the approval message ({error}); "
                                                     f"an admin can still `/pardot approve {reply.request['id']}`.")
