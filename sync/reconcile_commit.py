"""Reconcile, step three: the bookkeeping. Links, mirrors, record states and the error queue
in one transaction; pending rows go once their writes are done (crash-safe)."""
from __future__ import annotations

from sqlalchemy import delete, select, update

from . import errorqueue
from .merge import fingerprint
from .models import CrmRecord, PendingChange, Prospect, RecordLink, RecordState, utcnow
from .reconcile_types import P2S, S2P, Context, CreateLead, CreateProspect, Pair
from .remote import RemoteError
from .serialize import error_dict
from .upsert import upsert


def _failure(error: RemoteError, **ids) -> dict:
    return {"ok": False, "category": error.category, "code": error.code, "message": error.message, **ids}


class Bookkeeper:
    """Reconciler's commit of a chunk (a mixin: Reconciler sets self.ctx and self.outcomes)."""

    ctx: Context
    outcomes: dict[tuple[str, str], dict]

    def _fail(self, s, direction, sobject, key, error, prospect_id=None, crm_id=None, email=None):
        entry, fresh = errorqueue.record_failure(s, self.ctx.connector_id, direction, sobject, key, error,
                                                 prospect_id=prospect_id, crm_id=crm_id, email=email)
        self.ctx.count(direction, "failed")
        if fresh:
            s.flush()
            self.ctx.new_errors.append(error_dict(entry))
        return entry

    def _commit(self, sf_ids, prospect_ids, pairs, creates, lead_creates, states) -> None:
        ctx = self.ctx
        now = utcnow()
        with ctx.store.session() as s:
            resolved_s2p, resolved_p2s = [], []
            waiting_pairs = [pr for pr in pairs.values() if pr.deferred]
            self._stored = _Stored()
            for pair in pairs.values():
                if not pair.deferred:  # else its bookkeeping waits for the import
                    self._commit_pair(s, pair, now, resolved_s2p, resolved_p2s)
            self._stored.write(s, ctx.connector_id)
            for c in creates:
                if not c.deferred:  # else its bookkeeping waits for the import
                    self._commit_create(s, c, now, resolved_s2p)
            for lc in lead_creates:
                self._commit_lead_create(s, lc, now, resolved_p2s)
            self._stored.write(s, ctx.connector_id)
            self._commit_states(s, states, now)
            errorqueue.resolve(s, ctx.connector_id, S2P, resolved_s2p)
            errorqueue.resolve(s, ctx.connector_id, P2S, resolved_p2s)
            # A pair synced cleanly has dealt with both halves' changes: the other half's pending
            # row goes too, so it is not reconciled a second time to find it unchanged (issue 11).
            clean = [pr for pr in pairs.values() if not pr.deferred and not pr.sf_error and not pr.pardot_error
                     and pr.action != "unlinked_email_change"]
            sf_ids = list(dict.fromkeys([*sf_ids, *(pr.crm.crm_id for pr in clean)]))
            prospect_ids = list(dict.fromkeys([*prospect_ids, *(pr.prospect.prospect_id for pr in clean)]))
            if ctx.deferred is not None:  # their pending rows go once the import has written them (crash-safe)
                waiting = {c.crm.crm_id for c in creates if c.deferred} | {pr.crm.crm_id for pr in waiting_pairs}
                waiting |= ctx.waiting_crm
                sf_ids = [i for i in sf_ids if i not in waiting]
                linking = {lc.prospect.prospect_id for lc in lead_creates if lc.deferred}
                linking |= {pr.prospect.prospect_id for pr in waiting_pairs} | ctx.waiting_prospects
                prospect_ids = [i for i in prospect_ids if i not in linking]
            self._clear_pending(s, sf_ids, prospect_ids)
        ctx.store.grew(self._stored.links_added, RecordLink.__tablename__)
        ctx.store.grew(self._stored.crm_added, CrmRecord.__tablename__)

    def _commit_pair(self, s, pair: Pair, now, resolved_s2p: list, resolved_p2s: list) -> None:
        ctx = self.ctx
        crm, p, link = pair.crm, pair.prospect, pair.link
        if pair.action == "unlinked_email_change":
            self._commit_email_unlink(s, pair)
            return
        out = {"ok": True, "action": pair.action, "prospect_id": p.prospect_id, "crm_id": link.crm_id,
               "crm_type": link.crm_type}
        failed_fields = set()
        if pair.sf_error:
            failed_fields |= set(pair.sf_changes)
            self._fail(s, P2S, crm.sobject, str(p.prospect_id), pair.sf_error, p.prospect_id,
                       crm.crm_id, p.email or crm.email)
            out = _failure(pair.sf_error, prospect_id=p.prospect_id, crm_id=crm.crm_id)
        else:
            resolved_p2s.append(str(p.prospect_id))
            if pair.sf_changes:
                crm.values.update(pair.sf_changes)
                ctx.count(P2S, "updated")
        if pair.pardot_error:
            failed_fields |= set(pair.pardot_changes)
            self._fail(s, S2P, crm.sobject, crm.crm_id, pair.pardot_error, p.prospect_id, crm.crm_id,
                       crm.email)
            out = _failure(pair.pardot_error, prospect_id=p.prospect_id, crm_id=crm.crm_id)
            if pair.new_link:
                self._set_outcome(crm.crm_id, p.prospect_id, out)
                return  # the link exists only once Pardot carries it (R10)
        else:
            resolved_s2p.append(crm.crm_id)
            if pair.action in ("deleted", "outside_mds", "restored", "relinked", "linked"):
                ctx.count(S2P, pair.action)
            elif pair.pardot_changes:
                ctx.count(S2P, "updated")
        self._store_pair(s, pair, failed_fields, now)
        self._set_outcome(crm.crm_id, p.prospect_id, out)

    def _commit_email_unlink(self, s, pair: Pair) -> None:
        """R21 with "follow email changes" off: the link goes and the error queue says why."""
        crm, p, link = pair.crm, pair.prospect, pair.link
        if not pair.new_link and link.id is not None:
            s.execute(delete(RecordLink).where(RecordLink.id == link.id))
        err = RemoteError("validation", "EMAIL_CHANGE_UNLINKED",
                          f"{crm.sobject} {crm.crm_id} changed its email and 'follow email changes' "
                          f"is off: prospect {p.prospect_id} was unlinked (R21)")
        self._fail(s, S2P, crm.sobject, crm.crm_id, err, p.prospect_id, crm.crm_id, crm.email)
        self._set_outcome(crm.crm_id, p.prospect_id, _failure(err, prospect_id=p.prospect_id, crm_id=crm.crm_id))

    def _store_pair(self, s, pair: Pair, failed_fields: set, now) -> None:
        """The link's synced values (less the fields that failed) and both mirrors."""
        link = pair.link
        if pair.merged:
            base = dict(pair.base)
            base.update({f: v for f, v in pair.merged.items() if f not in failed_fields})
            link.synced_values = base
            link.fingerprint = fingerprint(base)
        link.last_synced_at = now
        link.last_synced_to_salesforce = link.last_synced_to_salesforce if pair.sf_error else now
        link.last_synced_to_pardot = link.last_synced_to_pardot if pair.pardot_error else now
        self._stored.add(pair)

    def _commit_create(self, s, c: CreateProspect, now, resolved_s2p: list) -> None:
        ctx, cid = self.ctx, self.ctx.connector_id
        if c.error:
            self._fail(s, S2P, c.crm.sobject, c.crm.crm_id, c.error, None, c.crm.crm_id, c.crm.email)
            self._set_outcome(c.crm.crm_id, None, _failure(c.error, crm_id=c.crm.crm_id))
            return
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

    def _commit_lead_create(self, s, lc: CreateLead, now, resolved_p2s: list) -> None:
        ctx = self.ctx
        p = lc.prospect
        if lc.committed:  # a deferred link write has come back
            if lc.error:
                self._fail(s, S2P, "Lead", lc.crm.crm_id, lc.error, p.prospect_id, lc.crm.crm_id, p.email)
            else:
                self._stored.prospects[p.prospect_id] = p
            return
        if lc.crm is None:
            self._fail(s, P2S, "Prospect", str(p.prospect_id), lc.error, p.prospect_id, None, p.email)
            self._set_outcome(None, p.prospect_id, _failure(lc.error, prospect_id=p.prospect_id))
            return
        self._stored.crm[lc.crm.crm_id] = lc.crm
        self._stored.inserted.append({
            "prospect_id": p.prospect_id, "crm_id": lc.crm.crm_id, "crm_type": "Lead", "synced_values": lc.merged,
            "fingerprint": fingerprint(lc.merged), "deleted_in_crm": False, "outside_mds": False,
            "last_synced_at": now, "last_synced_to_pardot": None, "last_synced_to_salesforce": now})
        if ctx.crm_field:  # the prospect as the link write answered it (else it is the mirror's own)
            self._stored.prospects[p.prospect_id] = p
        ctx.count(P2S, "created")
        if lc.error:  # the lead exists; Pardot did not take the link ids yet
            self._fail(s, S2P, "Lead", lc.crm.crm_id, lc.error, p.prospect_id, lc.crm.crm_id, p.email)
        resolved_p2s.append(str(p.prospect_id))
        lc.committed = True
        self._set_outcome(lc.crm.crm_id, p.prospect_id, {"ok": True, "action": "created",
                                                         "prospect_id": p.prospect_id,
                                                         "crm_id": lc.crm.crm_id, "crm_type": "Lead"})

    def _commit_states(self, s, states: list, now) -> None:
        """Records skipped with a reason (R8, R11, R12, R22…): their state and outcome."""
        ctx, cid = self.ctx, self.ctx.connector_id
        rows = {(side, rid): {"connector_id": cid, "side": side, "record_id": rid, "state": state,
                              "detail": detail, "updated_at": now} for side, rid, state, detail in states}
        upsert(s, RecordState, list(rows.values()), ("connector_id", "side", "record_id"))
        for side, rid, state, detail in states:
            ctx.count(S2P if side == "salesforce" else P2S, "skipped")
            key = (side, rid)
            self.outcomes.setdefault(key, {"ok": True, "action": "skipped", "state": state, "reason": detail})

    def _clear_pending(self, s, sf_ids: list, prospect_ids: list) -> None:
        cid = self.ctx.connector_id
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


