"""State of the sandbox's Pardot (Account Engagement) side: prospects, users, campaigns,
account settings and API usage. Thread-safe behind one lock.

Rows are stored as dicts and replaced (never mutated) on write, so a page rendered outside
the lock always sees whole records. Each object keeps ordered indexes on id, (createdAt, id)
and (updatedAt, id) and hash indexes on lower-cased email and salesforceId, so single-record
calls are O(1)/O(log n) and a query page costs O(log n + page).
"""
from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timezone
from typing import Callable

from sandbox import pardot_fields as pf
from sandbox.pardot_errors import (
    EMAIL_IN_USE,
    INVALID_USER_ID,
    MISSING_PROPERTY,
    RECORD_DELETED,
    PardotError,
    bad_request,
    not_found,
)
from sandbox.pardot_imports import ImportStore
from sandbox.pardot_table import QuerySpec, _Table

__all__ = ["PardotOrg", "QuerySpec"]

EDITION_DAILY_LIMITS = {"Growth": 25_000, "Plus": 50_000, "Advanced": 100_000,
                        "Premium": 100_000}
DEFAULT_EDITION = "Advanced"
DEFAULT_TOKEN_TTL = 4 * 3600
_INF = float("inf")


def _default_settings() -> dict:
    return {"ampsea": False, "maximumDailyApiCalls": EDITION_DAILY_LIMITS[DEFAULT_EDITION],
            "apiCallsUsed": 0, "edition": DEFAULT_EDITION,
            "pageTokenTtlSeconds": DEFAULT_TOKEN_TTL, "pageTokenMaxRecords": 100_000}


