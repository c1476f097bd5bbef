"""The engine's manual syncs (R6: "Sync with CRM", "Send to Pardot", also while paused) and
retries of the error queue (R27): a few records fetched fresh and reconciled at once."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from . import errorqueue
from .ingest import chunks, store_crm_page, store_prospect_page
from .models import Connector, RecordLink, SyncError
from .names import SYNC_OBJECTS, sobject_of_id
from .reconcile import Context, Reconciler
from .records import EMAIL_FIELD, OBJECT_FILTER, crm_row, prospect_row, sf_fields
from .remote import RemoteCallError


class ManualSync:
    """Engine's manual syncs and retries (a mixin: Engine sets store and rt, and has _context)."""

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
                    return _failure("not_found", "NOT_FOUND", f"Pardot has no prospect {prospect_id}")
            else:
                found = sorted(ctx.pardot.query("prospects", ctx.prospect_fields, email=email),
                               key=lambda r: r.get("updatedAt") or "", reverse=True)
                if not found:
                    return _failure("not_found", "NOT_FOUND", f"Pardot has no prospect with email {email}")
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
                return _failure("not_found", "NOT_FOUND", f"Salesforce has no {sobject} {crm_id} "
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
            ids = [i for i in crm_ids if sobject_of_id(i) == sobject]
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




def _soql_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _deleted_in_crm(link) -> dict:
    return _failure("deleted", "DELETED_IN_SALESFORCE",
                    f"prospect {link.prospect_id} is linked to {link.crm_type} {link.crm_id}, which was deleted "
                    "in Salesforce; the connector does not re-create it (R19)",
                    prospect_id=link.prospect_id, crm_id=link.crm_id)


def _failure(category: str, code: str, message: str, **ids) -> dict:
    return {"ok": False, "category": category, "code": code, "message": message, **ids}
