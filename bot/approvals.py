"""Reactivation approval messages (R7, R31): posted with Approve/Deny, updated on decision.

The decision itself is the service's: who may decide, the checklist, the audit. This
module only keeps the chat message in step with the request."""
from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from . import render

log = logging.getLogger("connector.bot")


class Approvals:
    def __init__(self, service, poster, config):
        self.service = service
        self.poster = poster
        self.config = config

    def target(self, origin_channel: str | None = None) -> str | None:
        """The notify channel, where every admin looks; else where the request was made."""
        return self.config.slack_notify_channel or origin_channel

    def post_request(self, request: dict, origin_channel: str | None = None) -> str | None:
        """Posts the approval message and remembers it on the request; returns the channel id."""
        channel = self.target(origin_channel)
        if not channel:
            return None
        text, blocks = render.reactivation_message(request)
        resp = self.poster.post(channel, text, blocks)
        self.service.set_reactivation_message(request["id"], resp["channel"], resp["ts"])
        return resp["channel"]

    def show_decision(self, request: dict) -> None:
        """Updates the request's message; a request without one gets a notice instead."""
        if request.get("slack_channel") and request.get("slack_ts"):
            text, blocks = render.reactivation_message(request)
            try:
                self.poster.update(request["slack_channel"], request["slack_ts"], text, blocks)
                return
            except SlackApiError as exc:
                log.warning("could not update the message of reactivation request #%s: %s", request["id"],
                            exc.response.get("error"))
        channel = self.target()
        if channel:
            self.poster.post(channel, *render.reactivation_decided(request))