class PardotOrg:
    """All state of the Pardot side of the sandbox (one business unit)."""

    def __init__(self, business_unit_id: str, clock: Callable[[], float] = time.time):
        self.business_unit_id = business_unit_id
        self.lock = threading.RLock()
        self._clock = clock
        self._imports = None
        self.reset()

    # --- contract API ------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            if self._imports is not None:
                self._imports.close()
            self._tables = {obj: _Table(obj) for obj in pf.OBJECTS}
            self.custom_fields: dict[str, dict] = {}  # fieldId (API name) -> row; pardot_custom_fields.py
            self._settings = _default_settings()
            self._usage_day = self._today()
            self._last_stamp = 0
            self._created_at = self._stamp()
            self._imports = ImportStore(self)

    def consume_api_call(self) -> bool:
        with self.lock:
            self._roll_usage_day()
            if self._settings["apiCallsUsed"] >= self._settings["maximumDailyApiCalls"]:
                return False
            self._settings["apiCallsUsed"] += 1
            return True

    def insert(self, obj: str, records: list[dict], render: bool = True) -> list[dict] | None:
        """Seeding path: v5 field names, no validation/AMPSEA, ids and timestamps assigned.
        Returns the rows as the API renders them, or None when `render` is False (a seed)."""
        table = self._table(obj)
        with self.lock:
            now = self._stamp()
            rows, next_id, seen = [], table.next_id, set()
            spec = self.fields(obj)
            datetimes = tuple(name for name, f in spec.items() if f.type == "datetime")
            for record in records:
                values = pf.coerce_seed(obj, record, spec, datetimes)
                rid = values.get("id")
                if rid is None:
                    rid, next_id = next_id, next_id + 1
                elif rid in table.rows or rid in seen:
                    raise ValueError(f"{pf.LABELS[obj]} id {rid} already exists")
                seen.add(rid)
                next_id = max(next_id, rid + 1)
                row = {**table.blank, **pf.DEFAULTS[obj], **values, "id": rid}
                row["isDeleted"] = bool(row["isDeleted"])
                row["createdAt"] = row["createdAt"] if row["createdAt"] is not None else now
                if row["updatedAt"] is None:
                    row["updatedAt"] = max(now, row["createdAt"])
                self._last_stamp = max(self._last_stamp, row["updatedAt"])
                rows.append(row)
            table.bulk_add(rows)
        if not render:
            return None
        spec = self.fields(obj)
        to_json = pf.make_renderer(obj, list(spec), spec)
        return [to_json(r) for r in rows]

    def fields(self, obj: str) -> dict:
        """The object's fields as this org has them: the catalogue plus its custom fields."""
        return pf.with_custom(obj, self.custom_fields)

    def dump(self, obj: str, include_deleted: bool = True, limit: int | None = None) -> list[dict]:
        """Every row (or the first `limit`) in id order, rendered as the API renders them."""
        table = self._table(obj)
        with self.lock:
            rows = (table.rows[i] for i in table.idx["id"])
            rows = [r for r in rows if include_deleted or not r["isDeleted"]] if limit is None else \
                list(itertools.islice((r for r in rows if include_deleted or not r["isDeleted"]), limit))
        spec = self.fields(obj)
        render = pf.make_renderer(obj, list(spec), spec)
        return [render(r) for r in rows]

    def get_settings(self) -> dict:
        with self.lock:
            self._roll_usage_day()
            return dict(self._settings)

    def update_settings(self, **changes) -> dict:
        types = {"ampsea": bool, "maximumDailyApiCalls": int, "apiCallsUsed": int,
                 "edition": str, "pageTokenTtlSeconds": int, "pageTokenMaxRecords": int}
        for key, value in changes.items():
            if key not in types:
                raise ValueError(f"unknown Pardot setting {key!r}; known: {', '.join(types)}")
            if type(value) is not types[key]:
                raise ValueError(f"Pardot setting {key} must be {types[key].__name__}, "
                                 f"got {value!r}")
            if key == "edition" and value not in EDITION_DAILY_LIMITS:
                raise ValueError(f"unknown Pardot edition {value!r}; known: "
                                 f"{', '.join(EDITION_DAILY_LIMITS)}")
            if types[key] is int and value < 0:
                raise ValueError(f"Pardot setting {key} must not be negative, got {value}")
        with self.lock:
            if "edition" in changes and "maximumDailyApiCalls" not in changes:
                changes = {**changes,
                           "maximumDailyApiCalls": EDITION_DAILY_LIMITS[changes["edition"]]}
            self._settings.update(changes)
            return dict(self._settings)

    # --- reads -------------------------------------------------------------------------

    @property
    def imports(self):
        return self._imports

    def now(self) -> float:
        return self._clock()

    def get(self, obj: str, rid: int, include_deleted: bool = False) -> dict:
        table = self._table(obj)
        with self.lock:
            row = table.rows.get(rid)
        if row is None:
            raise not_found(pf.LABELS[obj], rid)
        if row["isDeleted"] and not include_deleted:
            raise not_found(pf.LABELS[obj], rid, in_recycle_bin=True)
        return row

    def query(self, obj: str, spec: QuerySpec, after=None) -> tuple[list[dict], bool]:
        """Up to spec.limit rows after key `after` in spec order, and whether more exist."""
        table = self._table(obj)
        order = spec.order
        others = [(f, lo, hi) for f, (lo, hi) in spec.bounds.items() if f != order]
        deleted = spec.deleted

        def keep(row: dict) -> bool:
            if deleted != "all" and row["isDeleted"] != (deleted == "true"):
                return False
            for f, lo, hi in others:
                v = row[f]
                if (lo is not None and v < lo) or (hi is not None and v > hi):
                    return False
            return True

        key_of = (lambda r: r["id"]) if order == "id" else (lambda r: (r[order], r["id"]))
        if after is not None and order != "id":
            after = tuple(after)
        lo, hi = spec.bounds.get(order, (None, None))
        if order == "id":
            kmin, kmax = lo, hi
        else:
            kmin = None if lo is None else (lo, -1)
            kmax = None if hi is None else (hi, _INF)
        out: list[dict] = []
        with self.lock:
            if spec.email is not None:
                ids = table.by_email.get(spec.email.lower(), ())
                rows = sorted((table.rows[i] for i in ids), key=key_of, reverse=spec.desc)
                for row in rows:
                    k = key_of(row)
                    if ((kmin is not None and k < kmin) or (kmax is not None and k > kmax)
                            or (after is not None and (k <= after if not spec.desc
                                                       else k >= after))):
                        continue
                    if keep(row):
                        out.append(row)
            else:
                incl = [True, True]
                if after is not None:
                    if not spec.desc and (kmin is None or after >= kmin):
                        kmin, incl[0] = after, False
                    elif spec.desc and (kmax is None or after <= kmax):
                        kmax, incl[1] = after, False
                if kmin is not None and kmax is not None and kmin > kmax:
                    return [], False
                for k in table.idx[order].irange(kmin, kmax, inclusive=tuple(incl),
                                                 reverse=spec.desc):
                    row = table.rows[k if order == "id" else k[1]]
                    if keep(row):
                        out.append(row)
                        if len(out) > spec.limit:
                            break
        return out[:spec.limit], len(out) > spec.limit

    def account(self) -> dict:
        with self.lock:
            self._roll_usage_day()
            s = dict(self._settings)
        return {"id": 1, "company": "Sandbox Org", "level": s["edition"],
                "website": "https://sandbox.example", "pluginCampaignId": None,
                "maximumDailyApiCalls": s["maximumDailyApiCalls"],
                "apiCallsUsed": s["apiCallsUsed"],
                "createdAt": pf.render_datetime(self._created_at),
                "updatedAt": pf.render_datetime(self._created_at)}

    def pardot_user_id(self, salesforce_user_id: str | None) -> int | None:
        """The Pardot user linked to a Salesforce user id (for createdById/updatedById)."""
        if not salesforce_user_id:
            return None
        with self.lock:
            ids = self._tables["users"].by_sfid.get(salesforce_user_id.lower())
            return min(ids) if ids else None

    # --- writes (API path: validated) ----------------------------------------------------

    def create(self, obj: str, body, actor: int | None = None) -> dict:
        values = pf.coerce_write(obj, body, spec=self.fields(obj))
        with self.lock:
            return self._create(obj, values, actor)

    def update(self, obj: str, rid: int, body, actor: int | None = None) -> dict:
        values = pf.coerce_write(obj, body, spec=self.fields(obj))
        with self.lock:
            return self._update(obj, self._live_for_write(obj, rid), values, actor)

    def delete(self, obj: str, rid: int, actor: int | None = None) -> None:
        with self.lock:
            row = self.get(obj, rid)
            self._replace(obj, row, {"isDeleted": True}, actor)

    def undelete(self, obj: str, rid: int, actor: int | None = None) -> dict:
        with self.lock:
            row = self.get(obj, rid, include_deleted=True)
            if not row["isDeleted"]:
                return row
            if obj == "prospects" and row.get("email"):
                self._check_email_free(row["email"], exclude_id=rid)
            return self._replace(obj, row, {"isDeleted": False}, actor)

    def upsert_latest_by_email(self, match_email, body, actor: int | None = None
                               ) -> tuple[dict, bool]:
        if not isinstance(match_email, str) or not match_email.strip():
            raise bad_request(MISSING_PROPERTY,
                              "Missing required property in request: matchEmail")
        pf.coerce_value("prospects", "email", match_email)
        values = pf.coerce_write("prospects", body, spec=self.fields("prospects"))
        with self.lock:
            latest = self.latest_by_email(match_email)
            if latest is None:
                values.setdefault("email", match_email)
                return self._create("prospects", values, actor), True
            return self._update("prospects", latest, values, actor), False

    def latest_by_email(self, email: str) -> dict | None:
        """Most recently updated non-deleted prospect with this email (any case)."""
        table = self._tables["prospects"]
        with self.lock:
            live = [table.rows[i] for i in table.by_email.get(email.lower(), ())
                    if not table.rows[i]["isDeleted"]]
        return max(live, key=lambda r: (r["updatedAt"], r["id"])) if live else None

    def latest_by_salesforce_id(self, sfid: str) -> dict | None:
        table = self._tables["prospects"]
        with self.lock:
            rows = [table.rows[i] for i in table.by_sfid.get(sfid.lower(), ())]
        live = [r for r in rows if not r["isDeleted"]] or rows
        return max(live, key=lambda r: (r["updatedAt"], r["id"])) if live else None

    # --- internals (callers hold the lock) ---------------------------------------------

    def _create(self, obj: str, values: dict, actor) -> dict:
        table = self._tables[obj]
        if obj == "prospects":
            if not values.get("email"):
                raise bad_request(MISSING_PROPERTY,
                                  "Missing required property in request: email is required "
                                  "to create a prospect")
            self._check_email_free(values["email"])
            self._check_assignee(values)
        if obj == "campaigns" and not values.get("name"):
            raise bad_request(MISSING_PROPERTY,
                              "Missing required property in request: name is required to "
                              "create a campaign")
        now = self._stamp()
        row = {**table.blank, **pf.DEFAULTS[obj], **values, "id": table.next_id,
               "isDeleted": False, "createdAt": now, "updatedAt": now,
               "createdById": actor, "updatedById": actor}
        table.add(row)
        return row

    def _update(self, obj: str, row: dict, values: dict, actor) -> dict:
        if obj == "prospects":
            if "email" in values:
                if not values["email"]:
                    raise bad_request(MISSING_PROPERTY,
                                      "Missing required property in request: a prospect's "
                                      "email can't be emptied")
                if values["email"].lower() != (row.get("email") or "").lower():
                    self._check_email_free(values["email"], exclude_id=row["id"])
            self._check_assignee(values)
        if obj == "campaigns" and "name" in values and not values["name"]:
            raise bad_request(MISSING_PROPERTY, "Missing required property in request: a "
                                                "campaign's name can't be emptied")
        return self._replace(obj, row, values, actor)

    def _replace(self, obj: str, row: dict, changes: dict, actor) -> dict:
        new = {**row, **changes, "updatedAt": self._stamp(), "updatedById": actor}
        self._tables[obj].replace(row, new)
        return new

    def _live_for_write(self, obj: str, rid: int) -> dict:
        row = self._tables[obj].rows.get(rid)
        if row is None:
            raise not_found(pf.LABELS[obj], rid)
        if row["isDeleted"]:
            raise PardotError(400, RECORD_DELETED,
                              f"Deleted records can't be updated. Please undelete before "
                              f"updating. ({pf.LABELS[obj]} {rid} is in the recycle bin)")
        return row

    def _check_email_free(self, email: str, exclude_id: int | None = None) -> None:
        if self._settings["ampsea"]:
            return
        table = self._tables["prospects"]
        for rid in table.by_email.get(email.lower(), ()):
            if rid != exclude_id and not table.rows[rid]["isDeleted"]:
                raise bad_request(EMAIL_IN_USE,
                                  f"Email address is already in use: {email!r} belongs to prospect "
                                  f"{rid} (this business unit does not allow multiple prospects "
                                  f"with the same email address)")

    def _check_assignee(self, values: dict) -> None:
        uid = values.get("assignedToId")
        if uid is not None:
            user = self._tables["users"].rows.get(uid)
            if user is None or user["isDeleted"]:
                raise bad_request(INVALID_USER_ID,
                                  f"Invalid user ID: assignedToId {uid} is not an active user")

    def _table(self, obj: str) -> _Table:
        try:
            return self._tables[obj]
        except KeyError:
            raise ValueError(f"unknown Pardot object {obj!r}; known: "
                             f"{', '.join(pf.OBJECTS)}") from None

    def _stamp(self) -> int:
        """Whole-second timestamp, never earlier than the previous one (cursor safety)."""
        now = max(int(self._clock()), self._last_stamp)
        self._last_stamp = now
        return now

    def _today(self):
        return datetime.fromtimestamp(self._clock(), timezone.utc).date()

    def _roll_usage_day(self) -> None:
        today = self._today()
        if today != self._usage_day:
            self._usage_day = today
            self._settings["apiCallsUsed"] = 0
