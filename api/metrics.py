"""/metrics: Prometheus text, read from the store and Redis at scrape time.

Every web process answers with the same numbers because nothing is counted in process
memory. Cycle totals are folded into Redis incrementally (only cycles finished since the
last scrape are read), so a scrape stays cheap however long the cycle history grows; if
Redis forgets them they are rebuilt from SQL, which is the durable truth."""
from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, or_, select

from sync.models import Connector, CycleRun, PendingChange, SyncError
from sync.names import ERROR_CATEGORIES, State

from .auth import bearer_token
from .errors import error_response

log = logging.getLogger("connector.metrics")
bp = Blueprint("metrics", __name__)
DIRECTIONS = ("salesforce_to_pardot", "pardot_to_salesforce")
SIDES = ("salesforce", "pardot")
STATES = tuple(s.value for s in State)
CATEGORIES = ERROR_CATEGORIES  # R26 and R38: the health symptoms are counted too
STATUSES = ("open", "retrying", "resolved", "dismissed")


class CycleTotals:
    """Running sums over finished CycleRun rows, kept in a Redis hash."""

    def __init__(self, redis, namespace: str):
        self.redis = redis
        self.hash, self.running, self.lock = (f"{namespace}:totals", f"{namespace}:running", f"{namespace}:lock")

    def read(self, store, connector_id: int) -> dict[str, int]:
        if self.redis.set(self.lock, "1", nx=True, ex=30):
            try:
                self._fold(store, connector_id)
            finally:
                self.redis.delete(self.lock)
        # Another process is folding: its totals are at most one scrape behind.
        return {k.decode(): int(v) for k, v in self.redis.hgetall(self.hash).items() if k != b"mark"}

    def _fold(self, store, connector_id: int) -> None:
        mark = int(self.redis.hget(self.hash, "mark") or 0)
        unfinished = [int(i) for i in self.redis.smembers(self.running)]
        with store.session() as s:
            rows = s.execute(select(CycleRun.id, CycleRun.finished_at, CycleRun.outcome, CycleRun.counts,
                                    CycleRun.api_calls)
                             .where(CycleRun.connector_id == connector_id,
                                    or_(CycleRun.id > mark, CycleRun.id.in_(unfinished or [-1])))
                             .order_by(CycleRun.id)).all()
        adds: dict[str, int] = {}
        still_running = []
        for run_id, finished_at, outcome, counts, api_calls in rows:
            if finished_at is None:
                still_running.append(run_id)
                continue
            _add(adds, f"cycles|{outcome}", 1)
            for direction in DIRECTIONS:
                for action, n in ((counts or {}).get(direction) or {}).items():
                    if isinstance(n, int):
                        _add(adds, f"records|{direction}|{action}", n)
            for side, n in (api_calls or {}).items():
                if side in SIDES and isinstance(n, int):
                    _add(adds, f"api|{side}", n)
        with self.redis.pipeline() as pipe:  # MULTI: the sums and the mark move together
            for field, n in adds.items():
                pipe.hincrby(self.hash, field, n)
            if rows:
                pipe.hset(self.hash, "mark", max(mark, rows[-1][0]))
            pipe.delete(self.running)
            if still_running:
                pipe.sadd(self.running, *still_running)
            pipe.execute()


def _add(totals: dict, key: str, n: int) -> None:
    totals[key] = totals.get(key, 0) + n


class ConnectorCollector:
    def __init__(self, runtime):
        self.rt = runtime
        bu = runtime.config.pardot_business_unit_id
        self.totals = CycleTotals(runtime.redis, f"metrics:{bu}")

    def collect(self):
        yield from self._safely(self._queue)
        yield from self._safely(self._budget)
        yield from self._safely(self._store)

    def _safely(self, part):
        try:
            yield from part()
        except Exception:  # noqa: BLE001 - one broken source must not hide the others
            log.exception("metrics: %s failed", part.__name__)
            g = GaugeMetricFamily("connector_scrape_error", "1 when a part of the scrape failed", labels=["part"])
            g.add_metric([part.__name__.strip("_")], 1)
            yield g

    def _queue(self):
        yield GaugeMetricFamily("connector_queue_depth", "Jobs waiting in the RQ queue", value=self.rt.queue.depth())

    def _budget(self):
        usage = self.rt.budget().usage()
        used = GaugeMetricFamily("connector_api_calls_today", "API calls the connector made today (UTC)",
                                 labels=["side"])
        remaining = GaugeMetricFamily("connector_api_budget_remaining",
                                      "API calls left today within the connector's share (R29)", labels=["side"])
        allowed = GaugeMetricFamily("connector_api_budget_allowed", "The connector's share of the daily allocation",
                                    labels=["side"])
        for side, u in usage.items():
            used.add_metric([side], u["used_by_connector"])
            if u.get("remaining") is not None:
                remaining.add_metric([side], u["remaining"])
            if u.get("allowed") is not None:
                allowed.add_metric([side], u["allowed"])
        yield from (used, remaining, allowed)

    def _store(self):
        with self.rt.store.session() as s:
            connector = s.scalars(select(Connector).where(
                Connector.business_unit_id == self.rt.config.pardot_business_unit_id)).first()
            if connector is None:
                return
            cid, state = connector.id, connector.state
            errors = dict(((cat, st), n) for cat, st, n in s.execute(
                select(SyncError.category, SyncError.status, func.count())
                .where(SyncError.connector_id == cid).group_by(SyncError.category, SyncError.status)).all())
            backlog = s.scalar(select(func.count()).select_from(PendingChange)
                               .where(PendingChange.connector_id == cid)) or 0
        g = GaugeMetricFamily("connector_state", "1 for the connector's current state", labels=["state"])
        for st in STATES:
            g.add_metric([st], 1 if st == state else 0)
        yield g
        yield GaugeMetricFamily("connector_backlog", "Changed records waiting to be synced", value=backlog)
        g = GaugeMetricFamily("connector_sync_errors", "Sync errors by category and status (R25, R26)",
                              labels=["category", "status"])
        for cat in CATEGORIES:
            for st in STATUSES:
                g.add_metric([cat, st], errors.get((cat, st), 0))
        yield g
        totals = self.totals.read(self.rt.store, cid)
        cycles = CounterMetricFamily("connector_cycles", "Finished sync cycles by outcome", labels=["outcome"])
        for outcome in ("ok", "partial", "failed"):
            cycles.add_metric([outcome], totals.get(f"cycles|{outcome}", 0))
        records = CounterMetricFamily("connector_records_synced", "Records written by cycles, per direction",
                                      labels=["direction", "action"])
        calls = CounterMetricFamily("connector_cycle_api_calls", "API calls made by cycles, per side",
                                    labels=["side"])
        for side in SIDES:
            calls.add_metric([side], totals.get(f"api|{side}", 0))
        for key, n in sorted(totals.items()):
            kind, _, rest = key.partition("|")
            if kind == "records":
                direction, _, action = rest.partition("|")
                records.add_metric([direction, action], n)
        yield from (cycles, records, calls)


def install(app, runtime) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConnectorCollector(runtime))
    app.extensions.setdefault("connector_api", {})["metrics_registry"] = registry
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics():
    expected = current_app.extensions["connector"].config.metrics_token
    if expected:  # METRICS_TOKEN set: a scraper must send it as a bearer token
        given = bearer_token() or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return error_response(401, "unauthenticated", "/metrics needs the METRICS_TOKEN as a bearer token",
                                  headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    registry = current_app.extensions["connector_api"]["metrics_registry"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
