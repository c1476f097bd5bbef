"""Working off changed records, a chunk at a time (R8–R16, R18–R21, R24, R25).

For a chunk of changed Salesforce records and prospects it decides, from the
local mirrors alone, what to link, create, update, delete or undelete
(reconcile_match); then it writes Salesforce through collections (≤200 a call)
and Pardot with up to five calls in flight (reconcile_write), and records every
per-record failure in the error queue (reconcile_commit)."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from .models import CrmRecord, Prospect, RecordLink
from .reconcile_commit import Bookkeeper
from .reconcile_match import Matcher
from .reconcile_types import (  # noqa: F401 - the engine imports them from here
    NOT_PROVIDED,
    P2S,
    S2P,
    TYPE_RANK,
    Context,
    CreateLead,
    CreateProspect,
    NewLink,
    Pair,
)
from .reconcile_write import Writer
from .records import CrmRow, ProspectRow


@dataclass
class _Chunk:
    """One process() call's records and what it decided for each."""

    crm: dict[str, CrmRow]
    prospects: dict[int, ProspectRow]
    links_by_crm: dict[str, RecordLink]
    links_by_prospect: dict[int, RecordLink]
    claimed_crm: set
    claimed_prospects: set
    pairs: dict[int, Pair] = field(default_factory=dict)  # by prospect id
    prospect_creates: list[CreateProspect] = field(default_factory=list)
    lead_creates: list[CreateLead] = field(default_factory=list)
    states: list[tuple[str, str, str, str | None]] = field(default_factory=list)  # side, id, state, detail
    creating_emails: set[str] = field(default_factory=set)


