"""Working off changed records, a chunk at a time (R8–R16, R18–R21, R24, R25).

For a chunk of changed Salesforce records and prospects it decides, from the
local mirrors alone, what to link, create, update, delete or undelete; then it
writes Salesforce through collections (≤200 a call) and Pardot with up to five
calls in flight, and records every per-record failure in the error queue."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, select

from . import errorqueue
from .mapping import Mapping
from .merge import fingerprint, merge, normalize
from .models import CrmRecord, PendingChange, Prospect, RecordLink, RecordState, utcnow
from .records import CrmRow, ProspectRow, link_values, prospect_row
from .remote import RemoteCallError, RemoteError
from .upsert import upsert

log = logging.getLogger("connector.reconcile")
S2P, P2S = "salesforce_to_pardot", "pardot_to_salesforce"
NOT_PROVIDED = "[not provided]"  # what Pardot's own connector puts in required Lead fields
TYPE_RANK = {"Contact": 0, "Account": 0, "Lead": 1}  # R8: a contact wins over a lead


@dataclass
class Context:
    connector_id: int
    version: int
    ampsea: bool
    auto_create: bool
    follow_email: bool
    mds_rules: dict  # sobject → (field, value)
    mappings: list[Mapping]
    owner_fallback: str | None  # the connector user's Salesforce id (R12)
    user_map: dict  # Pardot user id → Salesforce user id
    sf: object
    pardot: object
    store: object
    prospect_fields: list[str]
    stats: dict = field(default_factory=lambda: {S2P: {}, P2S: {}})
    new_errors: list = field(default_factory=list)
    # In a cycle: prospect creates and link writes wait here for one bulk import (sync.bulk).
    deferred: list | None = None
    # Records whose writes wait in `deferred`: later chunks of the same run must treat them as
    # taken, or the other half of a pair (read in a later chunk of 200) pairs up a second time
    # and its link is added twice (issue 9 item 1).
    waiting_crm: set = field(default_factory=set)
    waiting_prospects: set = field(default_factory=set)
    # The admin's custom prospect field carrying the CRM id (setting "crm_id_field"), or None.
    crm_field: str | None = None

    def count(self, direction: str, what: str, n: int = 1) -> None:
        self.stats[direction][what] = self.stats[direction].get(what, 0) + n

    def mds_for(self, sobject: str):
        # Person accounts follow the Contact rule: they are contacts to Pardot.
        return self.mds_rules.get("Contact" if sobject == "Account" else sobject)


@dataclass
class Pair:
    link: RecordLink
    crm: CrmRow
    prospect: ProspectRow
    new_link: bool = False
    base: dict = field(default_factory=dict)
    merged: dict = field(default_factory=dict)
    sf_changes: dict = field(default_factory=dict)  # Pardot field → value
    pardot_changes: dict = field(default_factory=dict)  # Pardot API field → value
    pardot_action: str = "update"  # update | delete | undelete | none
    action: str = "updated"
    sf_error: RemoteError | None = None
    pardot_error: RemoteError | None = None
    deferred: bool = False  # its Pardot update waits for a bulk import (sync.bulk)


@dataclass
class CreateProspect:
    crm: CrmRow
    values: dict
    result: ProspectRow | None = None
    error: RemoteError | None = None
    deferred: bool = False  # waits for a bulk import (sync.bulk)


@dataclass
class CreateLead:
    prospect: ProspectRow
    sf_values: dict
    merged: dict
    crm: CrmRow | None = None
    error: RemoteError | None = None
    committed: bool = False  # the lead and its link are stored; only Pardot's copy of the link is due
    deferred: bool = False  # Pardot's copy of the link waits for a bulk import (sync.bulk)


class Reconciler:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.outcomes: dict[tuple[str, str], dict] = {}

    # ------------------------------------------------------------------ entry point
    def process(self, sf_ids: list[str], prospect_ids: list[int], force: bool = False,
                create_prospects: bool | None = None) -> dict:
        """Reconcile these records; `force` is a manual sync (R6: also while paused)."""
        ctx = self.ctx
        create_prospects = ctx.auto_create if create_prospects is None else create_prospects
        pairs: dict[int, Pair] = {}  # by prospect id
        prospect_creates: list[CreateProspect] = []
        lead_creates: list[CreateLead] = []
        states: list[tuple[str, str, str, str | None]] = []  # side, id, state, detail
        with ctx.store.session() as s:
            crm = {r.crm_id: CrmRow.from_model(r) for r in s.scalars(select(CrmRecord).where(
                CrmRecord.connector_id == ctx.connector_id, CrmRecord.crm_id.in_(sf_ids)))} if sf_ids else {}
            prospects = {p.prospect_id: ProspectRow.from_model(p) for p in s.scalars(select(Prospect).where(
                Prospect.connector_id == ctx.connector_id, Prospect.prospect_id.in_(prospect_ids)))} \
                if prospect_ids else {}
            links_by_crm, links_by_prospect = self._links(s, list(crm), list(prospects))
            # The other half of every linked record.
            self._load_missing(s, crm, prospects, links_by_crm, links_by_prospect)
            # Records already waiting for an import are claimed: they pair up when it is done.
            claimed_crm, claimed_prospects = set(ctx.waiting_crm), set(ctx.waiting_prospects)
            creating_emails: set[str] = set()

            # R8: among records sharing an email, a contact before a lead, then the most recent.
            order = sorted((crm[i] for i in sf_ids if i in crm),
                           key=lambda r: (r.email or "", TYPE_RANK[r.sobject], -r.modstamp.timestamp()))
            for row in order:
                crm_id = row.crm_id
                if crm_id in ctx.waiting_crm:
                    continue
                link = links_by_crm.get(crm_id)
                if link is None and row.sobject == "Contact":
                    link = self._converted_lead_link(s, crm_id, links_by_crm)  # R20, contact seen first
                    if link is not None:
                        link.crm_id, link.crm_type = crm_id, "Contact"
                        links_by_crm[crm_id] = link
                if link is not None:
                    p = prospects.get(link.prospect_id)
                    if p is None:
                        states.append(("salesforce", crm_id, "prospect_missing",
                                       f"linked prospect {link.prospect_id} is not in the mirror yet"))
                        continue
                    if link.prospect_id in ctx.waiting_prospects:
                        continue
                    pairs.setdefault(link.prospect_id, Pair(link, row, p, base=dict(link.synced_values or {})))
                    claimed_crm.add(crm_id)
                    claimed_prospects.add(link.prospect_id)
                    continue
                decision = self._match_crm(s, row, claimed_prospects, links_by_prospect)
                if isinstance(decision, ProspectRow):
                    link = RecordLink(connector_id=ctx.connector_id, prospect_id=decision.prospect_id,
                                      crm_id=row.crm_id, crm_type=row.sobject, synced_values={})
                    old = links_by_prospect.get(decision.prospect_id)
                    if old is not None:  # R8: a contact takes the prospect over from a lead
                        s.delete(old)
                        s.flush()
                    pairs[decision.prospect_id] = Pair(link, row, decision, new_link=True)
                    prospects[decision.prospect_id] = decision
                    claimed_crm.add(crm_id)
                    claimed_prospects.add(decision.prospect_id)
                elif decision == "create":
                    if not ctx.ampsea and row.email in creating_emails:
                        states.append(("salesforce", crm_id, "email_taken",
                                       "a better match with this email creates the prospect (R8)"))
                    elif create_prospects or force:
                        prospect_creates.append(CreateProspect(row, self._prospect_create_values(row)))
                        claimed_crm.add(crm_id)
                        creating_emails.add(row.email)
                    else:
                        states.append(("salesforce", crm_id, "not_created",
                                       "auto-create prospects is off (R11)"))
                else:
                    states.append(("salesforce", crm_id, decision[0], decision[1]))

            for pid in prospect_ids:
                p = prospects.get(pid)
                if p is None or pid in claimed_prospects:
                    continue
                link = links_by_prospect.get(pid)
                if link is not None:
                    if link.crm_id in ctx.waiting_crm:
                        continue
                    row = crm.get(link.crm_id)
                    if row is None:
                        states.append(("pardot", str(pid), "crm_missing",
                                       f"linked {link.crm_type} {link.crm_id} is not in the mirror yet"))
                        continue
                    pairs[pid] = Pair(link, row, p, base=dict(link.synced_values or {}))
                    claimed_crm.add(row.crm_id)
                    claimed_prospects.add(pid)
                    continue
                decision = self._match_prospect(s, p, claimed_crm, links_by_crm)
                if isinstance(decision, CrmRow):
                    link = RecordLink(connector_id=ctx.connector_id, prospect_id=pid, crm_id=decision.crm_id,
                                      crm_type=decision.sobject, synced_values={})
                    pairs[pid] = Pair(link, decision, p, new_link=True)
                    claimed_crm.add(decision.crm_id)
                    claimed_prospects.add(pid)
                elif decision == "create":
                    lead = self._lead_create(p)
                    if lead is None:
                        states.append(("pardot", str(pid), "outside_mds", "no MDS value to give a new lead"))
                    else:
                        lead_creates.append(lead)
                        claimed_prospects.add(pid)
                else:
                    states.append(("pardot", str(pid), decision[0], decision[1]))

            for pair in pairs.values():
                self._plan(pair)

        # Salesforce first: new leads need their ids before Pardot learns the link (R10).
        self._write_salesforce(pairs, lead_creates)
        self._write_pardot(pairs, prospect_creates, lead_creates)
        self._commit(sf_ids, prospect_ids, pairs, prospect_creates, lead_creates, states)
        return self.outcomes

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
            for p in s.scalars(select(Prospect).where(Prospect.connector_id == ctx.connector_id,
                                                      Prospect.prospect_id.in_(need_p))):
                prospects[p.prospect_id] = ProspectRow.from_model(p)
        need_c = [link.crm_id for link in links_by_prospect.values() if link.crm_id not in crm]
        if need_c:
            for r in s.scalars(select(CrmRecord).where(CrmRecord.connector_id == ctx.connector_id,
                                                       CrmRecord.crm_id.in_(need_c))):
                crm[r.crm_id] = CrmRow.from_model(r)

    def _converted_lead_link(self, s, contact_id, links_by_crm):
        lead = s.scalars(select(CrmRecord).where(CrmRecord.connector_id == self.ctx.connector_id,
                                                 CrmRecord.converted_to == contact_id)).first()
        if lead is None:
            return None
        return links_by_crm.get(lead.crm_id) or s.scalars(select(RecordLink).where(
            RecordLink.connector_id == self.ctx.connector_id, RecordLink.crm_id == lead.crm_id)).first()

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
            p = s.scalars(select(Prospect).where(Prospect.connector_id == ctx.connector_id,
                                                 Prospect.crm_id == row.crm_id,
                                                 Prospect.is_deleted.is_(False))).first()
            return ProspectRow.from_model(p) if p is not None and p.prospect_id not in claimed_prospects else "create"
        candidates = s.scalars(select(Prospect).where(
            Prospect.connector_id == ctx.connector_id, Prospect.email == row.email,
            Prospect.is_deleted.is_(False)).order_by(Prospect.updated_at.desc())).all()
        for p in candidates:
            if p.prospect_id in claimed_prospects:
                return ("email_taken", f"prospect {p.prospect_id} with this email syncs with a better match (R8)")
            link = links_by_prospect.get(p.prospect_id) or s.scalars(select(RecordLink).where(
                RecordLink.connector_id == ctx.connector_id, RecordLink.prospect_id == p.prospect_id)).first()
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
            r = s.get(CrmRecord, (ctx.connector_id, p.crm_id))
            if r is not None and r.crm_id not in claimed_crm and not r.is_deleted:
                linked = s.scalars(select(RecordLink).where(RecordLink.connector_id == ctx.connector_id,
                                                            RecordLink.crm_id == r.crm_id)).first()
                if linked is None:
                    return CrmRow.from_model(r)
        if not ctx.ampsea and p.email:
            rows = s.scalars(select(CrmRecord).where(
                CrmRecord.connector_id == ctx.connector_id, CrmRecord.email == p.email,
                CrmRecord.is_deleted.is_(False), CrmRecord.converted_to.is_(None),
                CrmRecord.in_mds.is_(True))).all()
            rows = [r for r in rows if r.crm_id not in claimed_crm]
            rows.sort(key=lambda r: (TYPE_RANK[r.sobject], -r.modstamp.timestamp()))
            for r in rows:
                linked = links_by_crm.get(r.crm_id) or s.scalars(select(RecordLink).where(
                    RecordLink.connector_id == ctx.connector_id, RecordLink.crm_id == r.crm_id)).first()
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

    # ------------------------------------------------------------------ writing
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
        ctx, fields = self.ctx, self.ctx.prospect_fields
        calls, targets = [], []

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
        # Without a CRM id on the prospect, an import's new prospects could not be told apart
        # under AMPSEA (same email, no writable link field): those creates go singly, their
        # answers carry the new ids. A new lead's link is in our store already (R10): Pardot
        # hears of it only through the admin's custom field, if one is named.
        lead_links = [lc for lc in lead_creates if lc.crm is not None and ctx.crm_field]
        if ctx.deferred is not None:
            bulk = [c for c in creates if not ctx.ampsea or ctx.crm_field]
            for item in bulk + lead_links:
                item.deferred = True
            ctx.deferred.extend(bulk)
            ctx.waiting_crm.update(c.crm.crm_id for c in bulk)
            ctx.deferred.extend(lead_links)
            ctx.waiting_prospects.update(lc.prospect.prospect_id for lc in lead_links)
            ctx.waiting_crm.update(lc.crm.crm_id for lc in lead_links)
            creates, lead_links = [c for c in creates if not c.deferred], []
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
        if not calls:
            return
        results = ctx.pardot.run_concurrently(calls)
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

    # ------------------------------------------------------------------ bookkeeping
    def _fail(self, s, direction, sobject, key, error, prospect_id=None, crm_id=None, email=None):
        entry, fresh = errorqueue.record_failure(s, self.ctx.connector_id, direction, sobject, key, error,
                                                 prospect_id=prospect_id, crm_id=crm_id, email=email)
        self.ctx.count(direction, "failed")
        if fresh:
            s.flush()
            from .service import error_dict

            self.ctx.new_errors.append(error_dict(entry))
        return entry

    def _commit(self, sf_ids, prospect_ids, pairs, creates, lead_creates, states) -> None:
        ctx = self.ctx
        cid = ctx.connector_id
        now = utcnow()
        with ctx.store.session() as s:
            resolved_s2p, resolved_p2s = [], []
            waiting_pairs = [pr for pr in pairs.values() if pr.deferred]
            for pair in pairs.values():
                if pair.deferred:
                    continue  # its bookkeeping waits for the import
                crm, p, link = pair.crm, pair.prospect, pair.link
                out = {"ok": True, "action": pair.action, "prospect_id": p.prospect_id, "crm_id": link.crm_id,
                       "crm_type": link.crm_type}
                if pair.action == "unlinked_email_change":
                    if not pair.new_link and link.id is not None:
                        s.execute(delete(RecordLink).where(RecordLink.id == link.id))
                    err = RemoteError("validation", "EMAIL_CHANGE_UNLINKED",
                                      f"{crm.sobject} {crm.crm_id} changed its email and 'follow email changes' "
                                      f"is off: prospect {p.prospect_id} was unlinked (R21)")
                    self._fail(s, S2P, crm.sobject, crm.crm_id, err, p.prospect_id, crm.crm_id, crm.email)
                    out = {"ok": False, "category": err.category, "code": err.code, "message": err.message,
                           "prospect_id": p.prospect_id, "crm_id": crm.crm_id}
                    self._set_outcome(crm.crm_id, p.prospect_id, out)
                    continue
                failed_fields = set()
                if pair.sf_error:
                    failed_fields |= set(pair.sf_changes)
                    self._fail(s, P2S, crm.sobject, str(p.prospect_id), pair.sf_error, p.prospect_id,
                               crm.crm_id, p.email or crm.email)
                    out = {"ok": False, "category": pair.sf_error.category, "code": pair.sf_error.code,
                           "message": pair.sf_error.message, "prospect_id": p.prospect_id, "crm_id": crm.crm_id}
                else:
                    resolved_p2s.append(str(p.prospect_id))
                    if pair.sf_changes:
                        crm.values.update(pair.sf_changes)
                        ctx.count(P2S, "updated")
                if pair.pardot_error:
                    failed_fields |= set(pair.pardot_changes)
                    self._fail(s, S2P, crm.sobject, crm.crm_id, pair.pardot_error, p.prospect_id, crm.crm_id,
                               crm.email)
                    out = {"ok": False, "category": pair.pardot_error.category, "code": pair.pardot_error.code,
                           "message": pair.pardot_error.message, "prospect_id": p.prospect_id,
                           "crm_id": crm.crm_id}
                    if pair.new_link:
                        self._set_outcome(crm.crm_id, p.prospect_id, out)
                        continue  # the link exists only once Pardot carries it (R10)
                else:
                    resolved_s2p.append(crm.crm_id)
                    if pair.action in ("deleted", "outside_mds", "restored", "relinked", "linked"):
                        ctx.count(S2P, pair.action)
                    elif pair.pardot_changes:
                        ctx.count(S2P, "updated")
                if pair.merged:
                    base = dict(pair.base)
                    base.update({f: v for f, v in pair.merged.items() if f not in failed_fields})
                    link.synced_values = base
                    link.fingerprint = fingerprint(base)
                link.last_synced_at = now
                link.last_synced_to_salesforce = link.last_synced_to_salesforce if pair.sf_error else now
                link.last_synced_to_pardot = link.last_synced_to_pardot if pair.pardot_error else now
                if pair.new_link:
                    s.add(link)
                else:
                    s.merge(link)
                s.flush()
                upsert(s, Prospect, [p.as_row(cid)], ("connector_id", "prospect_id"))
                upsert(s, CrmRecord, [crm.as_row(cid)], ("connector_id", "crm_id"))
                self._set_outcome(crm.crm_id, p.prospect_id, out)

            deferred = ctx.deferred is not None
            for c in creates:
                if c.deferred:
                    continue  # its bookkeeping waits for the import
                if c.error:
                    self._fail(s, S2P, c.crm.sobject, c.crm.crm_id, c.error, None, c.crm.crm_id, c.crm.email)
                    self._set_outcome(c.crm.crm_id, None, {"ok": False, "category": c.error.category,
                                                           "code": c.error.code, "message": c.error.message,
                                                           "crm_id": c.crm.crm_id})
                    continue
                p = c.result
                existing = s.scalars(select(RecordLink).where(RecordLink.connector_id == cid,
                                                              RecordLink.prospect_id == p.prospect_id)).first()
                if existing is not None:  # upsertLatestByEmail found a prospect linked elsewhere
                    s.delete(existing)
                    s.flush()
                base = {m.pardot_field: p.values.get(m.pardot_field) for m in ctx.mappings}
                s.add(RecordLink(connector_id=cid, prospect_id=p.prospect_id, crm_id=c.crm.crm_id,
                                 crm_type=c.crm.sobject, synced_values=base, fingerprint=fingerprint(base),
                                 last_synced_at=now, last_synced_to_pardot=now))
                upsert(s, Prospect, [p.as_row(cid)], ("connector_id", "prospect_id"))
                resolved_s2p.append(c.crm.crm_id)
                ctx.count(S2P, "created")
                self._set_outcome(c.crm.crm_id, p.prospect_id, {"ok": True, "action": "created",
                                                                "prospect_id": p.prospect_id,
                                                                "crm_id": c.crm.crm_id, "crm_type": c.crm.sobject})

            for lc in lead_creates:
                p = lc.prospect
                if lc.committed:  # a deferred link write has come back
                    if lc.error:
                        self._fail(s, S2P, "Lead", lc.crm.crm_id, lc.error, p.prospect_id, lc.crm.crm_id, p.email)
                    else:
                        upsert(s, Prospect, [p.as_row(cid)], ("connector_id", "prospect_id"))
                    continue
                if lc.crm is None:
                    self._fail(s, P2S, "Prospect", str(p.prospect_id), lc.error, p.prospect_id, None, p.email)
                    self._set_outcome(None, p.prospect_id, {"ok": False, "category": lc.error.category,
                                                            "code": lc.error.code, "message": lc.error.message,
                                                            "prospect_id": p.prospect_id})
                    continue
                upsert(s, CrmRecord, [lc.crm.as_row(cid)], ("connector_id", "crm_id"))
                s.add(RecordLink(connector_id=cid, prospect_id=p.prospect_id, crm_id=lc.crm.crm_id,
                                 crm_type="Lead", synced_values=lc.merged, fingerprint=fingerprint(lc.merged),
                                 last_synced_at=now, last_synced_to_salesforce=now))
                upsert(s, Prospect, [p.as_row(cid)], ("connector_id", "prospect_id"))
                ctx.count(P2S, "created")
                if lc.error:  # the lead exists; Pardot did not take the link ids yet
                    self._fail(s, S2P, "Lead", lc.crm.crm_id, lc.error, p.prospect_id, lc.crm.crm_id, p.email)
                resolved_p2s.append(str(p.prospect_id))
                lc.committed = True
                self._set_outcome(lc.crm.crm_id, p.prospect_id, {"ok": True, "action": "created",
                                                                 "prospect_id": p.prospect_id,
                                                                 "crm_id": lc.crm.crm_id, "crm_type": "Lead"})

            for side, rid, state, detail in states:
                upsert(s, RecordState, [{"connector_id": cid, "side": side, "record_id": rid, "state": state,
                                         "detail": detail, "updated_at": now}],
                       ("connector_id", "side", "record_id"))
                ctx.count(S2P if side == "salesforce" else P2S, "skipped")
                key = (side, rid)
                self.outcomes.setdefault(key, {"ok": True, "action": "skipped", "state": state, "reason": detail})
            errorqueue.resolve(s, cid, S2P, resolved_s2p)
            errorqueue.resolve(s, cid, P2S, resolved_p2s)
            if deferred:  # their pending rows go once the import has written them (crash-safe)
                waiting = {c.crm.crm_id for c in creates if c.deferred} | {pr.crm.crm_id for pr in waiting_pairs}
                waiting |= ctx.waiting_crm
                sf_ids = [i for i in sf_ids if i not in waiting]
                linking = {lc.prospect.prospect_id for lc in lead_creates if lc.deferred}
                linking |= {pr.prospect.prospect_id for pr in waiting_pairs} | ctx.waiting_prospects
                prospect_ids = [i for i in prospect_ids if i not in linking]
            if sf_ids:
                s.execute(delete(PendingChange).where(PendingChange.connector_id == cid,
                                                      PendingChange.side == "salesforce",
                                                      PendingChange.record_id.in_(sf_ids)))
            if prospect_ids:
                s.execute(delete(PendingChange).where(PendingChange.connector_id == cid,
                                                      PendingChange.side == "pardot",
                                                      PendingChange.record_id.in_([str(i) for i in prospect_ids])))

    def finish(self, creates: list[CreateProspect], links: list[CreateLead], updates: list[Pair]) -> None:
        """Deferred writes too few for an import: as single calls, then the usual bookkeeping."""
        pairs = {}
        for pair in updates:
            pair.deferred = False
            pairs[pair.prospect.prospect_id] = pair
        for item in creates + links:
            item.deferred = False
        self._write_pardot(pairs, creates, links)
        self._commit([c.crm.crm_id for c in creates] + [p.crm.crm_id for p in updates],
                     [lc.prospect.prospect_id for lc in links] + list(pairs), pairs, creates, links, [])

    def commit_updates(self, updates: list[Pair]) -> None:
        """Bookkeeping of updates an import has written (or refused)."""
        pairs = {}
        for pair in updates:
            pair.deferred = False
            pairs[pair.prospect.prospect_id] = pair
        self._commit([p.crm.crm_id for p in updates], list(pairs), pairs, [], [], [])

    def _set_outcome(self, crm_id, prospect_id, outcome) -> None:
        if crm_id:
            self.outcomes[("salesforce", crm_id)] = outcome
        if prospect_id is not None:
            self.outcomes[("pardot", str(prospect_id))] = outcome


def _undelete_then_update(ctx, prospect_id, changes, fields):
    restored = ctx.pardot.undelete_prospect(prospect_id, fields)
    return ctx.pardot.update_prospect(prospect_id, changes, fields) if changes else restored
