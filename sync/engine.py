"""The sync engine: cycles (R4, R5, R17, R28), manual syncs (R6) and retries (R27).

A cycle costs, when nothing changed, four API calls: one Salesforce composite
request reading every object's changes, and the Pardot prospects, users and
campaigns queries."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from . import custom_fields, errorqueue
from .bulk import FLUSH_ROWS, MIN_IMPORT_ROWS, BulkRow, run_import
from .http import make_session
from .ingest import (
    PARDOT_OVERLAP,
    SF_OVERLAP,
    chunks,
    ingest_crm,
    ingest_prospects,
    store_crm_page,
    store_prospect_page,
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
    Prospect,
    RecordLink,
    SyncError,
    UserMatch,
    utcnow,
)
from .reconcile import S2P, Context, CreateLead, CreateProspect, Pair, Reconciler
from .records import (
    EMAIL_FIELD,
    KEY_PREFIX,
    ProspectRow,
    crm_row,
    link_values,
    pardot_datetime,
    prospect_fields,
    prospect_row,
    sf_fields,
    soql_datetime,
)
from .remote import BudgetExhausted, RemoteCallError, RemoteError
from .roles import forget_roles, status_cache_key

log = logging.getLogger("connector.engine")


def error_dict(entry):
    from .service import error_dict as render

    return render(entry)
SYNC_OBJECTS = ("Lead", "Contact", "Account")
OBJECT_FILTER = {"Lead": "", "Contact": "IsPersonAccount = false", "Account": "IsPersonAccount = true"}
LOCK_TTL = 120
FAILED_CYCLES_TO_DEGRADE = 2
DESCRIBE_MAX_AGE = timedelta(hours=24)


class Engine:
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
            outcome, error, outage = "failed", f"{type(exc).__name__}: {exc}", True
            log.exception("cycle %s crashed", connector_id)
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
            with self.store.session() as s:
                last = s.scalars(select(CycleRun.outcome).where(CycleRun.connector_id == connector_id)
                                 .order_by(CycleRun.id.desc()).limit(FAILED_CYCLES_TO_DEGRADE)).all()
            if len(last) == FAILED_CYCLES_TO_DEGRADE and all(o == "failed" for o in last):
                self._transition(connector_id, ok=False, state="degraded",
                                 reason=f"{FAILED_CYCLES_TO_DEGRADE} cycles in a row failed; the last: {error}")
        self.redis.delete(status_cache_key(self.config.pardot_business_unit_id))
        if ctx.new_errors:
            self.rt.notify("sync_errors", {"connector_id": connector_id, "errors": ctx.new_errors})
        return {"cycle_id": run_id, "outcome": outcome, "error": error, "counts": counts, "api_calls": calls,
                "paused": paused}

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
        results = sf.composite_query(queries, include_deleted=True)
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
        prospects = pardot.query("prospects", ctx.prospect_fields, deleted="all", orderBy="updatedAt",
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
                        .order_by(PendingChange.side, PendingChange.record_id).limit(200)).all()
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

    def _import(self, ctx: Context, creates: list, links: list, updates: list) -> datetime | None:
        """Bulk path: imports, then read the written prospects back and link them from the mirror."""
        started = utcnow() - timedelta(seconds=2)
        # One failure map per kind of row: creates and link writes are keyed by CRM id, updates
        # by prospect id (a shared map made a rejected update row a KeyError: issue 9 item 2).
        failed: dict[str, RemoteError] = {}        # creates, by CRM id
        failed_link: dict[str, RemoteError] = {}   # link writes, by CRM id
        failed_update: dict[str, RemoteError] = {}  # updates, by prospect id
        if creates:
            rows = [BulkRow(c.crm.crm_id, c.values, ("matchSalesforceId", c.crm.crm_id) if ctx.ampsea else None)
                    for c in creates]
            failed.update(run_import(ctx.pardot, rows).failed)
        if links:
            rows = [BulkRow(lc.crm.crm_id, link_values(ctx.crm_field, lc.crm.crm_id),
                            ("matchId", str(lc.prospect.prospect_id))) for lc in links]
            failed_link.update(run_import(ctx.pardot, rows).failed)
        # Updates: one import per set of changed fields, so no row has an empty cell.
        by_fields: dict[frozenset, list] = {}
        for pair in updates:
            by_fields.setdefault(frozenset(pair.pardot_changes), []).append(pair)
        for group in by_fields.values():
            rows = [BulkRow(str(p.prospect.prospect_id), dict(p.pardot_changes), ("matchId", str(p.prospect.prospect_id)))
                    for p in group]
            failed_update.update(run_import(ctx.pardot, rows).failed)
        with self.store.session() as s:
            for c in creates:
                error = failed.get(c.crm.crm_id)
                if error is not None:
                    self._import_failure(s, ctx, c.crm.sobject, c.crm.crm_id, error, None, c.crm.email)
            for lc in links:
                # The lead and its link are stored already (R10); only Pardot's copy of the CRM id
                # in the admin's custom field failed.
                error = failed_link.get(lc.crm.crm_id)
                if error is not None:
                    self._import_failure(s, ctx, "Lead", lc.crm.crm_id, error, lc.prospect.prospect_id,
                                         lc.prospect.email)
            if failed:
                s.execute(delete(PendingChange).where(PendingChange.connector_id == ctx.connector_id,
                                                      PendingChange.side == "salesforce",
                                                      PendingChange.record_id.in_(list(failed))))
            failed_links = [lc.prospect.prospect_id for lc in links if lc.crm.crm_id in failed_link]
            if failed_links:
                s.execute(delete(PendingChange).where(PendingChange.connector_id == ctx.connector_id,
                                                      PendingChange.side == "pardot",
                                                      PendingChange.record_id.in_([str(i) for i in failed_links])))
        stats: dict = {}
        read_back = ctx.pardot.query("prospects", ctx.prospect_fields, deleted="all", orderBy="updatedAt",
                                     updatedAtAfterOrEqualTo=pardot_datetime(started))
        newest = ingest_prospects(self.store, ctx.connector_id, read_back, ctx.mappings, stats, ctx.crm_field)
        ctx.count(S2P, "created", sum(1 for c in creates if c.crm.crm_id not in failed))
        if updates:
            with self.store.session() as s:
                fresh = {m.prospect_id: ProspectRow.from_model(m) for m in s.scalars(select(Prospect).where(
                    Prospect.connector_id == ctx.connector_id,
                    Prospect.prospect_id.in_([p.prospect.prospect_id for p in updates])))}
            for pair in updates:
                pair.pardot_error = failed_update.get(str(pair.prospect.prospect_id))
                if pair.pardot_error is None and pair.prospect.prospect_id in fresh:
                    pair.prospect = fresh[pair.prospect.prospect_id]
            for batch in chunks(updates):
                Reconciler(ctx).commit_updates(batch)
        # The written prospects and their Salesforce records now pair up in the mirror: linking
        # them costs no API call (their values already agree).
        with self.store.session() as s:
            waiting_p = [int(rid) for rid in s.scalars(select(PendingChange.record_id).where(
                PendingChange.connector_id == ctx.connector_id, PendingChange.side == "pardot",
                PendingChange.queued_at >= started))]
        done_sf = [c.crm.crm_id for c in creates if c.crm.crm_id not in failed]
        waiting_p = sorted(set(waiting_p) | {lc.prospect.prospect_id for lc in links if lc.crm.crm_id not in failed_link})
        for sf_batch in chunks(done_sf):
            Reconciler(ctx).process(sf_batch, [])
        for p_batch in chunks(waiting_p):
            Reconciler(ctx).process([], p_batch)
        return newest

    @staticmethod
    def _import_failure(s, ctx: Context, sobject: str, crm_id: str, error: RemoteError, prospect_id, email) -> None:
        entry, fresh = errorqueue.record_failure(s, ctx.connector_id, S2P, sobject, crm_id, error,
                                                 prospect_id=prospect_id, crm_id=crm_id, email=email)
        ctx.count(S2P, "failed")
        if fresh:
            s.flush()
            ctx.new_errors.append(error_dict(entry))

    # ------------------------------------------------------------------ checks and state (R28, R30)
    def _record_checks(self, connector_id: int, side: str, ok: bool, reason: str | None) -> None:
        with self.store.session() as s:
            c = s.get(Connector, connector_id)
            checks = dict(c.checks or {})
            checks[side] = {"ok": ok, "at": utcnow().isoformat(), "reason": reason}
            c.checks = checks

    def _refresh_describe(self, connector: Connector, sf) -> None:
        checks = connector.checks or {}
        at = checks.get("describe_at")
        if checks.get("describe") and at and utcnow() - datetime.fromisoformat(at) < DESCRIBE_MAX_AGE:
            return
        describe = {}
        for sobject in SYNC_OBJECTS + ("Opportunity",):
            d = sf.describe(sobject)
            describe[sobject] = {f["name"]: f["type"] for f in d.get("fields", [])}
        with self.store.session() as s:
            c = s.get(Connector, connector.id)
            checks = dict(c.checks or {})
            checks["describe"], checks["describe_at"] = describe, utcnow().isoformat()
            c.checks = checks
        connector.checks = checks

    def _check_pardot_account(self, pardot) -> None:
        """Once a day, learn Pardot's daily allocation (R29)."""
        key = f"pardot-account:{self.config.pardot_business_unit_id}:{utcnow().date().isoformat()}"
        if self.redis.exists(key):
            return
        account = pardot.account()
        self.budget.observe_pardot(account.get("maximumDailyApiCalls"), account.get("apiCallsUsed"))
        self.redis.set(key, "1", ex=86400)

    def _transition(self, connector_id: int, ok: bool, state: str | None = None, reason: str | None = None):
        """R28: throttled/error are entered at once and left by themselves; paused stays paused.

        degraded (issue 9 item 7: the remote keeps failing or a cycle hangs) is entered only from
        active, told once however often its reason changes, and left by the next good cycle."""
        with self.store.session() as s:
            c = s.get(Connector, connector_id)
            previous = c.state
            if c.state == "paused":
                return
            if state == "degraded" and c.state != "active":
                if c.state == "degraded":
                    c.state_reason = reason  # folded: the channel was told when it began
                return
            if ok and c.state in ("throttled", "error", "degraded"):
                c.state, c.state_reason, c.state_since = "active", None, utcnow()
            elif not ok and (c.state != state or c.state_reason != reason):
                c.state, c.state_reason, c.state_since = state, reason, utcnow()
            else:
                return
            new_state, new_reason = c.state, c.state_reason
        self.redis.delete(status_cache_key(self.config.pardot_business_unit_id))
        self.rt.notify("connector_state", {"connector_id": connector_id, "state": new_state,
                                           "reason": new_reason, "previous": previous})

    # ------------------------------------------------------------------ manual syncs (R6)
    def sync_prospect(self, connector_id: int, prospect_id: int | None = None, email: str | None = None) -> dict:
        """"Sync with CRM": fetch the prospect and its Salesforce counterpart, then reconcile."""
        connector, ctx = self._context(connector_id)
        try:
            return self._sync_prospect(connector_id, ctx, prospect_id, email)
        finally:
            self._announce(connector_id, ctx)

    def _announce(self, connector_id: int, ctx: Context) -> None:
        """Sync errors a manual sync put in the queue are announced like a cycle's (issue 9 item 9)."""
        if ctx.new_errors:
            self.rt.notify("sync_errors", {"connector_id": connector_id, "errors": ctx.new_errors})

    def _sync_prospect(self, connector_id: int, ctx: Context, prospect_id: int | None, email: str | None) -> dict:
        try:
            if prospect_id is not None:
                with self.store.session() as s:
                    link = s.scalars(select(RecordLink).where(RecordLink.connector_id == connector_id,
                                                              RecordLink.prospect_id == prospect_id)).first()
                    if link is not None and link.deleted_in_crm:
                        return _deleted_in_crm(link)
                raw = ctx.pardot.get_prospect(prospect_id, ctx.prospect_fields)
                if raw is None:
                    return _failure("deleted", "NOT_FOUND", f"Pardot has no prospect {prospect_id}")
            else:
                found = sorted(ctx.pardot.query("prospects", ctx.prospect_fields, email=email),
                               key=lambda r: r.get("updatedAt") or "", reverse=True)
                if not found:
                    return _failure("deleted", "NOT_FOUND", f"Pardot has no prospect with email {email}")
                raw = found[0]
            p = prospect_row(raw, ctx.mappings, ctx.crm_field)
            with self.store.session() as s:
                store_prospect_page(s, connector_id, [p], queue=False)
                link = s.scalars(select(RecordLink).where(RecordLink.connector_id == connector_id,
                                                          RecordLink.prospect_id == p.prospect_id)).first()
                if link is not None and link.deleted_in_crm:
                    return _deleted_in_crm(link)
                crm_ids = [link.crm_id] if link else []
            self._refresh_crm(ctx, crm_ids, p.email)
            outcomes = Reconciler(ctx).process([], [p.prospect_id], force=True)
            return outcomes.get(("pardot", str(p.prospect_id))) or {"ok": True, "action": "unchanged",
                                                                     "prospect_id": p.prospect_id}
        except RemoteCallError as exc:
            return _failure(exc.error.category, exc.error.code, exc.error.message)

    def send_to_pardot(self, connector_id: int, sobject: str, crm_id: str) -> dict:
        """"Send to Pardot": creates the prospect even when auto-create is off."""
        connector, ctx = self._context(connector_id)
        try:
            return self._send_to_pardot(connector_id, ctx, sobject, crm_id)
        finally:
            self._announce(connector_id, ctx)

    def _send_to_pardot(self, connector_id: int, ctx: Context, sobject: str, crm_id: str) -> dict:
        try:
            with self.store.session() as s:
                link = s.scalars(select(RecordLink).where(RecordLink.connector_id == connector_id,
                                                          RecordLink.crm_id == crm_id)).first()
                if link is not None and link.deleted_in_crm:
                    return _failure("deleted", "DELETED_IN_SALESFORCE",
                                    f"{sobject} {crm_id} was deleted in Salesforce (R19)", crm_id=crm_id)
            raw = ctx.sf.retrieve(sobject, [crm_id],
                                  sf_fields(sobject, ctx.mappings, (ctx.mds_for(sobject) or (None,))[0]))[0]
            if raw is None:
                return _failure("deleted", "NOT_FOUND", f"Salesforce has no {sobject} {crm_id} "
                                "(deleted, or not visible to the connector user)", crm_id=crm_id)
            if sobject == "Account" and not raw.get("IsPersonAccount", True):
                return _failure("validation", "NOT_A_PERSON_ACCOUNT", f"Account {crm_id} is a business account; "
                                "only person accounts sync with prospects", crm_id=crm_id)
            row = crm_row(sobject, raw, ctx.mappings, ctx.mds_for(sobject))
            if not row.email:
                return _failure("validation", "NO_EMAIL", f"{sobject} {crm_id} has no email address", crm_id=crm_id)
            with self.store.session() as s:
                store_crm_page(s, connector_id, [row], queue=False)
            prospect_ids = []
            if link is not None:
                raw_p = ctx.pardot.get_prospect(link.prospect_id, ctx.prospect_fields)
                if raw_p is not None:
                    prospect_ids.append(int(raw_p["id"]))
                    with self.store.session() as s:
                        store_prospect_page(s, connector_id, [prospect_row(raw_p, ctx.mappings, ctx.crm_field)], queue=False)
            else:
                found = list(ctx.pardot.query("prospects", ctx.prospect_fields, email=row.email))
                with self.store.session() as s:
                    if found:
                        store_prospect_page(s, connector_id, [prospect_row(r, ctx.mappings, ctx.crm_field) for r in found],
                                            queue=False)
            outcomes = Reconciler(ctx).process([crm_id], [], force=True, create_prospects=True)
            return outcomes.get(("salesforce", crm_id)) or {"ok": True, "action": "unchanged", "crm_id": crm_id}
        except RemoteCallError as exc:
            return _failure(exc.error.category, exc.error.code, exc.error.message, crm_id=crm_id)

    def _refresh_crm(self, ctx: Context, crm_ids: list[str], email: str | None) -> None:
        """Fresh Salesforce state for a manual sync: by link, else every record with the email."""
        queries = {}
        for sobject in SYNC_OBJECTS:
            fields = sf_fields(sobject, ctx.mappings, (ctx.mds_for(sobject) or (None,))[0])
            ids = [i for i in crm_ids if _prefix_object(i) == sobject]
            if ids:
                where = "Id IN (" + ", ".join(f"'{i}'" for i in ids) + ")"
            elif email and not crm_ids:
                where = f"{EMAIL_FIELD[sobject]} = '{_soql_escape(email)}'"
            else:
                continue
            extra = OBJECT_FILTER[sobject]
            queries[sobject] = f"SELECT {', '.join(fields)} FROM {sobject} WHERE {where}" + \
                               (f" AND {extra}" if extra else "")
        if not queries:
            return
        results = ctx.sf.composite_query(queries, include_deleted=True)
        with self.store.session() as s:
            for sobject, records in results.items():
                rows = [crm_row(sobject, r, ctx.mappings, ctx.mds_for(sobject)) for r in records]
                if rows:
                    store_crm_page(s, ctx.connector_id, rows, queue=False)

    # ------------------------------------------------------------------ retries (R27)
    def retry_errors(self, connector_id: int, error_ids: list[int]) -> dict:
        with self.store.session() as s:
            errors = s.scalars(select(SyncError).where(SyncError.id.in_(error_ids),
                                                       SyncError.status.in_(("open", "retrying")))).all()
            targets = [(e.id, e.direction, e.crm_id, e.prospect_id) for e in errors]
        if not targets:
            return {"ok": True, "retried": 0, "resolved": 0, "still_failing": 0}
        connector, ctx = self._context(connector_id)
        # Refresh both halves of every record, but re-run each error once, from its source side.
        crm_ids = sorted({t[2] for t in targets if t[2]})
        prospect_ids = sorted({t[3] for t in targets if t[3] is not None})
        from_sf = sorted({t[2] for t in targets if t[1] == "salesforce_to_pardot" and t[2]})
        from_pardot = sorted({t[3] for t in targets if t[1] == "pardot_to_salesforce" and t[3] is not None})
        try:
            for batch in chunks(crm_ids):
                self._refresh_crm(ctx, batch, None)
            for pid in prospect_ids:
                raw = ctx.pardot.get_prospect(pid, ctx.prospect_fields)
                if raw is not None:
                    with self.store.session() as s:
                        store_prospect_page(s, connector_id, [prospect_row(raw, ctx.mappings, ctx.crm_field)], queue=False)
            for sf_batch in chunks(from_sf):
                Reconciler(ctx).process(sf_batch, [], force=True)
            for p_batch in chunks(from_pardot):
                Reconciler(ctx).process([], p_batch, force=True)
        except RemoteCallError as exc:
            return _failure(exc.error.category, exc.error.code, exc.error.message)
        with self.store.session() as s:
            rows = s.scalars(select(SyncError).where(SyncError.id.in_([t[0] for t in targets]))).all()
            resolved = sum(1 for e in rows if e.status == "resolved")
        if ctx.new_errors:
            self.rt.notify("sync_errors", {"connector_id": connector_id, "errors": ctx.new_errors})
        return {"ok": resolved == len(targets), "retried": len(targets), "resolved": resolved,
                "still_failing": len(targets) - resolved,
                **({} if resolved == len(targets) else
                   {"category": rows[0].category if rows else "transient",
                    "message": f"{len(targets) - resolved} of {len(targets)} records still fail"})}

    def retry_due(self, connector_id: int, now: datetime | None = None) -> dict:
        """The automatic retries of transient and limit errors whose backoff has passed (R27)."""
        with self.store.session() as s:
            c = s.get(Connector, connector_id)
            if c is None or c.state == "paused":
                return {"retried": 0}
            ids = [e.id for e in errorqueue.due(s, connector_id, now)]
        if not ids:
            return {"retried": 0}
        return self.retry_errors(connector_id, ids)


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


def _prefix_object(crm_id: str) -> str | None:
    return KEY_PREFIX.get(crm_id[:3])


def _soql_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _deleted_in_crm(link) -> dict:
    return _failure("deleted", "DELETED_IN_SALESFORCE",
                    f"prospect {link.prospect_id} is linked to {link.crm_type} {link.crm_id}, which was deleted "
                    "in Salesforce; the connector does not re-create it (R19)",
                    prospect_id=link.prospect_id, crm_id=link.crm_id)


def _failure(category: str, code: str, message: str, **ids) -> dict:
    return {"ok": False, "category": category, "code": code, "message": message, **ids}
