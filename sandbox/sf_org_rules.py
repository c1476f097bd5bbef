"""How the Salesforce sandbox org turns a write into a record: coercion of the values, derived
fields (Name, person accounts), required fields, formats, validation rules, references and
injected per-record faults; a mixin of SalesforceOrg (salesforce.py)."""
from __future__ import annotations

import datetime as dt
import re

from .sf_schema import SCHEMAS, WRITABLE_OBJECTS, ObjectSchema, schema_for
from .sf_values import EMAIL_RE, SfError, coerce

PERSON_FIELDS = ("FirstName", "LastName", "PersonEmail", "PersonTitle", "PersonHasOptedOutOfEmail",
                 "pi__score__pc", "pi__grade__pc")
NAME_OBJECTS = ("Lead", "Contact", "User")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _full_name(first, last) -> str | None:
    name = " ".join(p for p in (first, last) if p)
    return name or None


class RecordRules:
    """Needs self.settings, self.fault_hook, self.find/object_of (SalesforceOrg)."""

    def _changes(self, schema: ObjectSchema, values: dict, creating: bool, system: bool) -> dict:
        if not isinstance(values, dict):
            raise SfError("JSON_PARSER_ERROR", f"Expected a JSON object for {schema.name}")
        changes, readonly = {}, []
        for key, raw in values.items():
            if key == "attributes":
                continue
            f = schema.field(key)
            if f is None:
                raise SfError("INVALID_FIELD", f"No such column '{key}' on sobject of type {schema.name}", [key])
            if not system and not (f.createable if creating else f.updateable):
                readonly.append(f.name)
                continue
            changes[f.name] = coerce(f, raw)
        if readonly:
            raise SfError("INVALID_FIELD_FOR_INSERT_UPDATE",
                          f"Unable to create/update fields: {', '.join(readonly)}. Please check the security "
                          "settings of this field and verify that it is read/write for your profile or "
                          "permission set.", readonly)
        return changes

    def stamp_after(self, previous: dt.datetime | None) -> dt.datetime:
        """A write's SystemModstamp: now, and after the record's previous one. (One stamp per write
        ran ahead of real time under bulk writes: 90 s after 100,000 in 10 s.)"""
        stamp = self.now()
        return stamp if previous is None or stamp > previous else previous + dt.timedelta(milliseconds=1)

    def _apply(self, obj: str, rec: dict, changes: dict, op: str) -> dt.datetime:
        """Applies a create's or an update's changes to rec and checks them; the write's stamp."""
        rec.update(changes)
        self._derive(obj, rec, changes, creating=op == "create")
        self._validate(obj, rec, changes)
        self._fault(obj, rec, op)
        return self.stamp_after(rec.get("SystemModstamp"))

    def _new_record(self, schema: ObjectSchema, rid: str, user_id: str, stamp: dt.datetime) -> dict:
        rec = {name: f.default for name, f in schema.fields.items()}
        rec.update(Id=rid, IsDeleted=False, CreatedDate=stamp, CreatedById=user_id,
                   LastModifiedDate=stamp, LastModifiedById=user_id, SystemModstamp=stamp)
        if schema.has_owner:
            rec["OwnerId"] = user_id
        return rec

    def _derive(self, obj: str, rec: dict, changes: dict, creating: bool) -> None:
        if obj in NAME_OBJECTS:
            rec["Name"] = _full_name(rec.get("FirstName"), rec.get("LastName"))
        elif obj == "Account":
            if creating:
                rt = rec.get("RecordTypeId")
                rec["IsPersonAccount"] = rt == self.person_account_record_type_id
            if rec["IsPersonAccount"]:
                rec["Name"] = _full_name(rec.get("FirstName"), rec.get("LastName"))
            else:
                bad = [f for f in PERSON_FIELDS if f in changes and changes[f] not in (None, False)]
                if bad:
                    raise SfError("INVALID_FIELD_FOR_INSERT_UPDATE",
                                  f"Account: bad field names on insert/update call: {', '.join(bad)}", bad)

    def _validate(self, obj: str, rec: dict, changes: dict) -> None:
        schema = SCHEMAS[obj]
        missing = [f.name for f in schema.fields.values() if f.required and _blank(rec.get(f.name))]
        if obj == "Account":
            need = "LastName" if rec["IsPersonAccount"] else "Name"
            if _blank(rec.get(need)):
                missing.append(need)
        if missing:
            raise SfError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        for name, value in changes.items():
            f = schema.fields[name]
            if f.type == "email" and value is not None and not EMAIL_RE.match(value):
                raise SfError("INVALID_EMAIL_ADDRESS", f"{f.label or name}: invalid email address: {value}", [name])
            if f.type == "reference" and value is not None:
                self._check_reference(obj, f, value)
        for rule in self.settings["validation_rules"]:
            if schema_for(rule["object"]) is not schema:
                continue
            fname = schema.field(rule["field"]).name
            value = rec.get(fname)
            op = rule["op"]
            hit = (op == "blank" and _blank(value)) or \
                  (op == "equals" and value is not None and str(value) == str(rule.get("value"))) or \
                  (op == "regex" and value is not None and re.search(str(rule.get("value")), str(value)))
            if hit:
                raise SfError("FIELD_CUSTOM_VALIDATION_EXCEPTION",
                              rule.get("message") or f"Validation rule on {fname} failed", [fname])
        for key in self._dup_rules(obj):
            dkey = self._dup_key(key[1], rec)
            if dkey is not None and (self.dup_idx[key].get(dkey, set()) - {rec["Id"]}):
                raise SfError("DUPLICATES_DETECTED", "Use one of these records?", [])

    def _check_reference(self, obj: str, f, value: str) -> None:
        target = self.object_of(value)
        if target not in f.reference_to or value not in self.live[target]:
            raise SfError("INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [f.name])
        if target == "User" and not self.live["User"][value]["IsActive"]:
            raise SfError("INACTIVE_OWNER_OR_USER", "operation performed with inactive user as owner", [f.name])
        if target == "RecordType" and self.live["RecordType"][value]["SobjectType"] != obj:
            raise SfError("INVALID_CROSS_REFERENCE_KEY", f"invalid record type id for {obj}: {value}", [f.name])

    def _fault(self, obj: str, rec: dict, op: str) -> None:
        hook = self.fault_hook
        if hook is not None:
            err = hook(obj, rec, op)
            if err is not None:
                raise err

    @staticmethod
    def _writable(obj: str) -> ObjectSchema:
        schema = schema_for(obj)
        if schema is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if schema.name not in WRITABLE_OBJECTS:
            raise SfError("INVALID_TYPE_FOR_OPERATION", f"entity type {schema.name} does not support this operation")
        return schema
