"""The API floor: the fewest calls the two APIs allow for a piece of sync work, and the time
those calls take at a given latency and allowed concurrency (issue 6 §1).

Page and batch sizes are the APIs' own: a Salesforce query page holds 2,000 records and a
collection write 200; a Pardot v5 query page holds 1,000 records; the Pardot Import API
takes a CSV of up to 10 MB a batch, so one import is one create call carrying the first
batch, one call per further batch and one status read (the results are only known from it)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SF_QUERY_PAGE = 2000
SF_COLLECTION = 200
PARDOT_PAGE = 1000
IMPORT_BATCH_BYTES = 10 * 1024 * 1024
IMPORT_ROW_BYTES = 200  # a generous CSV row of the mapped fields; sets how many rows fit a batch
# Concurrency the floor time may assume: Pardot allows 5 requests in flight; Salesforce limits
# only long-running (> 20 s) requests, to 25 at once in production orgs.
CONCURRENCY = {"salesforce": 25, "pardot": 5}


def pages(records: int, size: int, at_least: int = 0) -> int:
    return max(at_least, math.ceil(records / size))


def import_calls(rows: int) -> int:
    if rows <= 0:
        return 0
    batches = math.ceil(rows * IMPORT_ROW_BYTES / IMPORT_BATCH_BYTES)
    return batches + 1


@dataclass
class Floor:
    salesforce_reads: int
    salesforce_writes: int
    pardot_reads: int
    pardot_writes: int
    basis: str

    @property
    def salesforce(self) -> int:
        return self.salesforce_reads + self.salesforce_writes

    @property
    def pardot(self) -> int:
        return self.pardot_reads + self.pardot_writes

    @property
    def total(self) -> int:
        return self.salesforce + self.pardot

    def seconds(self, latency_ms: dict) -> float:
        return (self.salesforce * latency_ms["salesforce"] / CONCURRENCY["salesforce"] +
                self.pardot * latency_ms["pardot"] / CONCURRENCY["pardot"]) / 1000.0

    def as_dict(self) -> dict:
        return {**asdict(self), "salesforce": self.salesforce, "pardot": self.pardot, "total": self.total}


def first_sync_floor(direction: str, n: int, sf_written: int, pardot_written: int) -> Floor:
    """`sf_written`/`pardot_written`: records the rules made the cycle write on each side
    (read from the cycle's own counts, so the floor covers the same work as the calls)."""
    if direction == "s2p":
        # New leads read once; the prospects created by import; their ids read back (the Import
        # API returns none, R10 needs them); Pardot-owned values written back (R16).
        return Floor(salesforce_reads=pages(n, SF_QUERY_PAGE, 1),
                     salesforce_writes=pages(sf_written, SF_COLLECTION),
                     pardot_reads=pages(n, PARDOT_PAGE, 1),
                     pardot_writes=import_calls(pardot_written),
                     basis="SF query pages of N + SF collections of the records written back + Pardot pages "
                           "of N read back + one import (create, status read)")
    if direction == "p2s":
        # Prospects read once; leads created in collections (their ids come back in the answer,
        # so Salesforce is only queried for changes once); the link ids written by import (R10).
        return Floor(salesforce_reads=1,
                     salesforce_writes=pages(sf_written, SF_COLLECTION),
                     pardot_reads=pages(n, PARDOT_PAGE, 1),
                     pardot_writes=import_calls(pardot_written),
                     basis="one SF change query + SF collections of the leads created + Pardot pages of N + "
                           "one import of the link ids (create, status read)")
    raise ValueError(f"unknown direction {direction!r} (s2p or p2s)")


# What every cycle reads even when nothing changed (the idle cycle's 4 calls): one Salesforce
# composite request carrying the first page of each object's change query, and the Pardot users,
# campaigns (R4: metadata first) and prospects change queries.
CYCLE_FIXED = {"salesforce_reads": 1, "pardot_reads": 3}


def changed_cycle_floor(k_salesforce: int, k_pardot: int, sf_written: int, pardot_written: int) -> Floor:
    """A scheduled cycle after k records changed: the fixed reads of every cycle, plus the change
    queries' pages beyond the first (their first pages are in the fixed reads) for the
    `k_salesforce` changed CRM records and `k_pardot` changed prospects, plus the writes the rules
    made: `sf_written` CRM records in collections, `pardot_written` prospects by one import (create,
    status read; their ids are known from the links, so nothing is read back). All four numbers
    come from the cycle's own counts, so the floor covers the same work as the calls."""
    return Floor(salesforce_reads=CYCLE_FIXED["salesforce_reads"] + pages(k_salesforce, SF_QUERY_PAGE, 1) - 1,
                 salesforce_writes=pages(sf_written, SF_COLLECTION),
                 pardot_reads=CYCLE_FIXED["pardot_reads"] + pages(k_pardot, PARDOT_PAGE, 1) - 1,
                 pardot_writes=import_calls(pardot_written),
                 basis="one SF composite (first pages) + Pardot users, campaigns, prospects queries + SF query "
                       "pages beyond the first for the k changed CRM records + Pardot pages beyond the first for "
                       "the k changed prospects + SF collections of the records written + one import of the "
                       "prospects written (create, status read)")
