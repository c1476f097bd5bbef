"""Bulk prospect writes through the Pardot Import API.

A first sync of 10,000 records would cost 10,000 single Pardot calls (and, at
five in flight, most of the time the sync takes). The cycle instead collects
prospect creates and link writes and sends them as one import per
FLUSH_ROWS rows: a few calls for the lot. Small batches still go as single
calls, which are cheaper than an import and its status polls."""
from __future__ import annotations

import csv
import io
import logging
import time
from dataclasses import dataclass, field

from .remote import RemoteCallError, RemoteError

log = logging.getLogger("connector.bulk")
MIN_IMPORT_ROWS = 100   # below this, single calls cost less than import + polls
FLUSH_ROWS = 25_000     # bounds memory (~2 KB a row); each import waits its run out, so not too small (issue 11)
MAX_FILE_BYTES = 9 * 1024 * 1024  # Pardot takes at most 10 MB a batch file: a bigger CSV is split
# Status polls: soon after the upload, then half as often again each time, at most every 2 s:
# a finished import waits at most a third of its run for the next poll (issue 11).
POLL_FIRST, POLL_MAX, POLL_TIMEOUT = 0.25, 2.0, 900.0


@dataclass
class BulkRow:
    key: str                 # how the error queue names the source record
    values: dict             # Pardot fields to write
    match: tuple[str, str] | None  # (match column, value), or None to match by email


@dataclass
class BulkResult:
    failed: dict[str, RemoteError] = field(default_factory=dict)  # row key → why
    calls: int = 0


def _csv(rows: list[BulkRow]) -> tuple[str, list[str]]:
    match_col = rows[0].match[0] if rows[0].match else None
    columns: list[str] = []
    for r in rows:
        for k in r.values:
            if k not in columns:
                columns.append(k)
    header = ([match_col] if match_col else []) + columns
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        cells = [r.match[1]] if match_col else []
        for c in columns:
            v = r.values.get(c)
            cells.append("" if v is None else ("true" if v is True else "false" if v is False else v))
        writer.writerow(cells)
    return out.getvalue(), header


def run_import(pardot, rows: list[BulkRow]) -> BulkResult:
    """Imports for rows sharing a match column, one per file that fits Pardot's batch limit;
    waits for them and maps their failed rows back."""
    text, header = _csv(rows)
    if len(text.encode("utf-8")) > MAX_FILE_BYTES and len(rows) > 1:
        half = len(rows) // 2
        first, second = run_import(pardot, rows[:half]), run_import(pardot, rows[half:])
        first.failed.update(second.failed)
        first.calls += second.calls
        return first
    return _one_import(pardot, rows, text, header)


def _one_import(pardot, rows: list[BulkRow], text: str, header: list[str]) -> BulkResult:
    created = pardot.create_import(text)
    import_id = created["id"]
    result = BulkResult(calls=1)
    wait, deadline = POLL_FIRST, time.monotonic() + POLL_TIMEOUT
    status = created
    while (status.get("status") or status.get("state")) != "Complete":
        if time.monotonic() > deadline:
            raise RemoteCallError(RemoteError("transient", "IMPORT_TIMEOUT",
                                              f"Pardot import {import_id} did not complete in "
                                              f"{POLL_TIMEOUT:.0f} s"), None, "pardot")
        time.sleep(wait)
        wait = min(POLL_MAX, wait * 1.5)
        status = pardot.get_import(import_id)
        result.calls += 1
    if status.get("errorCount"):
        key_col = header[0] if rows[0].match else "email"
        by_key = {(r.match[1] if r.match else (r.values.get("email") or "")).lower(): r for r in rows}
        reader = csv.DictReader(io.StringIO(pardot.import_errors(import_id)))
        result.calls += 1
        for line in reader:
            row = by_key.get((line.get(key_col) or "").lower())
            if row is not None:
                reason = line.get("error") or "rejected by the Pardot import"
                result.failed[row.key] = RemoteError(_category(reason), "IMPORT_ROW_REJECTED",
                                                     f"Pardot import {import_id}: {reason}")
    log.info("import %s: %s rows, %s failed, %s calls", import_id, len(rows), len(result.failed), result.calls)
    return result


def _category(reason: str) -> str:
    lowered = reason.lower()
    if "duplicate" in lowered or "already" in lowered:
        return "duplicate"
    if "recycle bin" in lowered or "deleted" in lowered:
        return "deleted"
    return "validation"
