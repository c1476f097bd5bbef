"""`python app.py bot`: the same bolt app over Socket Mode (no public URL needed)."""
from __future__ import annotations

import sys

from slack_bolt.adapter.socket_mode import SocketModeHandler

from .app import build_app


def run_socket_mode(runtime) -> int:
    config = runtime.config
    if not config.slack_app_token:
        print("SLACK_APP_TOKEN: is not set; Socket Mode needs an app-level token (xapp-…) with "
              "connections:write", file=sys.stderr)
        return 2
    app = build_app(runtime, socket_mode=True)
    SocketModeHandler(app, config.slack_app_token, web_client=app.client).start()
    return 0