LINK_COLUMNS = ("crm_id", "crm_type", "synced_values", "fingerprint", "deleted_in_crm", "outside_mds",
                "last_synced_at", "last_synced_to_pardot", "last_synced_to_salesforce")


class _Stored:
    """A chunk's pairs written in a few statements (issue 11): links updated by primary key and
    inserted in one executemany each, both mirrors upserted once, instead of a merge (a SELECT),
    a flush and two upserts per pair."""

    def __init__(self):
        self.updated, self.inserted, self.prospects, self.crm = [], [], {}, {}
        self.links_added = self.crm_added = 0  # rows this commit added, for Store.grew

    def add(self, pair: Pair) -> None:
        link = pair.link
        row = {c: getattr(link, c) for c in LINK_COLUMNS}
        if pair.new_link:  # a Core insert takes None as NULL, not as the column's default
            row.update(prospect_id=link.prospect_id, synced_values=row["synced_values"] or {},
                       deleted_in_crm=bool(row["deleted_in_crm"]), outside_mds=bool(row["outside_mds"]))
            self.inserted.append(row)
        else:
            self.updated.append({"id": link.id, **row})
        # The mirrors change only where a write landed; a pair read from them is there already.
        if pair.pardot_action in ("delete", "undelete") or (pair.pardot_changes and not pair.pardot_error):
            self.prospects[pair.prospect.prospect_id] = pair.prospect
        if pair.sf_changes and not pair.sf_error:
            self.crm[pair.crm.crm_id] = pair.crm

    def write(self, s, connector_id: int) -> None:
        # Updates first: a relink (R20) frees a CRM id an insert of the same chunk may take.
        if self.updated:
            s.execute(update(RecordLink), self.updated)
        if self.inserted:
            s.execute(RecordLink.__table__.insert(), [{"connector_id": connector_id, **row} for row in self.inserted])
            self.links_added += len(self.inserted)
        self.crm_added += len(self.crm)  # upserts: new rows mostly where they matter (lead creates)
        if self.prospects:
            upsert(s, Prospect, [p.as_row(connector_id) for p in self.prospects.values()],
                   ("connector_id", "prospect_id"))
        if self.crm:
            upsert(s, CrmRecord, [r.as_row(connector_id) for r in self.crm.values()], ("connector_id", "crm_id"))
        self.updated, self.inserted, self.prospects, self.crm = [], [], {}, {}
