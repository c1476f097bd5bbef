"""Pardot v5 Import API: bulk prospect upserts from CSV batches.

An import is Open (batches can be added) until set Ready; it then goes Waiting → Processing →
Complete in a background thread. Rows match by matchId / matchSalesforceId / matchEmail
columns, else by `email` when the business unit does not allow duplicate emails (AMPSEA off);
unmatched rows create prospects. Failed rows are kept for the errors CSV.
"""
from __future__ import annotations

import csv
import io
import itertools
import threading
from dataclasses import dataclass, field

from sandbox import pardot_fields as pf
from sandbox.pardot_errors import (
    IMPORT_NO_DATA,
    IMPORT_NOT_OPEN,
    IMPORT_STATE_FORBIDS,
    INVALID_CSV,
    INVALID_CSV_FIELDS,
    INVALID_PROPERTY,
    MISSING_PROPERTY,
    TOO_MANY_BATCHES,
    PardotError,
    bad_request,
    not_found,
)

MATCH_COLUMNS = ("matchId", "matchSalesforceId", "matchEmail")
MAX_BATCHES = 10
MAX_BATCH_BYTES = 10 * 1024 * 1024
OPEN_TTL = 24 * 3600             # an import never submitted expires after 24 h
COMPLETE_TTL = 7 * 24 * 3600     # results are kept 7 days after completion
_CHUNK = 500                     # rows applied per lock hold, so API calls interleave



def _canonical(spec: dict) -> dict[str, str]:
    """Column name (any case) → field: writable prospect fields (the org's custom fields too) and
    match columns. The salesforce* link fields are read-only, so a column naming one is refused
    with the whole batch (the Import API can match on matchSalesforceId but never writes it)."""
    out = {name.lower(): name for name, f in spec.items() if f.writable}
    out.update({m.lower(): m for m in MATCH_COLUMNS})
    return out


@dataclass
class _Import:
    id: int
    created_at: int
    options: dict
    actor: int | None
    status: str = "Open"
    updated_at: int = 0
    header: list[str] | None = None
    batches: list[list[list[str]]] = field(default_factory=list)
    created_count: int = 0
    updated_count: int = 0
    errors: list[tuple[list[str], str]] = field(default_factory=list)
    completed_at: int | None = None
    done: threading.Event = field(default_factory=threading.Event)


