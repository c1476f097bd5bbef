"""Posting to Slack within its rate limits.

Slack allows about one message a second per channel. A slot per channel in Redis
(SET NX PX) spaces posts across every process of the connector (web, workers, bot);
429 answers are retried after `Retry-After` by slack_sdk's RateLimitErrorRetryHandler,
which the WebClient and the response-URL client are built with."""
from __future__ import annotations

import logging
import time

from slack_sdk import WebClient
from slack_sdk.http_retry import default_retry_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

log = logging.getLogger("connector.bot")
PACE_SECONDS = 1.0   # per channel; read at call time so a test may shorten it
MAX_WAIT_SECONDS = 60.0  # past this, post anyway: Slack's 429 handling takes over
RATE_LIMIT_RETRIES = 3


def retry_handlers() -> list:
    return default_retry_handlers() + [RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)]


def web_client(config) -> WebClient:
    return WebClient(token=config.slack_bot_token, base_url=config.slack_api_url, timeout=15,
                     retry_handlers=retry_handlers())


class Poster:
    def __init__(self, client: WebClient, redis):
        self.client = client
        self.redis = redis

    def wait_turn(self, channel: str) -> None:
        """Block until this process holds the channel's slot for the next PACE_SECONDS."""
        key = f"slack:pace:{channel}"
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        while not self.redis.set(key, "1", nx=True, px=max(1, int(PACE_SECONDS * 1000))):
            if time.monotonic() > deadline:
                log.warning("waited %.0f s for a posting slot in %s; posting anyway", MAX_WAIT_SECONDS, channel)
                return
            ttl_ms = self.redis.pttl(key)
            time.sleep(min(max(ttl_ms, 10), 1000) / 1000)

    def post(self, channel: str, text: str, blocks: list | None = None, thread_ts: str | None = None):
        self.wait_turn(channel)
        return self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                                            unfurl_links=False, unfurl_media=False)

    def update(self, channel: str, ts: str, text: str, blocks: list | None = None):
        return self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or [])

    def ephemeral(self, channel: str | None, user: str, text: str, blocks: list | None = None):
        """Only `user` sees it; without a channel (App Home, modals) it goes to their DM instead."""
        if channel:
            return self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
        return self.post(user, text, blocks)

    def respond(self, response_url: str, text: str, blocks: list | None = None) -> None:
        """Through a slash command's response URL (valid 30 minutes, a few uses)."""
        resp = WebhookClient(response_url, timeout=15, retry_handlers=retry_handlers()).send(
            text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
        if resp.status_code != 200:
            log.warning("response URL answered %s", resp.status_code)
