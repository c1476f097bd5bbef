"""The sync engine: cycles (R4, R5, R17, R28); manual syncs (R6) and retries (R27) are in
engine_manual, the bulk path in engine_import.

A cycle costs, when nothing changed, four API calls: one Salesforce composite
request reading every object's changes, and the Pardot prospects, users and
campaigns queries."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import select

from . import custom_fields, incidents
from .bulk import FLUSH_ROWS, MIN_IMPORT_ROWS
from .engine_import import BulkImport
from .engine_manual import ManualSync
from .engine_state import ConnectorState
from .http import make_session
from .ingest import (
    BATCH,
    PARDOT_OVERLAP,
    SF_OVERLAP,
    ingest_crm,
    ingest_prospects,
)
from .mapping import Mapping
from .metadata import (
    PARDOT_CAMPAIGN_FIELDS,
    PARDOT_USER_FIELDS,
    SF_CAMPAIGN_SOQL,
    SF_USER_SOQL,
    sync_campaigns,
    sync_pardot_users,
    sync_sf_users,
)
from .models import (
    Connector,
    Cursor,
    CycleRun,
    FieldMapping,
    MdsRule,
    PendingChange,
    UserMatch,
    utcnow,
)
from .names import SYNC_OBJECTS
from .reconcile import Context, CreateLead, CreateProspect, Pair, Reconciler
from .records import (
    OBJECT_FILTER,
    pardot_datetime,
    prospect_fields,
    sf_fields,
    soql_datetime,
)
from .remote import BudgetExhausted, RemoteCallError
from .roles import forget_roles, status_cache_key

log = logging.getLogger("connector.engine")
LOCK_TTL = 120
FAILED_CYCLES_TO_DEGRADE = 2


class Engine(ManualSync, BulkImport, ConnectorState):
    def __init__(self, runtime):
        self.rt = runtime
        self.config = runtime.config
        self.store = runtime.store
        self.redis = runtime.redis
        self.budget = runtime.budget()
        self._sf = self._pardot = None
        self._clients_lock = threading.Lock()

    # ------------------------------------------------------------------ clients
    def clients(self):
        with self._clients_lock:
            if self._sf is None:
                from .pardot import PardotClient
                from .salesforce import SalesforceClient

                self._sf = SalesforceClient(self.config, self.budget, session=make_session(self.config.tls_verify))
                self._pardot = PardotClient(self.config, self._sf.access_token, self._sf.reauthenticate,
                                            self.redis, self.budget, session=make_session(self.config.tls_verify))
            return self._sf, self._pardot

    # ------------------------------------------------------------------ context
    def _context(self, connector_id: int) -> tuple[Connector, Context]:
        sf, pardot = self.clients()
        with self.store.session() as s:
            c = s.get(Connector, connector_id)
            if c is None:
                raise LookupError(f"connector {connector_id} does not exist")
            mappings = [Mapping(m.pardot_field, m.lead_field, m.contact_field, m.account_field, m.behaviour,
                                m.overwrite_with_empty)
                        for m in s.scalars(select(FieldMapping).where(FieldMapping.connector_id == c.id)
                                           .order_by(FieldMapping.id))]
            rules = {r.sobject: (r.field, r.value) for r in
                     s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id))} if c.mds_enabled else {}
            users = s.scalars(select(UserMatch).where(UserMatch.connector_id == c.id)).all()
            user_map = {u.pardot_user_id: u.salesforce_user_id for u in users
                        if u.pardot_user_id and u.salesforce_user_id and u.salesforce_active}
            owner_name = self.config.salesforce_username if c.connector_user == "integration" else c.connector_user
            owner = next((u.salesforce_user_id for u in users
                          if (u.salesforce_username or "").lower() == owner_name.lower()), None)
            settings = dict(c.settings or {})
            crm_field = _crm_field(c)
            self.budget.configure(settings.get("salesforce_api_share", 0.5), settings.get("pardot_api_share", 0.8))
            s.expunge(c)
        ctx = Context(connector_id=c.id, version=c.version, ampsea=c.ampsea, auto_create=c.auto_create_prospects,
                      follow_email=c.follow_email_changes, mds_rules=rules, mappings=mappings,
                      owner_fallback=owner, user_map=user_map, sf=sf, pardot=pardot, store=self.store,
                      prospect_fields=prospect_fields(mappings, crm_field), crm_field=crm_field)
        return c, ctx

    def _cursor(self, s, connector_id: int, name: str) -> datetime | None:
        row = s.get(Cursor, (connector_id, name))
        return row.value if row else None

    def _set_cursors(self, connector_id: int, values: dict[str, datetime | None]) -> None:
        with self.store.session() as s:
            for name, value in values.items():
                if value is None:
                    continue
                row = s.get(Cursor, (connector_id, name))
                if row is None:
                    s.add(Cursor(connector_id=connector_id, name=name, value=value))
                elif value > row.value:
                    row.value = value

    # ------------------------------------------------------------------ the cycle
    def run_cycle(self, connector_id: int) -> dict:
        # The token names the RQ job holding the lock, so the scheduler can release the lock of a
        # job it found dead (JobQueue.reap) instead of waiting LOCK_TTL (issue 9 item 4).
        import os
        import secrets

        from rq import get_current_job

        from .jobs import CYCLE_LOCK

        job = get_current_job()
        token = f"{job.id if job else f'pid-{os.getpid()}'}|{secrets.token_hex(8)}"
        lock = self.redis.lock(CYCLE_LOCK.format(connector_id), timeout=LOCK_TTL, blocking=False)
        if not lock.acquire(token=token):
            return {"skipped": "another cycle of this connector is running"}
        stop_renewing = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(lock, token, stop_renewing), daemon=True)
        renewer.start()
        try:
            return self._cycle(connector_id)
        finally:
            stop_renewing.set()
            renewer.join(5)
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - expired: nothing to release
                pass

    def _renew(self, lock, token: str, stop: threading.Event) -> None:
        # A running cycle keeps its lock; a killed one lets it lapse after LOCK_TTL. If Redis
        # restarted empty the lock is taken again (issue 9 item 5), unless another cycle took it.
        from redis.exceptions import LockNotOwnedError

        while not stop.wait(LOCK_TTL / 3):
            try:
                lock.reacquire()
            except LockNotOwnedError:
                try:
                    if not self.redis.set(lock.name, token, nx=True, px=int(LOCK_TTL * 1000)):
                        return
                except Exception:  # noqa: BLE001 - Redis still away: try again next round
                    continue
            except Exception:  # noqa: BLE001 - Redis away: try again next round
                continue

    def _cycle(self, connector_id: int) -> dict:
        connector, ctx = self._context(connector_id)
        paused = connector.state == "paused"
        if connector.state == "throttled":
            # R28: recover by ourselves. The cycle's first calls probe whether the remote limit
            # is gone; if not, the refusal blocks the side again.
            for side in ("salesforce", "pardot"):
                self.budget.unblock(side)
        with self.store.session() as s:
            run = CycleRun(connector_id=connector_id, started_at=utcnow(), prospects_synced=not paused)
            s.add(run)
            s.flush()
            run_id = run.id
        before = self.budget.snapshot()
        outcome, error, meta, outage = self._sync_and_judge(connector, ctx, paused)
        try:
            after = self.budget.snapshot()
        except Exception:  # noqa: BLE001 - Redis away: the outcome is still recorded (issue 9 item 5)
            after = before
        calls = {side: after.get(side, 0) - before.get(side, 0) for side in ("salesforce", "pardot")}
        counts = {**ctx.stats, "metadata": meta.get("metadata", {}), "read": meta.get("read", {})}
        with self.store.session() as s:
            run = s.get(CycleRun, run_id)
            run.finished_at, run.outcome, run.error = utcnow(), outcome, error
            run.counts, run.api_calls = counts, calls
        if outage:
            self._degrade_if_failing(connector_id, error)
        self.redis.delete(status_cache_key(self.config.pardot_business_unit_id))
        if ctx.new_errors:
            self.rt.notify("sync_errors", {"connector_id": connector_id, "errors": ctx.new_errors})
        return {"cycle_id": run_id, "outcome": outcome, "error": error, "counts": counts, "api_calls": calls,
                "paused": paused}

    def _sync_and_judge(self, connector: Connector, ctx: Context, paused: bool):
        """The cycle's work, and the connector state its failure puts it in (R28, R29):
        (outcome, error, meta, outage)."""
        connector_id = connector.id
        outcome, error, meta = "ok", None, {}
        outage = False  # a failure no other state explains: counts towards "degraded" (issue 9 item 7)
        try:
            meta = self._read_and_sync(connector, ctx, paused)
            self._transition(connector_id, ok=True)
        except BudgetExhausted as exc:
            outcome, error = "partial", exc.error.message
            self._record_checks(connector_id, exc.side, True, None)
            self._transition(connector_id, ok=False, state="throttled",
                             reason=f"{exc.side} API budget spent: {exc.error.message}; waiting (R29)")
        except RemoteCallError as exc:
            outcome, error = "failed", f"{exc.side}: {exc.error.code}: {exc.error.message}"
            if exc.error.category == "auth":
                self._record_checks(connector_id, exc.side, False, exc.error.message)
                self._transition(connector_id, ok=False, state="error",
                                 reason=f"{exc.side} refused the credentials: {exc.error.message}")
            elif exc.error.category == "limit":
                self._transition(connector_id, ok=False, state="throttled",
                                 reason=f"{exc.side} API limit: {exc.error.message}")
            else:
                outage = True
                log.warning("cycle %s failed: %s", connector_id, error)
        except Exception as exc:
            described = incidents.describe(exc, f"cycle of connector {connector_id}", log)
            outcome, error, outage = "failed", incidents.user_text(*described), True
        return outcome, error, meta, outage

    def _degrade_if_failing(self, connector_id: int, error: str | None) -> None:
        """Issue 9 item 7: FAILED_CYCLES_TO_DEGRADE failed cycles in a row make the connector degraded."""
        with self.store.session() as s:
            last = s.scalars(select(CycleRun.outcome).where(CycleRun.connector_id == connector_id)
                             .order_by(CycleRun.id.desc()).limit(FAILED_CYCLES_TO_DEGRADE)).all()
        if len(last) == FAILED_CYCLES_TO_DEGRADE and all(o == "failed" for o in last):
            self._transition(connector_id, ok=False, state="degraded",
                             reason=f"{FAILED_CYCLES_TO_DEGRADE} cycles in a row failed; the last: {error}")

    def _read_and_sync(self, connector: Connector, ctx: Context, paused: bool) -> dict:
        cid = connector.id
        sf, pardot = ctx.sf, ctx.pardot
        with self.store.session() as s:
            cursors = {name: self._cursor(s, cid, name) for name in
                       ("sf:User", "sf:Campaign", "pardot:users", "pardot:campaigns", "pardot:prospects",
                        *(f"sf:{o}" for o in SYNC_OBJECTS))}
        sf_asked = utcnow()
        queries = {"users": _since(SF_USER_SOQL, cursors["sf:User"]),
                   "campaigns": _since(SF_CAMPAIGN_SOQL, cursors["sf:Campaign"])}
        if not paused:  # R5: while paused no prospect record syncs automatically
            for sobject in SYNC_OBJECTS:
                fields = sf_fields(sobject, ctx.mappings, (ctx.mds_for(sobject) or (None,))[0])
                queries[sobject] = _since(f"SELECT {', '.join(fields)} FROM {sobject}", cursors[f"sf:{sobject}"],
                                          OBJECT_FILTER[sobject])
        # Pages ahead: a step of the mirror (BATCH records) is in flight while one is stored.
        results = sf.composite_query(queries, include_deleted=True, read_ahead_pages=BATCH // 2000 + 1)
        self._record_checks(cid, "salesforce", True, None)
        new_cursors, read = {}, {}
        with self.store.session() as s:
            new_cursors["sf:User"] = sync_sf_users(s, cid, results["users"])
        pardot_asked = utcnow()
        pardot_users = pardot.query("users", PARDOT_USER_FIELDS, deleted="all",
                                    **_pardot_since(cursors["pardot:users"]))
        with self.store.session() as s:
            new_cursors["pardot:users"] = sync_pardot_users(s, cid, pardot_users)
        if new_cursors["pardot:users"] is not None:  # R33: roles follow Pardot users at once
            forget_roles(self.redis, self.config.pardot_business_unit_id)
        self._record_checks(cid, "pardot", True, None)
        pardot_campaigns = pardot.query("campaigns", PARDOT_CAMPAIGN_FIELDS, deleted="all",
                                        **_pardot_since(cursors["pardot:campaigns"]))
        with self.store.session() as s:
            new_cursors["sf:Campaign"], new_cursors["pardot:campaigns"] = sync_campaigns(
                s, cid, results["campaigns"], pardot_campaigns)
        self._refresh_describe(connector, sf)
        self._check_pardot_account(pardot)
        custom_fields.refresh_if_named(self.store, pardot, connector)  # for the checklist (issue 9 item 3)
        if paused:
            self._set_cursors(cid, _settle(new_cursors, sf_asked, pardot_asked))
            return {"metadata": {"users": True, "campaigns": True}}

        # Refresh the context's user map: the metadata step may have just filled it.
        _, fresh = self._context(cid)
        ctx.user_map, ctx.owner_fallback = fresh.user_map, fresh.owner_fallback
        ctx.crm_field, ctx.prospect_fields = fresh.crm_field, fresh.prospect_fields

        # Pardot first: matching Salesforce records to prospects looks in the prospect mirror.
        stats = {}
        prospects = pardot.query("prospects", ctx.prospect_fields, read_ahead_pages=BATCH // 1000,
                                 deleted="all", orderBy="updatedAt",
                                 **_pardot_since(cursors["pardot:prospects"]))
        new_cursors["pardot:prospects"] = ingest_prospects(self.store, cid, prospects, ctx.mappings, stats, ctx.crm_field)
        read["prospects"] = stats
        for sobject in SYNC_OBJECTS:
            stats = {}
            new_cursors[f"sf:{sobject}"] = ingest_crm(self.store, cid, sobject, results[sobject], ctx.mappings,
                                                      ctx.mds_for(sobject), stats)
            read[sobject] = stats
        new_cursors["pardot:prospects"] = _later(new_cursors["pardot:prospects"], self.reconcile_pending(ctx))
        # R17: cursors move only now, after the writes they cover are committed.
        self._set_cursors(cid, _settle(new_cursors, sf_asked, pardot_asked))
        return {"metadata": {"users": True, "campaigns": True}, "read": read}

    def reconcile_pending(self, ctx: Context) -> datetime | None:
        """Work off the pending list in chunks; a budget stop leaves the rest for later.

        Prospect creates and link writes are deferred and flushed as bulk imports; returns
        the newest prospect update read back after them (the Pardot cursor may move there)."""
        last, newest = ("", ""), None
        ctx.deferred = []
        try:
            while True:
                with self.store.session() as s:
                    rows = s.execute(select(PendingChange.side, PendingChange.record_id).where(
                        PendingChange.connector_id == ctx.connector_id,
                        (PendingChange.side > last[0]) | ((PendingChange.side == last[0]) &
                                                          (PendingChange.record_id > last[1])))
                        .order_by(PendingChange.side, PendingChange.record_id).limit(BATCH)).all()
                if not rows:
                    break
                last = (rows[-1][0], rows[-1][1])
                sf_ids = [rid for side, rid in rows if side == "salesforce"]
                prospect_ids = [int(rid) for side, rid in rows if side == "pardot"]
                Reconciler(ctx).process(sf_ids, prospect_ids)
                if len(ctx.deferred) >= FLUSH_ROWS:
                    newest = _later(newest, self._flush(ctx))
            return _later(newest, self._flush(ctx))
        finally:
            ctx.deferred = None

    def _flush(self, ctx: Context) -> datetime | None:
        items, ctx.deferred = ctx.deferred, []
        # What waited is written now (or fails into the error queue): no longer claimed.
        ctx.waiting_crm.clear()
        ctx.waiting_prospects.clear()
        if not items:
            return None
        creates = [i for i in items if isinstance(i, CreateProspect)]
        links = [i for i in items if isinstance(i, CreateLead)]
        updates = [i for i in items if isinstance(i, Pair)]
        saved, ctx.deferred = ctx.deferred, None
        try:
            if len(items) < MIN_IMPORT_ROWS:
                Reconciler(ctx).finish(creates, links, updates)
                return None
            return self._import(ctx, creates, links, updates)
        finally:
            ctx.deferred = saved


def _crm_field(connector: Connector) -> str | None:
    """The admin's custom CRM-id field (setting "crm_id_field"), once the worker has seen it in
    Pardot (Connector.checks["pardot_custom_fields"], the metadata step's read). A field named but
    missing is left alone: reading or writing it would have Pardot refuse every prospect call and
    stall the sync; the checklist (R30) says it is missing instead."""
    name = (connector.settings or {}).get("crm_id_field") or None
    seen = (connector.checks or {}).get("pardot_custom_fields") or {}
    return name if name and seen.get("ok") and name in (seen.get("names") or []) else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def _settle(newest: dict[str, datetime | None], sf_asked: datetime, pardot_asked: datetime) -> dict:
    """R17: where the next cycle starts reading. Never past what this cycle saw, and never past
    the moment it asked less the overlap: a change committed late (a long Salesforce
    transaction, Pardot's read lag) still falls in the next window. A quiet object's window
    moves up too, so idle cycles read nothing."""
    settled = {}
    for name, seen in newest.items():
        sf = name.startswith("sf:")
        asked, overlap = (sf_asked, SF_OVERLAP) if sf else (pardot_asked, PARDOT_OVERLAP)
        horizon = asked - overlap
        # What was seen before the horizon was all visible and all read: start just after it
        # (Salesforce stamps have milliseconds, Pardot's whole seconds).
        tick = timedelta(milliseconds=1) if sf else timedelta(seconds=1)
        settled[name] = horizon if seen is None else min(seen + tick, horizon)
    return settled


def _since(soql: str, cursor: datetime | None, extra: str = "") -> str:
    conditions = [extra] if extra else []
    if cursor is not None:
        conditions.append(f"SystemModstamp >= {soql_datetime(cursor)}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"{soql}{where} ORDER BY SystemModstamp ASC, Id ASC"


def _pardot_since(cursor: datetime | None) -> dict:
    return {"updatedAtAfterOrEqualTo": pardot_datetime(cursor)} if cursor else {}


