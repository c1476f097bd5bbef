"""Reconcile, step one: load the chunk's records, match the unlinked ones and plan each pair's
writes from the local mirrors alone (R8–R12, R19–R24)."""
from __future__ import annotations

from sqlalchemy import select

from .merge import merge
from .models import CrmRecord, Prospect, RecordLink
from .reconcile_types import NOT_PROVIDED, S2P, TYPE_RANK, Context, CreateLead, Pair
from .records import CrmRow, ProspectRow, link_values


class Matcher:
    """Reconciler's loading, matching and planning (a mixin: Reconciler sets self.ctx)."""

    ctx: Context

    # ------------------------------------------------------------------ loading
    def _links(self, s, crm_ids, prospect_ids):
        ctx = self.ctx
        by_crm, by_prospect = {}, {}
        conditions = []
        if crm_ids:
            conditions.append(RecordLink.crm_id.in_(crm_ids))
        if prospect_ids:
            conditions.append(RecordLink.prospect_id.in_(prospect_ids))
        for cond in conditions:
            for link in s.scalars(select(RecordLink).where(RecordLink.connector_id == ctx.connector_id, cond)):
                by_crm[link.crm_id] = link
                by_prospect[link.prospect_id] = link
        return by_crm, by_prospect

    def _load_missing(self, s, crm, prospects, links_by_crm, links_by_prospect):
        ctx = self.ctx
        need_p = [link.prospect_id for link in links_by_crm.values() if link.prospect_id not in prospects]
        if need_p:
            for p in s.execute(select(Prospect.__table__).where(Prospect.connector_id == ctx.connector_id,
                                                      Prospect.prospect_id.in_(need_p))):
                prospects[p.prospect_id] = ProspectRow.from_model(p)
        need_c = [link.crm_id for link in links_by_prospect.values() if link.crm_id not in crm]
        if need_c:
            for r in s.execute(select(CrmRecord.__table__).where(CrmRecord.connector_id == ctx.connector_id,
                                                       CrmRecord.crm_id.in_(need_c))):
                crm[r.crm_id] = CrmRow.from_model(r)

    def _converted_lead_link(self, s, contact_id, links_by_crm):
        lead = self._converted_from.get(contact_id)
        if lead is None:
            return None
        return links_by_crm.get(lead.crm_id) or self._links_of_lead.get(lead.crm_id)

    # ------------------------------------------------------------------ prefetching
    # One query per kind for a whole chunk instead of one per record (issue 11): what the
    # matchers below would ask for each unlinked record, read up front. The prospect side is
    # read after the CRM side has paired, so it sees the links that pairing deleted (R8).
    def _prefetch_for_crm(self, s, rows: list[CrmRow], links_by_crm) -> None:
        ctx = self.ctx
        unlinked = [r for r in rows if r.crm_id not in links_by_crm]
        contacts = [r.crm_id for r in unlinked if r.sobject == "Contact"]
        self._converted_from = {}
        for part in _parts(contacts):
            for lead in s.execute(select(CrmRecord.__table__).where(CrmRecord.connector_id == ctx.connector_id,
                                                          CrmRecord.converted_to.in_(part))):
                self._converted_from.setdefault(lead.converted_to, lead)
        matchable = [r for r in unlinked if not r.is_deleted and not r.converted_to and r.in_mds and r.email]
        self._prospects_by_key: dict = {}
        column = Prospect.crm_id if ctx.ampsea else Prospect.email
        keys = sorted({r.crm_id if ctx.ampsea else r.email for r in matchable})
        found = []
        for part in _parts(keys):
            found.extend(s.execute(select(Prospect.__table__).where(Prospect.connector_id == ctx.connector_id, column.in_(part),
                                                          Prospect.is_deleted.is_(False))))
        found.sort(key=lambda p: p.updated_at, reverse=True)
        for p in found:
            self._prospects_by_key.setdefault(p.crm_id if ctx.ampsea else p.email, []).append(p)
        self._links_of_prospect = {}
        ids = [p.prospect_id for p in found]
        for part in _parts(ids):
            for link in s.scalars(select(RecordLink).where(RecordLink.connector_id == ctx.connector_id,
                                                           RecordLink.prospect_id.in_(part))):
                self._links_of_prospect[link.prospect_id] = link
        lead_ids = [lead.crm_id for lead in self._converted_from.values()]
        self._links_of_lead = {}
        for part in _parts(lead_ids):
            for link in s.scalars(select(RecordLink).where(RecordLink.connector_id == ctx.connector_id,
                                                           RecordLink.crm_id.in_(part))):
                self._links_of_lead[link.crm_id] = link

    def _prefetch_for_prospects(self, s, prospects: list[ProspectRow], links_by_prospect) -> None:
        ctx = self.ctx
        unlinked = [p for p in prospects if p.prospect_id not in links_by_prospect and not p.is_deleted]
        by_id = sorted({p.crm_id for p in unlinked if p.crm_id})
        emails = sorted({p.email for p in unlinked if p.email}) if not ctx.ampsea else []
        self._crm_by_id, self._crm_by_email = {}, {}
        for part in _parts(by_id):
            for r in s.execute(select(CrmRecord.__table__).where(CrmRecord.connector_id == ctx.connector_id,
                                                       CrmRecord.crm_id.in_(part))):
                self._crm_by_id[r.crm_id] = r
        for part in _parts(emails):
            for r in s.execute(select(CrmRecord.__table__).where(
                    CrmRecord.connector_id == ctx.connector_id, CrmRecord.email.in_(part),
                    CrmRecord.is_deleted.is_(False), CrmRecord.converted_to.is_(None),
                    CrmRecord.in_mds.is_(True))):
                self._crm_by_email.setdefault(r.email, []).append(r)
        crm_ids = list(self._crm_by_id) + [r.crm_id for rs in self._crm_by_email.values() for r in rs]
        self._links_of_crm = {}
        for part in _parts(sorted(set(crm_ids))):
            for link in s.scalars(select(RecordLink).where(RecordLink.connector_id == ctx.connector_id,
                                                           RecordLink.crm_id.in_(part))):
                self._links_of_crm[link.crm_id] = link

    # ------------------------------------------------------------------ matching
    def _match_crm(self, s, row: CrmRow, claimed_prospects, links_by_prospect):
        """An unlinked Salesforce record: link to a prospect, create one, or say why not."""
        ctx = self.ctx
        if row.is_deleted:
            return ("deleted_unlinked", "deleted in Salesforce before it was ever synced")
        if row.converted_to:
            return ("converted", f"converted to contact {row.converted_to} (R20)")
        if not row.in_mds:
            return ("outside_mds", "does not match the MDS rule (R22)")
        if not row.email:
            return ("no_email", "has no email address, so no prospect is created (R11)")
        if ctx.ampsea:
            # R9: the CRM id is the only key; a prospect already carrying this id is ours.
            found = self._prospects_by_key.get(row.crm_id)
            p = found[0] if found else None
            return ProspectRow.from_model(p) if p is not None and p.prospect_id not in claimed_prospects else "create"
        for p in self._prospects_by_key.get(row.email, ()):  # newest first
            if p.prospect_id in claimed_prospects:
                return ("email_taken", f"prospect {p.prospect_id} with this email syncs with a better match (R8)")
            link = links_by_prospect.get(p.prospect_id) or self._links_of_prospect.get(p.prospect_id)
            if link is None:
                return ProspectRow.from_model(p)
            if TYPE_RANK[row.sobject] < TYPE_RANK.get(link.crm_type, 1):
                links_by_prospect[p.prospect_id] = link
                return ProspectRow.from_model(p)
            return ("email_taken", f"prospect {p.prospect_id} with this email syncs with "
                                   f"{link.crm_type} {link.crm_id} (R8)")
        return "create"

    def _match_prospect(self, s, p: ProspectRow, claimed_crm, links_by_crm):
        """An unlinked prospect: link to a CRM record, create a lead, or say why not (R8, R9, R12)."""
        ctx = self.ctx
        if p.is_deleted:
            return ("prospect_deleted", "in the Pardot recycle bin")
        if p.crm_id:
            r = self._crm_by_id.get(p.crm_id)
            if r is not None and r.crm_id not in claimed_crm and not r.is_deleted:
                if self._links_of_crm.get(r.crm_id) is None:
                    return CrmRow.from_model(r)
        if not ctx.ampsea and p.email:
            rows = [r for r in self._crm_by_email.get(p.email, ()) if r.crm_id not in claimed_crm]
            rows.sort(key=lambda r: (TYPE_RANK[r.sobject], -r.modstamp.timestamp()))
            for r in rows:
                linked = links_by_crm.get(r.crm_id) or self._links_of_crm.get(r.crm_id)
                if linked is None:
                    return CrmRow.from_model(r)
                return ("email_taken", f"{r.sobject} {r.crm_id} with this email syncs with prospect "
                                       f"{linked.prospect_id}")
        if p.assigned_to_id is None:
            return ("unassigned_no_match", "unassigned and no Salesforce record has this email: "
                                           "no lead is created until it is assigned (R12)")
        return "create"

    # ------------------------------------------------------------------ planning
    def _prospect_create_values(self, row: CrmRow) -> dict:
        values = {m.pardot_field: row.values.get(m.pardot_field) for m in self.ctx.mappings
                  if m.behaviour != "pardot" and m.field_for(row.sobject)
                  and row.values.get(m.pardot_field) is not None}
        values.update(link_values(self.ctx.crm_field, row.crm_id))
        return values

    def _lead_create(self, p: ProspectRow) -> CreateLead | None:
        ctx = self.ctx
        values, merged = {}, {}
        for m in ctx.mappings:
            v = p.values.get(m.pardot_field)
            if m.lead_field and v is not None:
                values[m.lead_field] = v
                merged[m.pardot_field] = v
        for name, pf in (("LastName", "lastName"), ("Company", "company")):
            if not values.get(name):
                values[name] = NOT_PROVIDED
                merged[pf] = NOT_PROVIDED
        owner = ctx.user_map.get(p.assigned_to_id) or ctx.owner_fallback
        if owner:
            values["OwnerId"] = owner
        rule = ctx.mds_rules.get("Lead")
        if rule:  # R24: what the connector creates matches the MDS rule
            values[rule[0]] = rule[1]
        return CreateLead(p, values, merged)

    def _plan(self, pair: Pair) -> None:
        ctx = self.ctx
        crm, p, link = pair.crm, pair.prospect, pair.link
        if crm.converted_to and crm.sobject == "Lead":
            # R20: the prospect follows the lead to its contact.
            link.crm_id, link.crm_type = crm.converted_to, "Contact"
            pair.pardot_changes = link_values(ctx.crm_field, crm.converted_to)
            pair.action = "relinked"
            return
        if crm.is_deleted:
            # R19: to the recycle bin, remembered as deleted in the CRM.
            pair.action = "deleted"
            pair.pardot_action = "none" if p.is_deleted else "delete"
            link.deleted_in_crm = True
            return
        if not crm.in_mds:
            # R24: a record that stops matching the MDS rule sends its prospect to the recycle bin.
            pair.action = "outside_mds"
            pair.pardot_action = "none" if p.is_deleted else "delete"
            link.outside_mds = True
            return
        if link.deleted_in_crm or link.outside_mds:
            # Undeleted in Salesforce, or matching MDS again: the prospect comes back.
            link.deleted_in_crm = link.outside_mds = False
            if p.is_deleted:
                pair.pardot_action = "undelete"
            pair.action = "restored"
        elif p.is_deleted and not pair.new_link:
            pair.action, pair.pardot_action = "prospect_deleted", "none"
            return
        result = merge(ctx.mappings, crm.sobject, crm.values, p.values, pair.base, crm.modstamp, p.updated_at)
        if "email" in result.to_pardot and not pair.new_link and not ctx.follow_email \
                and pair.base.get("email") is not None and crm.values.get("email") != pair.base.get("email"):
            # R21 with "follow email changes" off: unlink and report.
            pair.action, pair.pardot_action = "unlinked_email_change", "none"
            return
        pair.merged = result.merged
        pair.sf_changes = result.to_salesforce
        pair.pardot_changes = dict(result.to_pardot)
        if ctx.crm_field and p.values.get(ctx.crm_field) != link.crm_id:
            # R10: the link is ours; the admin's custom field shows it in Pardot too.
            pair.pardot_changes.update(link_values(ctx.crm_field, link.crm_id))
        if pair.new_link:
            pair.action = "linked"
        elif not pair.sf_changes and not pair.pardot_changes and pair.pardot_action != "undelete":
            pair.action = "unchanged"
            ctx.count(S2P, "unchanged")


def _parts(values: list, size: int = 500) -> list[list]:
    """IN lists of bounded length (SQLite's and drivers' parameter limits)."""
    return [values[i:i + size] for i in range(0, len(values), size)]