class ImportStore:
    def __init__(self, org):
        self._org = org
        self._imports: dict[int, _Import] = {}
        self._ids = itertools.count(1)
        self._closed = threading.Event()

    def close(self) -> None:
        """Stops background processing (org reset)."""
        self._closed.set()

    def wait(self, import_id: int, timeout: float | None = None) -> bool:
        """Blocks until the import is Complete (tests, benchmarks); False on timeout."""
        with self._org.lock:
            imp = self._get(import_id)
        return imp.done.wait(timeout)

    # --- API operations ----------------------------------------------------------------

    def create(self, spec, csv_bytes: bytes | None, actor) -> _Import:
        options = _parse_input(spec)
        with self._org.lock:
            now = self._org._stamp()
            imp = _Import(next(self._ids), now, options, actor, updated_at=now)
            if csv_bytes is not None:
                self._add_batch(imp, csv_bytes)
            self._imports[imp.id] = imp
            if options["status"] == "Ready":
                self._submit(imp)
            return imp

    def add_batch(self, import_id: int, csv_bytes: bytes | None) -> None:
        with self._org.lock:
            imp = self._get(import_id)
            if imp.status != "Open" or self._expired(imp):
                raise bad_request(IMPORT_STATE_FORBIDS,
                                  f"The current state of the import does not allow the "
                                  f"operation: import {import_id} is {imp.status}"
                                  f"{' and expired' if self._expired(imp) else ''}, batches "
                                  f"can only be added while it is Open")
            self._add_batch(imp, csv_bytes)
            imp.updated_at = self._org._stamp()

    def update(self, import_id: int, body) -> _Import:
        if not isinstance(body, dict):
            raise bad_request(INVALID_PROPERTY, "Invalid property in request: body must be a "
                                                "JSON object")
        unknown = set(body) - {"status", "state"}
        if unknown:
            raise bad_request(INVALID_PROPERTY, f"Invalid property in request: "
                                                f"{', '.join(sorted(unknown))} can't be updated")
        wanted = body.get("status", body.get("state"))
        if wanted is None:
            raise bad_request(MISSING_PROPERTY, "Missing required property in request: status")
        if wanted != "Ready":
            raise bad_request(INVALID_PROPERTY, f"Invalid property in request: status can only "
                                                f"be set to \"Ready\", not {wanted!r}")
        with self._org.lock:
            imp = self._get(import_id)
            if imp.status != "Open" or self._expired(imp):
                raise bad_request(IMPORT_NOT_OPEN,
                                  f"Can't update. Import must be in \"Open\" state. (import "
                                  f"{import_id} is {imp.status}"
                                  f"{', expired' if self._expired(imp) else ''})")
            self._submit(imp)
            return imp

    def read(self, import_id: int, base_url: str) -> dict:
        with self._org.lock:
            imp = self._get(import_id)
            expired = self._expired(imp)
            out = {"id": imp.id, "status": imp.status, "state": imp.status,
                   "operation": "Upsert", "object": "Prospect", "origin": "api",
                   "isExpired": expired, "createdById": imp.actor,
                   "createdAt": pf.render_datetime(imp.created_at),
                   "updatedAt": pf.render_datetime(imp.updated_at),
                   "createdCount": imp.created_count, "updatedCount": imp.updated_count,
                   "errorCount": len(imp.errors), "batchesRef": None, "errorsRef": None}
            if imp.status == "Open" and not expired:
                out["batchesRef"] = f"{base_url}/api/v5/imports/{imp.id}/batches"
            if imp.status == "Complete" and imp.errors and not expired:
                out["errorsRef"] = f"{base_url}/api/v5/imports/{imp.id}/errors"
            return out

    def errors_csv(self, import_id: int) -> str:
        with self._org.lock:
            imp = self._get(import_id)
            if imp.status != "Complete" or self._expired(imp):
                raise bad_request(IMPORT_STATE_FORBIDS,
                                  f"The current state of the import does not allow the "
                                  f"operation: errors of import {import_id} are available once "
                                  f"it is Complete and until it expires (it is {imp.status})")
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([*(imp.header or []), "error"])
            for row, reason in imp.errors:
                writer.writerow([*row, reason])
            return out.getvalue()

    # --- internals -----------------------------------------------------------------------

    def _get(self, import_id: int) -> _Import:
        imp = self._imports.get(import_id)
        if imp is None:
            raise not_found("Import", import_id)
        return imp

    def _expired(self, imp: _Import) -> bool:
        now = self._org.now()
        if imp.status == "Open":
            return now >= imp.created_at + OPEN_TTL
        return imp.completed_at is not None and now >= imp.completed_at + COMPLETE_TTL

    def _add_batch(self, imp: _Import, csv_bytes: bytes | None) -> None:
        if len(imp.batches) >= MAX_BATCHES:
            raise bad_request(TOO_MANY_BATCHES, f"The limit of batches per import has been "
                                                f"reached ({MAX_BATCHES})")
        header, rows = _parse_csv(csv_bytes, _canonical(self._org.fields("prospects")))
        if imp.header is not None and header != imp.header:
            raise bad_request(INVALID_CSV,
                              f"The file is not in a valid CSV format: every batch of an import "
                              f"must have the same header; expected {','.join(imp.header)}, got "
                              f"{','.join(header)}")
        imp.header = header
        imp.batches.append(rows)

    def _submit(self, imp: _Import) -> None:
        if not imp.batches:
            raise bad_request(IMPORT_NO_DATA, f"Can't start processing. Import has no "
                                              f"associated data. (import {imp.id})")
        imp.status = "Waiting"
        imp.updated_at = self._org._stamp()
        threading.Thread(target=self._process, args=(imp,), daemon=True,
                         name=f"pardot-import-{imp.id}").start()

    def _process(self, imp: _Import) -> None:
        org = self._org
        with org.lock:
            imp.status = "Processing"
            imp.updated_at = org._stamp()
        rows = [r for batch in imp.batches for r in batch]
        for start in range(0, len(rows), _CHUNK):
            if self._closed.is_set():
                return
            with org.lock:
                for row in rows[start:start + _CHUNK]:
                    try:
                        created = self._apply(imp, row)
                    except PardotError as exc:
                        imp.errors.append((row, exc.message))
                        continue
                    if created:
                        imp.created_count += 1
                    else:
                        imp.updated_count += 1
        with org.lock:
            imp.status = "Complete"
            imp.completed_at = imp.updated_at = org._stamp()
            imp.batches = []
        imp.done.set()

    def _apply(self, imp: _Import, row: list[str]) -> bool:
        """Upserts one CSV row (caller holds the org lock); True when it created a prospect."""
        org, table = self._org, self._org._tables["prospects"]
        raw = dict(zip(imp.header, row))
        match = {k: raw.pop(k).strip() for k in MATCH_COLUMNS if k in raw}
        match = {k: v for k, v in match.items() if v}
        if len(match) > 1:
            raise bad_request(INVALID_PROPERTY, f"Only one match value can be set per record, "
                                                f"got {', '.join(match)}")
        values = pf.coerce_write("prospects", raw, from_csv=True, spec=org.fields("prospects"))
        target = None
        if "matchId" in match:
            try:
                target = table.rows.get(int(match["matchId"]))
            except ValueError:
                raise bad_request(INVALID_PROPERTY, f"matchId {match['matchId']!r} is not a "
                                                    f"prospect id") from None
        elif "matchSalesforceId" in match:
            target = org.latest_by_salesforce_id(match["matchSalesforceId"])
        else:
            email = match.get("matchEmail") or (
                values.get("email") if not org._settings["ampsea"] else None)
            if email:
                target = org.latest_by_email(email) or (
                    self._latest_deleted(email) if imp.options["restoreDeleted"] else None)
        if target is None:
            if match and not imp.options["createOnNoMatch"]:
                raise bad_request(INVALID_PROPERTY, f"No prospect matches "
                                                    f"{', '.join(f'{k}={v}' for k, v in match.items())}")
            create = {k: v for k, v in values.items() if v is not None}
            if "email" not in create and "matchEmail" in match:
                create["email"] = match["matchEmail"]
            org._create("prospects", create, imp.actor)
            return True
        if target["isDeleted"]:
            if not imp.options["restoreDeleted"]:
                raise bad_request(INVALID_PROPERTY, f"Prospect {target['id']} is in the recycle "
                                                    f"bin (restoreDeleted is false)")
            if target.get("email"):
                org._check_email_free(target["email"], exclude_id=target["id"])
            target = org._replace("prospects", target, {"isDeleted": False}, imp.actor)
        if values.get("email", "") is None:
            del values["email"]                   # a blank email column never empties it
        org._update("prospects", target, values, imp.actor)
        return False

    def _latest_deleted(self, email: str) -> dict | None:
        table = self._org._tables["prospects"]
        rows = [table.rows[i] for i in table.by_email.get(email.lower(), ())]
        return max(rows, key=lambda r: (r["updatedAt"], r["id"])) if rows else None


