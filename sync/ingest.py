"""Reading changes (R17): both sides stream into the local mirrors, page by page.

A record whose mirrored state did not change is not queued: that is where our
own writes coming back are dropped (R18) at the cost of no API call. What did
change goes to the durable pending list, which the reconciler works off."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Callable, Iterable, Iterator

from sqlalchemy import select

from .models import CrmRecord, PendingChange, Prospect
from .records import CrmRow, ProspectRow, crm_row, prospect_row
from .upsert import upsert

CHUNK = 200
# Records a reconcile or mirror step takes at once: 25 Salesforce collections, five Pardot pages.
# Bigger steps cost fewer statements and let those writes go in parallel (issue 11).
BATCH = 5000
SF_OVERLAP = timedelta(seconds=60)
PARDOT_OVERLAP = timedelta(seconds=60)  # Pardot reads may lag writes by up to 60 s


def chunks(iterable: Iterable, size: int = CHUNK) -> Iterator[list]:
    it = iter(iterable)
    while batch := list(islice(it, size)):
        yield batch


@dataclass(frozen=True)
class _Mirror:
    """How one side's records sit in the store."""
    model: type
    key: str            # primary-key column besides connector_id
    side: str           # PendingChange.side
    row_type: type      # CrmRow | ProspectRow
    state: Callable     # what counts as a change (R18)
    stamp: Callable     # the record's change time (R17)


SF_MIRROR = _Mirror(CrmRecord, "crm_id", "salesforce", CrmRow,
                    lambda r: (r.email, r.is_deleted, r.converted_to, r.in_mds, r.values), lambda r: r.modstamp)
PARDOT_MIRROR = _Mirror(Prospect, "prospect_id", "pardot", ProspectRow,
                        lambda p: (p.email, p.is_deleted, p.assigned_to_id, p.crm_id, p.values), lambda p: p.updated_at)


def _store_page(s, mirror: _Mirror, connector_id: int, rows: list, queue: bool) -> int:
    """Mirror a page of records; returns how many were queued as changed."""
    ids = [getattr(r, mirror.key) for r in rows]
    column = getattr(mirror.model, mirror.key)
    existing = {getattr(m, mirror.key): mirror.row_type.from_model(m) for m in s.execute(  # rows, not entities
        select(mirror.model.__table__).where(mirror.model.connector_id == connector_id, column.in_(ids)))}
    changed = [i for i, r in zip(ids, rows)
               if i not in existing or mirror.state(existing[i]) != mirror.state(r)]
    upsert(s, mirror.model, [r.as_row(connector_id) for r in rows], ("connector_id", mirror.key))
    if queue and changed:
        upsert(s, PendingChange, [{"connector_id": connector_id, "side": mirror.side, "record_id": str(i)}
                                  for i in changed], ("connector_id", "side", "record_id"))
    return len(changed)


def store_crm_page(s, connector_id: int, rows: list[CrmRow], queue: bool = True) -> int:
    return _store_page(s, SF_MIRROR, connector_id, rows, queue)


def store_prospect_page(s, connector_id: int, rows: list[ProspectRow], queue: bool = True) -> int:
    return _store_page(s, PARDOT_MIRROR, connector_id, rows, queue)


def _ingest(store, mirror: _Mirror, connector_id: int, records: Iterator[dict], convert: Callable,
            stats: dict, stored: Callable | None = None) -> datetime | None:
    newest = None
    for page in chunks(records, BATCH):
        rows = [convert(raw) for raw in page]
        with store.session() as s:
            queued = _store_page(s, mirror, connector_id, rows, True)
        stats["queued"] = stats.get("queued", 0) + queued
        store.grew(len(rows), mirror.model.__tablename__)
        store.grew(queued, PendingChange.__tablename__)
        stats["read"] = stats.get("read", 0) + len(rows)
        top = max(mirror.stamp(r) for r in rows)
        newest = top if newest is None or top > newest else newest
        if stored is not None:
            stored(rows)
    return newest


def ingest_crm(store, connector_id: int, sobject: str, records: Iterator[dict], mappings, mds_rule,
               stats: dict) -> datetime | None:
    """Stream one object's changed records into the mirror; returns the newest SystemModstamp."""
    return _ingest(store, SF_MIRROR, connector_id, records,
                   lambda raw: crm_row(sobject, raw, mappings, mds_rule), stats)


def ingest_prospects(store, connector_id: int, records: Iterator[dict], mappings, stats: dict,
                     crm_field: str | None = None, stored: Callable | None = None) -> datetime | None:
    """Stream changed prospects into the mirror; returns the newest updatedAt. `stored(rows)`
    hears of every batch once it is committed."""
    return _ingest(store, PARDOT_MIRROR, connector_id, records,
                   lambda raw: prospect_row(raw, mappings, crm_field), stats, stored)
