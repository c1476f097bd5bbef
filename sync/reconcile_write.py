"""Reconcile, step two: write the plan. Salesforce first, through collections (≤200 a call),
since new leads need their ids before Pardot learns the link (R10); then Pardot, with up to
five calls in flight, or deferred to one bulk import in a cycle (sync.bulk)."""
from __future__ import annotations

from .merge import normalize
from .models import utcnow
from .reconcile_types import Context, CreateLead, CreateProspect, Pair
from .records import CrmRow, link_values, prospect_row
from .remote import RemoteCallError


class Writer:
    """Reconciler's writes to both sides (a mixin: Reconciler sets self.ctx)."""

    ctx: Context

    def _write_salesforce(self, pairs: dict[int, Pair], lead_creates: list[CreateLead]) -> None:
        ctx = self.ctx
        if lead_creates:
            results = ctx.sf.create("Lead", [c.sf_values for c in lead_creates])
            now = utcnow()
            for c, res in zip(lead_creates, results):
                if res.ok:
                    values = {m.pardot_field: normalize(c.sf_values.get(m.lead_field)) for m in ctx.mappings
                              if m.lead_field}
                    # in_mds: the lead was created with the MDS value (R24).
                    c.crm = CrmRow(res.id, "Lead", c.prospect.email, now, False, None, True,
                                   c.sf_values.get("OwnerId"), values)
                else:
                    c.error = res.error
        by_object: dict[str, list[Pair]] = {}
        for pair in pairs.values():
            if pair.sf_changes:
                by_object.setdefault(pair.crm.sobject, []).append(pair)
        for sobject, group in by_object.items():
            records = []
            for pair in group:
                record = {"Id": pair.crm.crm_id}
                for m in ctx.mappings:
                    if m.pardot_field in pair.sf_changes and m.field_for(sobject):
                        record[m.field_for(sobject)] = pair.sf_changes[m.pardot_field]
                records.append(record)
            for pair, res in zip(group, ctx.sf.update(sobject, records)):
                if not res.ok:
                    pair.sf_error = res.error

    def _write_pardot(self, pairs: dict[int, Pair], creates: list[CreateProspect],
                      lead_creates: list[CreateLead]) -> None:
        calls, targets = [], []
        self._pardot_pair_calls(pairs, calls, targets)
        # A new lead's link is in our store already (R10): Pardot hears of it only through the
        # admin's custom field, if one is named.
        lead_links = [lc for lc in lead_creates if lc.crm is not None and self.ctx.crm_field]
        if self.ctx.deferred is not None:
            creates, lead_links = self._defer_creates(creates, lead_links)
        self._pardot_create_calls(creates, lead_links, calls, targets)
        if not calls:
            return
        self._apply_pardot_results(targets, self.ctx.pardot.run_concurrently(calls))

    def _pardot_pair_calls(self, pairs: dict[int, Pair], calls: list, targets: list) -> None:
        """Deletes, undeletes and updates of linked prospects (updates deferred in a cycle)."""
        ctx, fields = self.ctx, self.ctx.prospect_fields
        for pair in pairs.values():
            pid = pair.prospect.prospect_id
            if pair.pardot_action == "delete":
                calls.append(lambda pid=pid: ctx.pardot.delete_prospect(pid))
                targets.append(("delete", pair))
                continue
            if pair.pardot_action == "undelete":
                calls.append(lambda pid=pid, ch=dict(pair.pardot_changes): _undelete_then_update(ctx, pid, ch, fields))
                targets.append(("update", pair))
                continue
            if pair.pardot_changes and pair.pardot_action != "none":
                # An import cannot clear a field (an empty cell is no value), so clearing goes singly.
                if ctx.deferred is not None and None not in pair.pardot_changes.values():
                    pair.deferred = True
                    ctx.deferred.append(pair)
                    ctx.waiting_crm.add(pair.crm.crm_id)
                    ctx.waiting_prospects.add(pid)
                    continue
                calls.append(lambda pid=pid, ch=dict(pair.pardot_changes):
                             ctx.pardot.update_prospect(pid, ch, fields))
                targets.append(("update", pair))

    def _defer_creates(self, creates: list[CreateProspect], lead_links: list[CreateLead]):
        """In a cycle, creates and new leads' links wait for the bulk import; what is left goes
        singly. Without a CRM id on the prospect, an import's new prospects could not be told
        apart under AMPSEA (same email, no writable link field): those creates go singly, their
        answers carry the new ids."""
        ctx = self.ctx
        bulk = [c for c in creates if not ctx.ampsea or ctx.crm_field]
        for item in bulk + lead_links:
            item.deferred = True
        ctx.deferred.extend(bulk)
        ctx.waiting_crm.update(c.crm.crm_id for c in bulk)
        ctx.deferred.extend(lead_links)
        ctx.waiting_prospects.update(lc.prospect.prospect_id for lc in lead_links)
        ctx.waiting_crm.update(lc.crm.crm_id for lc in lead_links)
        return [c for c in creates if not c.deferred], []

    def _pardot_create_calls(self, creates: list[CreateProspect], lead_links: list[CreateLead], calls: list,
                             targets: list) -> None:
        ctx, fields = self.ctx, self.ctx.prospect_fields
        for c in creates:
            if ctx.ampsea:
                calls.append(lambda v=dict(c.values): ctx.pardot.create_prospect(v, fields))
            else:
                email = c.values.get("email") or c.crm.email
                calls.append(lambda e=email, v=dict(c.values): ctx.pardot.upsert_latest_by_email(e, v, fields))
            targets.append(("create", c))
        for lc in lead_links:
            pid = lc.prospect.prospect_id
            calls.append(lambda pid=pid, v=link_values(ctx.crm_field, lc.crm.crm_id):
                         ctx.pardot.update_prospect(pid, v, fields))
            targets.append(("lead_link", lc))

    def _apply_pardot_results(self, targets: list, results: list) -> None:
        ctx = self.ctx
        for (kind, target), res in zip(targets, results):
            error = res.error if isinstance(res, RemoteCallError) else None
            if kind == "delete":
                if error and error.category == "deleted":
                    error = None  # already gone: the goal is reached
                target.pardot_error = error
                if not error:
                    target.prospect.is_deleted = True
            elif kind == "update":
                target.pardot_error = error
                if not error and isinstance(res, dict):
                    target.prospect = prospect_row(res, ctx.mappings, ctx.crm_field)
            elif kind == "create":
                target.error = error
                if not error:
                    target.result = prospect_row(res, ctx.mappings, ctx.crm_field)
            elif kind == "lead_link":
                if error:
                    target.error = error
                elif isinstance(res, dict):
                    target.prospect = prospect_row(res, ctx.mappings, ctx.crm_field)


def _undelete_then_update(ctx, prospect_id, changes, fields):
    restored = ctx.pardot.undelete_prospect(prospect_id, fields)
    return ctx.pardot.update_prospect(prospect_id, changes, fields) if changes else restored