class Reconciler(Matcher, Writer, Bookkeeper):
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.outcomes: dict[tuple[str, str], dict] = {}

    # ------------------------------------------------------------------ entry point
    def process(self, sf_ids: list[str], prospect_ids: list[int], force: bool = False,
                create_prospects: bool | None = None) -> dict:
        """Reconcile these records; `force` is a manual sync (R6: also while paused)."""
        ctx = self.ctx
        create_prospects = ctx.auto_create if create_prospects is None else create_prospects
        with ctx.store.session() as s:
            chunk = self._load_chunk(s, sf_ids, prospect_ids)
            # R8: among records sharing an email, a contact before a lead, then the most recent.
            order = sorted((chunk.crm[i] for i in sf_ids if i in chunk.crm),
                           key=lambda r: (r.email or "", TYPE_RANK[r.sobject], -r.modstamp.timestamp()))
            self._prefetch_for_crm(s, order, chunk.links_by_crm)
            for row in order:
                if row.crm_id not in ctx.waiting_crm:
                    self._pair_crm_row(s, chunk, row, create_prospects or force)
            self._prefetch_for_prospects(s, [chunk.prospects[i] for i in prospect_ids if i in chunk.prospects],
                                         chunk.links_by_prospect)
            for pid in prospect_ids:
                p = chunk.prospects.get(pid)
                if p is not None and pid not in chunk.claimed_prospects:
                    self._pair_prospect(s, chunk, p)
            for pair in chunk.pairs.values():
                self._plan(pair)

        # Salesforce first: new leads need their ids before Pardot learns the link (R10).
        self._write_salesforce(chunk.pairs, chunk.lead_creates)
        self._write_pardot(chunk.pairs, chunk.prospect_creates, chunk.lead_creates)
        self._commit(sf_ids, prospect_ids, chunk.pairs, chunk.prospect_creates, chunk.lead_creates, chunk.states)
        return self.outcomes

    def _load_chunk(self, s, sf_ids: list[str], prospect_ids: list[int]) -> _Chunk:
        ctx = self.ctx
        crm = {r.crm_id: CrmRow.from_model(r) for r in s.execute(select(CrmRecord.__table__).where(
            CrmRecord.connector_id == ctx.connector_id, CrmRecord.crm_id.in_(sf_ids)))} if sf_ids else {}
        prospects = {p.prospect_id: ProspectRow.from_model(p) for p in s.execute(select(Prospect.__table__).where(
            Prospect.connector_id == ctx.connector_id, Prospect.prospect_id.in_(prospect_ids)))} \
            if prospect_ids else {}
        links_by_crm, links_by_prospect = self._links(s, list(crm), list(prospects))
        # The other half of every linked record.
        self._load_missing(s, crm, prospects, links_by_crm, links_by_prospect)
        # Records already waiting for an import are claimed: they pair up when it is done.
        return _Chunk(crm, prospects, links_by_crm, links_by_prospect,
                      claimed_crm=set(ctx.waiting_crm), claimed_prospects=set(ctx.waiting_prospects))

    def _pair_crm_row(self, s, chunk: _Chunk, row: CrmRow, may_create: bool) -> None:
        """A changed Salesforce record: pair it with its prospect, link it, plan a create, or say why not."""
        ctx = self.ctx
        crm_id = row.crm_id
        link = chunk.links_by_crm.get(crm_id)
        if link is None and row.sobject == "Contact":
            link = self._converted_lead_link(s, crm_id, chunk.links_by_crm)  # R20, contact seen first
            if link is not None:
                link.crm_id, link.crm_type = crm_id, "Contact"
                chunk.links_by_crm[crm_id] = link
        if link is not None:
            p = chunk.prospects.get(link.prospect_id)
            if p is None:
                chunk.states.append(("salesforce", crm_id, "prospect_missing",
                                     f"linked prospect {link.prospect_id} is not in the mirror yet"))
                return
            if link.prospect_id in ctx.waiting_prospects:
                return
            chunk.pairs.setdefault(link.prospect_id, Pair(link, row, p, base=dict(link.synced_values or {})))
            chunk.claimed_crm.add(crm_id)
            chunk.claimed_prospects.add(link.prospect_id)
            return
        decision = self._match_crm(s, row, chunk.claimed_prospects, chunk.links_by_prospect)
        if isinstance(decision, ProspectRow):
            link = NewLink(connector_id=ctx.connector_id, prospect_id=decision.prospect_id,
                              crm_id=row.crm_id, crm_type=row.sobject, synced_values={})
            old = chunk.links_by_prospect.get(decision.prospect_id)
            if old is not None:  # R8: a contact takes the prospect over from a lead
                s.delete(old)
                s.flush()
            chunk.pairs[decision.prospect_id] = Pair(link, row, decision, new_link=True)
            chunk.prospects[decision.prospect_id] = decision
            chunk.claimed_crm.add(crm_id)
            chunk.claimed_prospects.add(decision.prospect_id)
        elif decision == "create":
            if not ctx.ampsea and row.email in chunk.creating_emails:
                chunk.states.append(("salesforce", crm_id, "email_taken",
                                     "a better match with this email creates the prospect (R8)"))
            elif may_create:
                chunk.prospect_creates.append(CreateProspect(row, self._prospect_create_values(row)))
                chunk.claimed_crm.add(crm_id)
                chunk.creating_emails.add(row.email)
            else:
                chunk.states.append(("salesforce", crm_id, "not_created", "auto-create prospects is off (R11)"))
        else:
            chunk.states.append(("salesforce", crm_id, decision[0], decision[1]))

    def _pair_prospect(self, s, chunk: _Chunk, p: ProspectRow) -> None:
        """A changed prospect: pair it with its CRM record, link it, plan a lead, or say why not."""
        ctx = self.ctx
        pid = p.prospect_id
        link = chunk.links_by_prospect.get(pid)
        if link is not None:
            if link.crm_id in ctx.waiting_crm:
                return
            row = chunk.crm.get(link.crm_id)
            if row is None:
                chunk.states.append(("pardot", str(pid), "crm_missing",
                                     f"linked {link.crm_type} {link.crm_id} is not in the mirror yet"))
                return
            chunk.pairs[pid] = Pair(link, row, p, base=dict(link.synced_values or {}))
            chunk.claimed_crm.add(row.crm_id)
            chunk.claimed_prospects.add(pid)
            return
        decision = self._match_prospect(s, p, chunk.claimed_crm, chunk.links_by_crm)
        if isinstance(decision, CrmRow):
            link = NewLink(connector_id=ctx.connector_id, prospect_id=pid, crm_id=decision.crm_id,
                              crm_type=decision.sobject, synced_values={})
            chunk.pairs[pid] = Pair(link, decision, p, new_link=True)
            chunk.claimed_crm.add(decision.crm_id)
            chunk.claimed_prospects.add(pid)
        elif decision == "create":
            lead = self._lead_create(p)
            if lead is None:
                chunk.states.append(("pardot", str(pid), "outside_mds", "no MDS value to give a new lead"))
            else:
                chunk.lead_creates.append(lead)
                chunk.claimed_prospects.add(pid)
        else:
            chunk.states.append(("pardot", str(pid), decision[0], decision[1]))
