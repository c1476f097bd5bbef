"""Reading changes (R17): both sides stream into the local mirrors, page by page.

A record whose mirrored state did not change is not queued: that is where our
own writes coming back are dropped (R18) at the cost of no API call. What did
change goes to the durable pending list, which the reconciler works off."""
from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice
from typing import Iterable, Iterator

from sqlalchemy import select

from .models import CrmRecord, PendingChange, Prospect
from .records import CrmRow, ProspectRow, crm_row, prospect_row
from .upsert import upsert

CHUNK = 200
SF_OVERLAP = timedelta(seconds=60)
PARDOT_OVERLAP = timedelta(seconds=60)  # Pardot reads may lag writes by up to 60 s


def chunks(iterable: Iterable, size: int = CHUNK) -> Iterator[list]:
    it = iter(iterable)
    while batch := list(islice(it, size)):
        yield batch


def _crm_state(r: CrmRow) -> tuple:
    return (r.email, r.is_deleted, r.converted_to, r.in_mds, r.values)


def _prospect_state(p: ProspectRow) -> tuple:
    return (p.email, p.is_deleted, p.assigned_to_id, p.crm_id, p.values)


def store_crm_page(s, connector_id: int, rows: list[CrmRow], queue: bool = True) -> int:
    """Mirror a page of Salesforce records; returns how many were queued as changed."""
    existing = {m.crm_id: CrmRow.from_model(m) for m in s.scalars(select(CrmRecord).where(
        CrmRecord.connector_id == connector_id, CrmRecord.crm_id.in_([r.crm_id for r in rows])))}
    changed = [r for r in rows if r.crm_id not in existing or _crm_state(existing[r.crm_id]) != _crm_state(r)]
    upsert(s, CrmRecord, [r.as_row(connector_id) for r in rows], ("connector_id", "crm_id"))
    if queue and changed:
        upsert(s, PendingChange, [{"connector_id": connector_id, "side": "salesforce", "record_id": r.crm_id}
                                  for r in changed], ("connector_id", "side", "record_id"))
    return len(changed)


def store_prospect_page(s, connector_id: int, rows: list[ProspectRow], queue: bool = True) -> int:
    existing = {m.prospect_id: ProspectRow.from_model(m) for m in s.scalars(select(Prospect).where(
        Prospect.connector_id == connector_id, Prospect.prospect_id.in_([p.prospect_id for p in rows])))}
    changed = [p for p in rows
               if p.prospect_id not in existing or _prospect_state(existing[p.prospect_id]) != _prospect_state(p)]
    upsert(s, Prospect, [p.as_row(connector_id) for p in rows], ("connector_id", "prospect_id"))
    if queue and changed:
        upsert(s, PendingChange, [{"connector_id": connector_id, "side": "pardot", "record_id": str(p.prospect_id)}
                                  for p in changed], ("connector_id", "side", "record_id"))
    return len(changed)


def ingest_crm(store, connector_id: int, sobject: str, records: Iterator[dict], mappings, mds_rule,
               stats: dict) -> datetime | None:
    """Stream one object's changed records into the mirror; returns the newest SystemModstamp."""
    newest = None
    for page in chunks(records):
        rows = [crm_row(sobject, raw, mappings, mds_rule) for raw in page]
        with store.session() as s:
            stats["queued"] = stats.get("queued", 0) + store_crm_page(s, connector_id, rows)
        stats["read"] = stats.get("read", 0) + len(rows)
        top = max(r.modstamp for r in rows)
        newest = top if newest is None or top > newest else newest
    return newest


def ingest_prospects(store, connector_id: int, records: Iterator[dict], mappings, stats: dict) -> datetime | None:
    newest = None
    for page in chunks(records):
        rows = [prospect_row(raw, mappings) for raw in page]
        with store.session() as s:
            stats["queued"] = stats.get("queued", 0) + store_prospect_page(s, connector_id, rows)
        stats["read"] = stats.get("read", 0) + len(rows)
        top = max(p.updated_at for p in rows)
        newest = top if newest is None or top > newest else newest
    return newest
