"""The bolt App: one per process, for HTTP (`/slack/events`) or Socket Mode."""
from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from flask import jsonify
from slack_bolt import App
from slack_sdk.signature import SignatureVerifier

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


def http_endpoint(handler, signing_secret: str):
    """The /slack/events view: bolt parses the body before its signature middleware runs, so
    a malformed body or timestamp from anyone would be a 500 with a traceback. Here the
    signature is checked first (401), then the body's shape (400); bolt sees only the rest."""
    verifier = SignatureVerifier(signing_secret)

    def refuse(status: int, code: str, message: str):
        return jsonify({"error": {"code": code, "message": message}}), status

    def view(request):
        body = request.get_data(cache=True, as_text=False)
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not timestamp.isdigit():
            return refuse(401, "invalid_signature", "X-Slack-Request-Timestamp must be a Unix time in seconds")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return refuse(400, "malformed_body", "the body is not UTF-8")
        if not signature or not verifier.is_valid(body=text, timestamp=timestamp, signature=signature):
            return refuse(401, "invalid_signature", "the Slack signature does not match (or is too old)")
        problem = _shape_problem(text, request.mimetype)
        if problem:
            log.warning("refused a signed Slack request: %s", problem)
            return refuse(400, "malformed_body", problem)
        return handler.handle(request)

    return view


def _shape_problem(text: str, mimetype: str) -> str | None:
    """What bolt's parser would choke on: JSON bodies and the form's `payload` must be JSON objects."""
    if mimetype == "application/json" or text.startswith("{"):
        raw, where = text, "the body"
    else:
        payload = parse_qs(text).get("payload")
        if not payload:
            return None
        raw, where = payload[0], "payload"
    try:
        parsed = json.loads(raw)
    except ValueError:
        return f"{where} is not valid JSON"
    return None if isinstance(parsed, dict) else f"{where} is not a JSON object"