def _parse_input(spec) -> dict:
    if not isinstance(spec, dict):
        raise bad_request(INVALID_PROPERTY, "Invalid property in request: the import input must "
                                            "be a JSON object")
    known = {"operation", "object", "status", "state", "restoreDeleted", "createOnNoMatch"}
    unknown = set(spec) - known
    if unknown:
        raise bad_request(INVALID_PROPERTY, f"Invalid property in request: "
                                            f"{', '.join(sorted(unknown))}")
    for key, expected in (("operation", "Upsert"), ("object", "Prospect")):
        if key not in spec:
            raise bad_request(MISSING_PROPERTY, f"Missing required property in request: {key}")
        if spec[key] != expected:
            raise bad_request(INVALID_PROPERTY, f"Invalid property in request: {key} must be "
                                                f"{expected!r}, got {spec[key]!r}")
    status = spec.get("status", spec.get("state", "Open"))
    if status not in ("Open", "Ready"):
        raise bad_request(INVALID_PROPERTY, f"Invalid property in request: status must be "
                                            f"\"Open\" or \"Ready\", got {status!r}")
    options = {"status": status}
    for key, default in (("restoreDeleted", False), ("createOnNoMatch", True)):
        value = spec.get(key, default)
        if not isinstance(value, bool):
            raise bad_request(INVALID_PROPERTY, f"Invalid property in request: {key} must be a "
                                                f"boolean")
        options[key] = value
    return options


def _parse_csv(data: bytes | None, canonical: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    if not data:
        raise bad_request(INVALID_CSV, "The file is not in a valid CSV format: the file is empty")
    if len(data) > MAX_BATCH_BYTES:
        raise bad_request(INVALID_CSV, f"The file is not in a valid CSV format: a batch must be "
                                       f"smaller than {MAX_BATCH_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise bad_request(INVALID_CSV, f"The file is not in a valid CSV format: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise bad_request(INVALID_CSV, "The file is not in a valid CSV format: it needs a header "
                                       "row and at least one data row")
    header, unknown = [], []
    for name in (c.strip() for c in rows[0]):
        known = canonical.get(name.lower())
        (header if known else unknown).append(known or name)
    if unknown:
        raise bad_request(INVALID_CSV_FIELDS,
                          f"One or more of the specified fields are invalid: "
                          f"{', '.join(repr(n) for n in unknown)} "
                          f"{'is not a' if len(unknown) == 1 else 'are not'} writable prospect "
                          f"field{'s' if len(unknown) > 1 else ''} or match column"
                          f"{'s' if len(unknown) > 1 else ''}")
    if len(set(header)) != len(header):
        raise bad_request(INVALID_CSV, "The file is not in a valid CSV format: duplicate column "
                                       "in the header")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise bad_request(INVALID_CSV, f"The file is not in a valid CSV format: row {number} "
                                           f"has {len(row)} columns, the header has "
                                           f"{len(header)}")
    return header, rows[1:]
