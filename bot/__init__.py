"""The Slack bot (issue 5): `/pardot`, mentions, DMs, buttons, App Home, notifications.

A thin adapter over sync.service: it parses, asks the service and renders. app.py calls
register() for the HTTP endpoint and make_notifier() for connector events."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request

from sync.notify import log_notifier

log = logging.getLogger("connector.bot")


def register(app: Flask, runtime) -> None:
    """Mounts the bolt app at POST /slack/events (signature verification on)."""
    config = runtime.config
    if not (config.slack_bot_token and config.slack_signing_secret):
        mode = "Socket Mode (`python app.py bot`)" if config.slack_app_token else "off"
        message = f"Slack over HTTP is not configured (Slack is {mode}); set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"

        def slack_disabled():
            return jsonify({"error": {"code": "slack_disabled", "message": message}}), 404

        app.add_url_rule("/slack/events", "slack_events", slack_disabled, methods=["POST"])
        return
    from slack_bolt.adapter.flask import SlackRequestHandler

    from .app import build_app, http_endpoint

    view = http_endpoint(SlackRequestHandler(build_app(runtime)), config.slack_signing_secret)
    app.add_url_rule("/slack/events", "slack_events", lambda: view(request), methods=["POST"])


def make_notifier(runtime):
    """Connector events → Slack when a bot token is configured, else the log."""
    if not runtime.config.slack_bot_token:
        return log_notifier
    from .deps import BotDeps
    from .notifications import SlackNotifier

    return SlackNotifier(BotDeps.build(runtime))
