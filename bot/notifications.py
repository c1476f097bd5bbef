"""Connector events → Slack, without floods.

Sync errors go to SLACK_NOTIFY_CHANNEL and to the error-queue owner. The first error of
a category is posted at once; more of that category within `notify_fold_seconds` fold
into the same message (chat.update with the count and a few samples). Connector-wide
events (state changes, pause, reactivation) go out at once. Events are handled on one
background thread per process, in order, so the service call that raised them never
waits on Slack."""
from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from slack_sdk.errors import SlackApiError

from sync.notify import log_notifier
from sync.roles import SYSTEM

from . import render

log = logging.getLogger("connector.bot")
SAMPLES = 3
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="slack-notify")


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class SlackNotifier:
    def __init__(self, deps):
        self.deps = deps
        self.redis = deps.runtime.redis
        self.config = deps.runtime.config

    def __call__(self, event: str, payload: dict) -> None:
        log_notifier(event, payload)
        _EXECUTOR.submit(self.handle, event, payload)

    def flush(self, timeout: float = 60) -> None:
        """Wait until every event submitted so far was handled (tests, shutdown)."""
        _EXECUTOR.submit(lambda: None).result(timeout)

    def handle(self, event: str, payload: dict) -> None:
        try:
            handler = getattr(self, "_on_" + event, None)
            if handler is not None:
                handler(payload)
            if event in ("connector_state", "paused") or event.startswith("reactivation_"):
                self.deps.home.refresh_all()
        except SlackApiError as exc:
            log.warning("Slack refused the %s notification: %s", event, exc.response.get("error"))
        except Exception:  # noqa: BLE001 - a notification never takes the process down
            log.exception("the %s notification failed", event)

    # ------------------------------------------------------------------ targets
    def targets(self, settings: dict | None = None) -> list[str]:
        settings = settings if settings is not None else self.deps.service.get_settings(SYSTEM)
        found = []
        for target in (self.config.slack_notify_channel, settings.get("error_queue_owner")):
            target = (target or "").strip()
            if target and target not in found:
                found.append(target)
        return found

    # ------------------------------------------------------------------ sync errors: folded
    def _on_sync_errors(self, payload: dict) -> None:
        errors = payload.get("errors") or []
        if not errors:
            return
        settings = self.deps.service.get_settings(SYSTEM)
        window = int(settings.get("notify_fold_seconds") or 300)
        by_category: dict[str, list[dict]] = {}
        for e in errors:
            by_category.setdefault(e.get("category") or "unknown", []).append(e)
        for target in self.targets(settings):
            for category, errs in by_category.items():
                try:
                    self.fold(target, category, errs, window)
                except SlackApiError as exc:
                    log.warning("could not notify %s of %s errors: %s", target, category, exc.response.get("error"))

    def fold(self, target: str, category: str, errors: list[dict], window: int) -> None:
        key = f"slack:fold:{target}:{category}"
        with self.redis.lock(key + ":lock", timeout=60, blocking_timeout=60):
            raw = self.redis.get(key)
            state = json.loads(raw) if raw else None
            count, since = len(errors), (errors[0].get("first_seen") if errors else None) or _now()
            if state is not None:
                seen = {e["id"] for e in state["samples"]}
                fresh = [e for e in errors if e.get("id") not in seen]
                state["count"] += len(fresh)
                state["samples"] = (state["samples"] + fresh)[-SAMPLES:]
                text, blocks = render.error_notification(category, state["count"], state["samples"], state["since"])
                try:
                    self.deps.poster.update(state["channel"], state["ts"], text, blocks)
                    self.redis.set(key, json.dumps(state), keepttl=True)
                    return
                except SlackApiError as exc:  # the message is gone: start a new one
                    log.info("folding into %s failed (%s); posting anew", target, exc.response.get("error"))
                    count, since, errors = state["count"], state["since"], state["samples"]
            state = {"count": count, "samples": errors[-SAMPLES:], "since": since}
            text, blocks = render.error_notification(category, state["count"], state["samples"], state["since"])
            resp = self.deps.poster.post(target, text, blocks)
            state.update(channel=resp["channel"], ts=resp["ts"])
            self.redis.set(key, json.dumps(state), ex=max(1, window))

    # ------------------------------------------------------------------ connector-wide: at once
    def _broadcast(self, event: str, payload: dict) -> None:
        rendered = render.connector_event(event, payload)
        if rendered is None:
            return
        for target in self.targets():
            try:
                self.deps.poster.post(target, *rendered)
            except SlackApiError as exc:
                log.warning("could not tell %s about %s: %s", target, event, exc.response.get("error"))

    def _on_connector_state(self, payload: dict) -> None:
        self._broadcast("connector_state", payload)

    def _on_paused(self, payload: dict) -> None:
        self._broadcast("paused", payload)

    def _on_reactivation_requested(self, request: dict) -> None:
        # Requests filed in Slack are posted by the command listener, which knows the channel.
        if request.get("requested_via") != "slack" and not request.get("slack_ts"):
            self.deps.approvals.post_request(request)

    def _on_reactivation_approved(self, request: dict) -> None:
        self.deps.approvals.show_decision(request)

    def _on_sync_errors_resolved(self, payload: dict) -> None:
        self._broadcast("sync_errors_resolved", payload)  # R38: said when a warning clears by itself

    def _on_reactivation_failed(self, request: dict) -> None:
        """R37: the unpause after approval failed: the message shows it, and the thread says why."""
        self.deps.approvals.show_decision(request)
        if request.get("slack_channel") and request.get("slack_ts"):
            self.deps.poster.post(request["slack_channel"], *render.plain(render.decision(request)),
                                  thread_ts=request["slack_ts"])

    _on_reactivation_unpaused = _on_reactivation_approved

    _on_reactivation_denied = _on_reactivation_approved
    _on_reactivation_expired = _on_reactivation_approved

    # ------------------------------------------------------------------ manual sync outcomes
    def _on_job_finished(self, payload: dict) -> None:
        notify = payload.get("notify") or {}
        job = payload.get("job") or {}
        if notify.get("transport") != "slack" or not job:
            return  # the shell and the API read outcomes themselves
        text, blocks = render.job_outcome(job)
        if notify.get("channel"):
            self.deps.poster.post(notify["channel"], text, blocks, thread_ts=notify.get("thread_ts"))
        elif notify.get("response_url"):
            self.deps.poster.respond(notify["response_url"], text, blocks)
