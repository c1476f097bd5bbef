"""The bolt App: one per process, for HTTP (`/slack/events`) or Socket Mode."""
from __future__ import annotations

import logging

from slack_bolt import App

from .dedupe import dedupe_middleware
from .deps import BotDeps
from .listeners import register_listeners

log = logging.getLogger("connector.bot")


def build_app(runtime, deps: BotDeps | None = None, socket_mode: bool = False) -> App:
    deps = deps or BotDeps.build(runtime)
    app = App(
        client=deps.client,
        signing_secret=runtime.config.slack_signing_secret or "",
        # auth.test runs on the first request, not at import: start-up never waits on Slack.
        token_verification_enabled=False,
        request_verification_enabled=not socket_mode,
        # Ack first, then run the listener on bolt's thread pool: Slack's 3 s limit holds
        # even when a reply or a notification has to wait for its posting slot.
        process_before_response=False,
        name="pardot-connector",
    )

    @app.middleware
    def provide_deps(context, next):
        context["connector"] = deps
        return next()

    app.middleware(dedupe_middleware(runtime.redis))

    @app.error
    def on_error(error, body, logger):
        kind = body.get("type") if isinstance(body, dict) else None
        logger.error("Slack %s handling failed: %s: %s", kind, type(error).__name__, error)

    register_listeners(app)
    return app
