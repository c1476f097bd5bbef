"""State of the emulated Salesforce org: records by Id, indexes, recycle bin, validation, transactions.

Records are stored as complete dicts (every field of the object present) and are never mutated in
place: a write stores a new dict. Readers can therefore take a snapshot of a table's values under the
lock and work on it outside the lock (queries on 100k rows do not block writers).
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict

from .ids import KEY_PREFIXES, PREFIX_TO_OBJECT, IdFactory, to18
from .sf_org_rules import NAME_OBJECTS, RecordRules, _blank, _full_name
from .sf_org_settings import DEFAULT_SETTINGS, OrgSettings
from .sf_schema import EMAIL_FIELD, SCHEMAS, schema_for
from .sf_values import EPOCH, UTC, SfError


class SalesforceOrg(OrgSettings, RecordRules):
    """Thread-safe org state; every public method takes `self.lock` (an RLock)."""

    def __init__(self, org_id: str, ids: IdFactory):
        self.org_id = org_id
        self.ids = ids
        self.lock = threading.RLock()
        self._api_lock = threading.Lock()
        self._last_ms = 0
        self._undo: list | None = None
        self._depth = 0
        # (obj, record after write, op) -> SfError | None; set by the runtime (per-record faults).
        self.fault_hook = None
        self.integration_user_id = ids.new(KEY_PREFIXES["User"])
        self.person_account_record_type_id = ids.new(KEY_PREFIXES["RecordType"])
        self.business_account_record_type_id = ids.new(KEY_PREFIXES["RecordType"])
        self.integration_username = "integration@sandbox.example"
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        with self.lock:
            # Stamps restart from the clock: an emptied org has no stamp to stay ahead of, so a
            # burst of writes before the reset no longer pushes later stamps into the future.
            self._last_ms = 0
            self.live: dict[str, dict[str, dict]] = {name: {} for name in SCHEMAS}
            self.bin: dict[str, dict[str, dict]] = {name: {} for name in SCHEMAS}
            self.deleted_at: dict[str, dict[str, dt.datetime]] = {name: {} for name in SCHEMAS}
            self.email_idx = {name: defaultdict(set) for name in EMAIL_FIELD}
            self.ext_idx = {name: defaultdict(set) for name, s in SCHEMAS.items() if s.external_ids}
            self.settings = {k: (list(v) if isinstance(v, list) else v) for k, v in DEFAULT_SETTINGS.items()}
            self.dup_idx: dict[tuple, dict] = {}
            self._undo, self._depth = None, 0
            uid = self.integration_user_id
            self.insert_raw("User", [{
                "Id": uid, "Username": self.integration_username, "Email": self.integration_username,
                "FirstName": "Integration", "LastName": "User", "IsActive": True,
            }], user_id=uid, coerce_values=False)
            self.insert_raw("RecordType", [
                {"Id": self.person_account_record_type_id, "Name": "Person Account",
                 "DeveloperName": "PersonAccount", "SobjectType": "Account", "IsPersonType": True},
                {"Id": self.business_account_record_type_id, "Name": "Business Account",
                 "DeveloperName": "Business_Account", "SobjectType": "Account", "IsPersonType": False},
            ], user_id=uid, coerce_values=False)

    def now(self) -> dt.datetime:  # ms, never back; records share a ms as in a real org (issue 11)
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms)
            return EPOCH + dt.timedelta(milliseconds=self._last_ms)

    def _stamp_block(self, n: int) -> int:
        """n consecutive ms stamps ending now, never later (a seed in chunks ran 80 s ahead)."""
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms)
            return self._last_ms - n + 1

    # ------------------------------------------------------------------ indexes
    def _dup_rules(self, obj: str) -> list[tuple]:
        return [k for k in self.dup_idx if k[0] == obj]

    def _build_dup_indexes(self) -> None:
        self.dup_idx = {}
        for rule in self.settings["duplicate_rules"]:
            schema = schema_for(rule["object"])
            key = (schema.name, tuple(schema.field(f).name for f in rule["fields"]))
            self.dup_idx[key] = defaultdict(set)
            for rec in self.live[schema.name].values():
                dkey = self._dup_key(key[1], rec)
                if dkey is not None:
                    self.dup_idx[key][dkey].add(rec["Id"])

    @staticmethod
    def _dup_key(fields: tuple, rec: dict):
        values = tuple(str(rec.get(f)).lower() if not _blank(rec.get(f)) else None for f in fields)
        return None if all(v is None for v in values) else values

    def _index(self, obj: str, rec: dict, add: bool) -> None:
        rid = rec["Id"]
        efield = EMAIL_FIELD.get(obj)
        if efield and rec.get(efield):
            key = rec[efield].lower()
            bucket = self.email_idx[obj][rec[efield] if key == rec[efield] else key]  # one string, not two
            bucket.add(rid) if add else bucket.discard(rid)
        if obj in self.ext_idx and rec.get("External_Id__c") is not None:
            bucket = self.ext_idx[obj][rec["External_Id__c"]]
            bucket.add(rid) if add else bucket.discard(rid)
        for key, index in self.dup_idx.items():
            if key[0] == obj:
                dkey = self._dup_key(key[1], rec)
                if dkey is not None:
                    index[dkey].add(rid) if add else index[dkey].discard(rid)

    def _save_undo(self, obj: str, rid: str) -> None:
        if self._undo is not None:
            self._undo.append((obj, rid, self.live[obj].get(rid), self.bin[obj].get(rid),
                               self.deleted_at[obj].get(rid)))

    def _put_live(self, obj: str, rec: dict) -> None:
        rid = rec["Id"]
        self._save_undo(obj, rid)
        old = self.live[obj].get(rid)
        if old is not None:
            self._index(obj, old, False)
        self.live[obj][rid] = rec
        self._index(obj, rec, True)

    def _restore(self, obj, rid, live_rec, bin_rec, deleted_at) -> None:
        old = self.live[obj].pop(rid, None)
        if old is not None:
            self._index(obj, old, False)
        self.bin[obj].pop(rid, None)
        self.deleted_at[obj].pop(rid, None)
        if live_rec is not None:
            self.live[obj][rid] = live_rec
            self._index(obj, live_rec, True)
        if bin_rec is not None:
            self.bin[obj][rid] = bin_rec
            self.deleted_at[obj][rid] = deleted_at

    # ------------------------------------------------------------------ transactions
    def begin(self) -> int:
        """Start a (nested) transaction; returns a savepoint for rollback(). Caller holds the lock."""
        if self._undo is None:
            self._undo = []
        self._depth += 1
        return len(self._undo)

    def end(self, savepoint: int, rollback: bool) -> None:
        if rollback:
            while len(self._undo) > savepoint:
                self._restore(*self._undo.pop())
        self._depth -= 1
        if self._depth == 0:
            self._undo = None

    # ------------------------------------------------------------------ lookups
    def object_of(self, rid: str) -> str | None:
        return PREFIX_TO_OBJECT.get(rid[:3]) if isinstance(rid, str) else None

    def find(self, obj: str, rid: str) -> tuple[dict | None, bool]:
        """(record, is_deleted) for an 18-char id, (None, False) when unknown."""
        rec = self.live[obj].get(rid)
        if rec is not None:
            return rec, False
        rec = self.bin[obj].get(rid)
        return rec, rec is not None

    def _existing(self, obj: str, rid: str) -> dict:
        """The live record; NOT_FOUND, or ENTITY_IS_DELETED when it is in the recycle bin."""
        rec, deleted = self.find(obj, rid)
        if rec is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if deleted:
            raise SfError("ENTITY_IS_DELETED", "entity is deleted", status=404)
        return rec

    def get(self, obj: str, raw_id: str) -> dict:
        rid = to18(raw_id)
        if rid is None:
            raise SfError("NOT_FOUND", "Provided external ID field does not exist or is not accessible: " + str(raw_id),
                          status=404)
        return self._existing(obj, rid)

    def rows(self, obj: str, include_deleted: bool = False) -> list[dict]:
        with self.lock:
            rows = list(self.live[obj].values())
            if include_deleted:
                rows.extend(self.bin[obj].values())
        return rows

    def by_email(self, obj: str, email: str, include_deleted: bool = True) -> list[dict]:
        with self.lock:
            out = [self.live[obj][i] for i in self.email_idx.get(obj, {}).get(email.lower(), ())]
            if include_deleted and obj in EMAIL_FIELD:
                f = EMAIL_FIELD[obj]
                out += [r for r in self.bin[obj].values() if (r.get(f) or "").lower() == email.lower()]
        return out

    def create(self, obj: str, values: dict, user_id: str) -> str:
        schema = self._writable(obj)
        obj = schema.name
        if any(k.lower() == "id" for k in values):
            raise SfError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])
        with self.lock:
            changes = self._changes(schema, values, creating=True, system=False)
            rec = self._new_record(schema, self.ids.new(schema.key_prefix), user_id, EPOCH)
            stamp = self._apply(obj, rec, changes, "create")
            rec.update(CreatedDate=stamp, LastModifiedDate=stamp, SystemModstamp=stamp)
            self._put_live(obj, rec)
            return rec["Id"]

    def _live_for_write(self, obj: str, raw_id) -> dict:
        rid = to18(raw_id) if isinstance(raw_id, str) else None
        if rid is None:
            raise SfError("MALFORMED_ID", f"{obj} ID: id value of incorrect type: {raw_id}", ["Id"])
        if self.object_of(rid) != obj:
            raise SfError("MALFORMED_ID", f"{obj} ID: id value of incorrect type: {raw_id}", ["Id"])
        return self._existing(obj, rid)

    def update(self, obj: str, raw_id: str, values: dict, user_id: str) -> str:
        schema = self._writable(obj)
        obj = schema.name
        values = {k: v for k, v in values.items() if k.lower() != "id"}
        with self.lock:
            old = self._live_for_write(obj, raw_id)
            if obj == "Lead" and old["IsConverted"]:
                raise SfError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
            changes = self._changes(schema, values, creating=False, system=False)
            rec = dict(old)
            stamp = self._apply(obj, rec, changes, "update")
            rec.update(LastModifiedDate=stamp, LastModifiedById=user_id, SystemModstamp=stamp)
            self._put_live(obj, rec)
            return rec["Id"]

    def upsert(self, obj: str, ext_field: str, ext_value, values: dict, user_id: str) -> tuple[str, bool]:
        schema = self._writable(obj)
        obj = schema.name
        f = schema.field(ext_field)
        if f is None or not (f.external_id or f.name == "Id"):
            raise SfError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {ext_field}",
                          status=404)
        with self.lock:
            if f.name == "Id":
                if ext_value in (None, ""):
                    return self.create(obj, values, user_id), True
                return self.update(obj, ext_value, values, user_id), False
            if ext_value is None or ext_value == "":
                raise SfError("MISSING_ARGUMENT", f"{f.name} not specified", [f.name])
            ext_value = str(ext_value)
            given = next((v for k, v in values.items() if k.lower() == f.name.lower()), ext_value)
            if given is not None and str(given) != ext_value:
                raise SfError("INVALID_FIELD", f"The value of {f.name} in the body does not match the URL", [f.name])
            matches = sorted(self.ext_idx[obj].get(ext_value, ()))
            if len(matches) > 1:
                err = SfError("MULTIPLE_CHOICES", f"More than one record found for external id field {f.name}",
                              [f.name], status=300)
                err.matches = matches
                raise err
            body = {k: v for k, v in values.items() if k.lower() != f.name.lower()}
            if matches:
                return self.update(obj, matches[0], body, user_id), False
            body[f.name] = ext_value
            return self.create(obj, body, user_id), True

    def delete(self, raw_id: str, user_id: str, obj: str | None = None) -> str:
        rid = to18(raw_id) if isinstance(raw_id, str) else None
        target = self.object_of(rid) if rid else None
        if rid is None or target is None or (obj is not None and schema_for(obj) and schema_for(obj).name != target):
            raise SfError("MALFORMED_ID", f"malformed id {raw_id}", [], status=400)
        self._writable(target)
        with self.lock:
            rec = self._live_for_write(target, rid)
            self._fault(target, rec, "delete")
            stamp = self.stamp_after(rec["SystemModstamp"])
            self._save_undo(target, rid)
            self._index(target, rec, False)
            del self.live[target][rid]
            self.bin[target][rid] = {**rec, "IsDeleted": True, "SystemModstamp": stamp,
                                     "LastModifiedDate": stamp, "LastModifiedById": user_id}
            self.deleted_at[target][rid] = stamp
            return rid

    def undelete(self, obj: str, raw_id: str, user_id: str | None = None) -> str:
        schema = self._writable(obj)
        rid = to18(raw_id) if isinstance(raw_id, str) else None
        with self.lock:
            rec = self.bin[schema.name].get(rid) if rid else None
            if rec is None:
                if rid and rid in self.live[schema.name]:
                    raise SfError("UNDELETE_FAILED", "Entity is not in the recycle bin", [])
                raise SfError("NOT_FOUND", f"No {schema.name} with id {raw_id} in the recycle bin", status=404)
            stamp = self.stamp_after(rec["SystemModstamp"])
            self._save_undo(schema.name, rid)
            del self.bin[schema.name][rid]
            del self.deleted_at[schema.name][rid]
            new = {**rec, "IsDeleted": False, "SystemModstamp": stamp, "LastModifiedDate": stamp,
                   "LastModifiedById": user_id or rec["LastModifiedById"]}
            self.live[schema.name][rid] = new
            self._index(schema.name, new, True)
            return rid

    def insert_raw(self, obj: str, records: list[dict], user_id: str | None = None,
                   coerce_values: bool = True, first_ms: int | None = None) -> list[dict]:
        """Direct inserts (seeding, control API): no validation, no API counting. `first_ms`: the
        first of a block of stamps the caller reserved with _stamp_block (a seed in chunks)."""
        schema = schema_for(obj)
        if schema is None:
            raise SfError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        obj = schema.name
        user_id = user_id or self.integration_user_id
        # Per record only what differs: the blank record is built once, ids are made in one block
        # (seeding 1,000,000 leads is one call).
        template = self._new_record(schema, None, user_id, EPOCH)
        named = obj in NAME_OBJECTS
        person_type = self.person_account_record_type_id
        names: dict[tuple, str | None] = {}  # one Name string per (first, last): seeds repeat them
        out = []
        with self.lock:
            live, bin_, deleted_at = self.live[obj], self.bin[obj], self.deleted_at[obj]
            if first_ms is None:
                first_ms = self._stamp_block(len(records))
            all_changes = [self._changes(schema, values, creating=True, system=True) if coerce_values else values
                           for values in records]
            fresh = iter(self.ids.new_many(schema.key_prefix, sum(1 for c in all_changes if not c.get("Id"))))
            for i, changes in enumerate(all_changes):
                stamp = EPOCH + dt.timedelta(milliseconds=first_ms + i)
                rid = changes.get("Id") or next(fresh)
                rec = {**template, "Id": rid, "CreatedDate": stamp, "LastModifiedDate": stamp,
                       "SystemModstamp": stamp, **changes}
                if obj == "Account" and "IsPersonAccount" not in changes:
                    rec["IsPersonAccount"] = rec.get("RecordTypeId") == person_type
                if named or (obj == "Account" and rec["IsPersonAccount"]):
                    pair = (rec.get("FirstName"), rec.get("LastName"))
                    name = names.get(pair)
                    if name is None:
                        name = names[pair] = _full_name(*pair)
                    rec["Name"] = name
                if rec.get("IsDeleted"):
                    bin_[rid] = rec
                    deleted_at[rid] = rec["SystemModstamp"]
                elif self._undo is None and rid not in live:
                    live[rid] = rec  # a new record outside a transaction: nothing to undo or unindex
                    self._index(obj, rec, True)
                else:
                    self._put_live(obj, rec)
                out.append(rec)
        return out

    # ------------------------------------------------------------------ convert lead
    def convert_lead(self, lead_id: str, account_id: str | None, user_id: str) -> dict:
        with self.lock:
            lead = self._live_for_write("Lead", lead_id)
            if lead["IsConverted"]:
                raise SfError("CANNOT_UPDATE_CONVERTED_LEAD", "lead is already converted", [])
            sp = self.begin()
            ok = False
            try:
                if account_id:
                    account = self._live_for_write("Account", account_id)
                    acc_id = account["Id"]
                else:
                    acc_id = self.create("Account", {"Name": lead["Company"], "OwnerId": lead["OwnerId"],
                                                     "Phone": lead["Phone"],
                                                     "Business_Unit__c": lead["Business_Unit__c"]}, user_id)
                contact = {k: lead[k] for k in ("FirstName", "LastName", "Title", "Email", "Phone",
                                                 "HasOptedOutOfEmail", "OwnerId", "pi__score__c",
                                                 "pi__grade__c", "Business_Unit__c")}
                contact_id = self.create("Contact", {**contact, "AccountId": acc_id}, user_id)
                stamp = self.stamp_after(lead["SystemModstamp"])
                self._put_live("Lead", {**lead, "IsConverted": True, "Status": "Closed - Converted",
                                        "ConvertedContactId": contact_id, "ConvertedAccountId": acc_id,
                                        "ConvertedDate": stamp.date(), "LastModifiedDate": stamp,
                                        "LastModifiedById": user_id, "SystemModstamp": stamp})
                ok = True
            finally:
                self.end(sp, rollback=not ok)
            return {"leadId": lead["Id"], "contactId": contact_id, "accountId": acc_id}

    # ------------------------------------------------------------------ replication
    def updated_ids(self, obj: str, start: dt.datetime, end: dt.datetime) -> list[str]:
        rows = self.rows(obj)
        return [r["Id"] for r in rows if start <= r["SystemModstamp"] < end]

    def deleted_records(self, obj: str, start: dt.datetime, end: dt.datetime) -> list[tuple[str, dt.datetime]]:
        with self.lock:
            items = list(self.deleted_at[obj].items())
        return sorted(((rid, when) for rid, when in items if start <= when < end), key=lambda x: x[1])

    def earliest_deleted(self, obj: str) -> dt.datetime | None:
        with self.lock:
            return min(self.deleted_at[obj].values(), default=None)


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)
