"""`/pardot …`: acknowledge at once, then resolve the role, run the command and answer
through the command's response URL.

Slack gives 3 s for the acknowledgement; looking up the user's email (users.info, which
can be slow or rate-limited), the role or Pardot itself before ack() would miss it."""
from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from sync import incidents

from .. import grammar, render

log = logging.getLogger("connector.bot")
FOLLOW_UP = "I'll post the outcome here when it ends."


def register(app) -> None:
    app.command("/pardot")(on_pardot)


def on_pardot(ack, command, context):
    ack()
    deps = context["connector"]
    user, channel, response_url = command["user_id"], command.get("channel_id"), command.get("response_url")
    text = command.get("text") or ""
    try:
        parsed = grammar.parse(text)
        # `create` before any connector exists: the service asks Pardot for the asker's user role.
        creating = isinstance(parsed, grammar.Command) and parsed.name == "create"
        principal = deps.identity.principal(user, read_pardot=creating)
        notify = {"transport": "slack", "response_url": response_url, "user": user}
        reply = deps.dispatcher.run(principal, text, notify=notify, follow_up=FOLLOW_UP)
    except Exception as exc:  # noqa: BLE001 - Slack was acknowledged: the user still gets an answer
        deps.poster.respond(response_url, unavailable_or_failed(exc, "/pardot"))
        return
    if not reply.request:
        deps.poster.respond(response_url, reply.text, reply.blocks)
        return
    # A reactivation request: answer the asker, then post the approval message for the admins.
    where = deps.approvals.target(channel)
    text_, blocks = render.reactivation_filed(reply.request, render.channel_link(where))
    deps.poster.respond(response_url, text_, blocks)
    try:
        deps.approvals.post_request(reply.request, channel)
    except SlackApiError as exc:
        error = exc.response.get("error")
        log.warning("could not post the approval message of request #%s: %s", reply.request["id"], error)
        deps.poster.respond(response_url, f"I could not post the approval message ({error}); "
                                          f"an admin can still `/pardot approve {reply.request['id']}`.")


def unavailable_or_failed(exc: Exception, where: str) -> str:
    """What a chat user reads when a command could not run: never the exception text."""
    category, reason, incident = incidents.describe(exc, where, log)
    if category == "dependency_unavailable":
        return incidents.UNAVAILABLE
    return incidents.user_text(category, reason, incident)
