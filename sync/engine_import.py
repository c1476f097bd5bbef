"""The engine's bulk path (sync.bulk): a cycle's deferred prospect creates, link writes and
updates go to Pardot as imports; the written prospects are read back and linked from the mirror."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from . import errorqueue
from .bulk import BulkRow, run_import
from .ingest import BATCH, chunks, ingest_prospects
from .models import PendingChange, Prospect, utcnow
from .reconcile import S2P, Context, Reconciler
from .records import ProspectRow, link_values, pardot_datetime
from .remote import RemoteError
from .serialize import error_dict

# Read-back pages fetched ahead while created records are linked: two steps' worth.
READ_BACK_AHEAD = 2 * BATCH // 1000


class BulkImport:
    """Engine's imports (a mixin: Engine sets self.store)."""

    def _import(self, ctx: Context, creates: list, links: list, updates: list) -> datetime | None:
        """Bulk path: imports, then read the written prospects back and link them from the mirror.

        The linking overlaps the read-back (issue 11): a create pairs up as soon as the batch
        holding its prospect is in the mirror, while the next pages are already in flight."""
        started = utcnow() - timedelta(seconds=2)
        failed, failed_link, failed_update = _run_imports(ctx, creates, links, updates)
        self._record_import_failures(ctx, creates, links, failed, failed_link)
        # Which prospect each create waits for: its email, or its CRM id in the admin's field.
        waiting: dict[str, list[str]] = {}
        for c in creates:
            if c.crm.crm_id not in failed:
                waiting.setdefault(c.crm.crm_id if ctx.ampsea else (c.crm.email or ""), []).append(c.crm.crm_id)
        ready: list[str] = []

        def link_ready(rows: list) -> None:
            for p in rows:
                ready.extend(waiting.pop(p.crm_id if ctx.ampsea else (p.email or ""), ()))
            while len(ready) >= BATCH:
                Reconciler(ctx).process(ready[:BATCH], [])
                del ready[:BATCH]

        stats: dict = {}
        read_back = ctx.pardot.query("prospects", ctx.prospect_fields, read_ahead_pages=READ_BACK_AHEAD,
                                     deleted="all", orderBy="updatedAt",
                                     updatedAtAfterOrEqualTo=pardot_datetime(started))
        newest = ingest_prospects(self.store, ctx.connector_id, read_back, ctx.mappings, stats, ctx.crm_field,
                                  stored=link_ready)
        ctx.count(S2P, "created", sum(1 for c in creates if c.crm.crm_id not in failed))
        if updates:
            self._commit_imported_updates(ctx, updates, failed_update)
        # Creates whose prospect the read-back did not show pair up (or are reported) now.
        rest = ready + [crm_id for ids in waiting.values() for crm_id in ids]
        for sf_batch in chunks(rest, BATCH):
            Reconciler(ctx).process(sf_batch, [])
        # What the read-back queued and those pairs did not settle (other changes in the window).
        with self.store.session() as s:
            waiting_p = [int(rid) for rid in s.scalars(select(PendingChange.record_id).where(
                PendingChange.connector_id == ctx.connector_id, PendingChange.side == "pardot",
                PendingChange.queued_at >= started))]
        waiting_p = sorted(set(waiting_p) | {lc.prospect.prospect_id for lc in links if lc.crm.crm_id not in failed_link})
        for p_batch in chunks(waiting_p, BATCH):
            Reconciler(ctx).process([], p_batch)
        return newest

    def _record_import_failures(self, ctx: Context, creates: list, links: list, failed: dict,
                                failed_link: dict) -> None:
        """Rejected create and link rows go to the error queue, and off the pending list."""
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

    def _commit_imported_updates(self, ctx: Context, updates: list, failed_update: dict) -> None:
        with self.store.session() as s:
            fresh = {m.prospect_id: ProspectRow.from_model(m) for m in s.scalars(select(Prospect).where(
                Prospect.connector_id == ctx.connector_id,
                Prospect.prospect_id.in_([p.prospect.prospect_id for p in updates])))}
        for pair in updates:
            pair.pardot_error = failed_update.get(str(pair.prospect.prospect_id))
            if pair.pardot_error is None and pair.prospect.prospect_id in fresh:
                pair.prospect = fresh[pair.prospect.prospect_id]
        for batch in chunks(updates, BATCH):
            Reconciler(ctx).commit_updates(batch)

    @staticmethod
    def _import_failure(s, ctx: Context, sobject: str, crm_id: str, error: RemoteError, prospect_id, email) -> None:
        entry, fresh = errorqueue.record_failure(s, ctx.connector_id, S2P, sobject, crm_id, error,
                                                 prospect_id=prospect_id, crm_id=crm_id, email=email)
        ctx.count(S2P, "failed")
        if fresh:
            s.flush()
            ctx.new_errors.append(error_dict(entry))


def _run_imports(ctx: Context, creates: list, links: list, updates: list):
    """The imports; which rows each refused. One failure map per kind of row: creates and link
    writes are keyed by CRM id, updates by prospect id (a shared map made a rejected update row a
    KeyError: issue 9 item 2)."""
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
    return failed, failed_link, failed_update
