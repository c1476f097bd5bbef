"""App Home: connector state and version, last cycle, open errors, pending approvals.

Published when a user opens the tab and again, for everyone who opened it lately,
whenever the connector's state changes."""
from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError

from sync.errors import NotFound
from sync.roles import SYSTEM

from . import render

log = logging.getLogger("connector.bot")
VIEWERS_KEY = "slack:home:viewers"  # sorted set: user id → last opened (epoch seconds)
VIEWER_RETENTION = 30 * 86400
REFRESH_AT_MOST = 50  # views.publish is Tier 4; the most recent viewers are enough
RECENT_CYCLES = 5
MAX_PENDING_SHOWN = 10


class Home:
    def __init__(self, service, client, redis):
        self.service = service
        self.client = client
        self.redis = redis

    def opened(self, user_id: str) -> None:
        self.redis.zadd(VIEWERS_KEY, {user_id: time.time()})
        self.publish(user_id)

    def publish(self, user_id: str) -> None:
        self.client.views_publish(user_id=user_id, view=self.view())

    def refresh_all(self) -> int:
        self.redis.zremrangebyscore(VIEWERS_KEY, 0, time.time() - VIEWER_RETENTION)
        users = [u.decode() for u in self.redis.zrevrange(VIEWERS_KEY, 0, REFRESH_AT_MOST - 1)]
        if not users:
            return 0
        view = self.view()
        for user_id in users:
            try:
                self.client.views_publish(user_id=user_id, view=view)
            except SlackApiError as exc:
                log.warning("views.publish for %s failed: %s", user_id, exc.response.get("error"))
        return len(users)

    def view(self) -> dict:
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Pardot connector"}}]
        try:
            st = self.service.status(SYSTEM)
        except NotFound as exc:
            blocks.append(render.section(f"No connector yet: {exc.message}. An admin runs `/pardot create`."))
            return {"type": "home", "blocks": blocks}
        state = render.status(st)[0].split("\n")
        blocks.append(render.section("\n".join(state[:2])))
        cycles = self.service.recent_cycles(SYSTEM, RECENT_CYCLES) or [None]
        blocks.append(render.section("*Last cycles*\n" + "\n".join(render.cycle_line(c) for c in cycles) +
                                     f"\nNext: {st.get('next_cycle') or 'not scheduled'} · backlog {st.get('backlog', 0)}"))
        blocks.append(render.section(f"*Errors*\n{render.open_errors_line(st)}"))
        pending = self.service.list_reactivations(SYSTEM, "pending")
        blocks.append({"type": "divider"})
        if not pending:
            blocks.append(render.section("*Pending approvals*\nnone"))
        for r in pending[:MAX_PENDING_SHOWN]:
            verdict = "passes" if (r.get("checklist") or {}).get("passed") else "fails"
            blocks.append(render.section(f"*Pending approval*\n{render.request_summary(r)}\n"
                                         f"Checklist {verdict} · expires {r['expires_at']}"))
            blocks.append({"type": "actions", "elements": [
                render.button("Approve", render.APPROVE, str(r["id"]), "primary"),
                render.button("Deny", render.DENY, str(r["id"]), "danger")]})
        blocks.append(render.context(f"Updated {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}"))
        return {"type": "home", "blocks": blocks}
