"""Settings, field mappings (R14–R16, R30) and MDS rules (R22, R23)."""
from __future__ import annotations

from sqlalchemy import select

from .. import audit, native
from ..errors import Conflict, Invalid
from ..mapping import check_against_describe
from ..models import FieldMapping, MdsRule
from ..names import Role, State
from ..requests import parse_mappings, parse_mds, validate_settings
from ..roles import Principal, at_least
from ..serialize import mapping_of, rule_dict, settings_dict
from .base import ServiceBase

COLUMNS = ("auto_create_prospects", "follow_email_changes", "error_queue_owner", "connector_user")


def _joined(problems: dict, sep: str = " ") -> str:
    return "; ".join(f"{k}{sep}{v}" for k, v in problems.items())


class Configuration(ServiceBase):

    def get_settings(self, principal: Principal) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "operator", "get_settings")
            c = self._connector(s)
            settings = settings_dict(c, self._settings(c))
            if not at_least(principal.role, Role.ADMIN):  # people's emails: admins only
                del settings["role_overrides"]
            return settings

    def update_settings(self, principal: Principal, changes: dict) -> dict:
        with self.store.session() as s:
            self._require(s, principal, "admin", "update_settings")
            c = self._connector(s, for_update=True)
            problems = validate_settings(changes, s, c)
            if problems:
                self._invalid(s, principal, "update_settings", Invalid("invalid settings: " + _joined(problems), problems))
            extra = dict(c.settings or {})
            for key, value in changes.items():
                if key in COLUMNS:
                    setattr(c, key, value)
                elif key == "ampsea":
                    c.ampsea, c.ampsea_reviewed = value, True
                elif key == "role_overrides":
                    extra[key] = {k.strip().lower(): v for k, v in value.items()}
                else:
                    extra[key] = value
            c.settings = extra
            audit.record(s, principal, "update_settings", "ok", c.business_unit_id, changes=changes)
            result = settings_dict(c, self._settings(c))
        if "role_overrides" in changes:
            self.forget_roles()
        self._changed()
        return result

    def create_crm_id_field(self, principal: Principal, notify: dict | None = None) -> dict:
        """Creates the custom field named by `crm_id_field` in Pardot, as a job (the web never calls Pardot)."""
        with self.store.session() as s:
            self._require(s, principal, "admin", "create_crm_id_field")
            c = self._connector(s)
            name = self._settings(c).get("crm_id_field")
            if not name:
                self._refuse(s, principal, "create_crm_id_field",
                             Conflict("no custom field is named: set crm_id_field in the settings first"),
                             c.business_unit_id, reason="crm_id_field is not set")
        return self._start_job(principal, "create_crm_id_field", "admin", {}, {"field_id": name}, notify)

    def get_field_mappings(self, principal: Principal) -> list[dict]:
        with self.store.session() as s:
            c = self._connector(s)
            return [mapping_of(m).as_dict() for m in
                    s.scalars(select(FieldMapping).where(FieldMapping.connector_id == c.id)
                              .order_by(FieldMapping.id))]

    def set_field_mappings(self, principal: Principal, items: list) -> list[dict]:
        if native.is_native(self):
            native.refuse(self, principal, "set_field_mappings")
        with self.store.session() as s:
            self._require(s, principal, "admin", "set_field_mappings")
            c = self._connector(s, for_update=True)
            mappings, problems = parse_mappings(items)
            if not problems:
                rules = s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id)).all()
                problems = check_against_describe(mappings, (c.checks or {}).get("describe", {}),
                                                  {r.sobject: r.field for r in rules})
            if problems:
                self._invalid(s, principal, "set_field_mappings",
                              Invalid("invalid field mappings: " + _joined(problems, ": "), problems))
            for old in s.scalars(select(FieldMapping).where(FieldMapping.connector_id == c.id)):
                s.delete(old)
            s.flush()
            for m in mappings:
                s.add(FieldMapping(connector_id=c.id, **m.as_dict()))
            audit.record(s, principal, "set_field_mappings", "ok", c.business_unit_id,
                         fields=[m.pardot_field for m in mappings])
            return [m.as_dict() for m in mappings]

    def get_mds_rules(self, principal: Principal) -> dict:
        with self.store.session() as s:
            c = self._connector(s)
            rules = s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id).order_by(MdsRule.sobject)).all()
            return {"enabled": c.mds_enabled, "rules": [rule_dict(r) for r in rules]}

    def set_mds_rules(self, principal: Principal, enabled: bool, rules: list) -> dict:
        """R22, R23: one equals-rule per object, only while paused, only by an admin."""
        if native.is_native(self):
            native.refuse(self, principal, "set_mds_rules")
        with self.store.session() as s:
            self._require(s, principal, "admin", "set_mds_rules")
            c = self._connector(s, for_update=True)
            if c.state != State.PAUSED:
                self._invalid(s, principal, "set_mds_rules", Conflict(
                    "MDS rules change only while the connector is paused (R23); pause it first", {"state": c.state}))
            if c.version != 2:
                self._invalid(s, principal, "set_mds_rules", Conflict(
                    "MDS is available on connector version 2 only (R1, R22)", {"version": c.version}))
            problems, parsed = parse_mds(enabled, rules, s, c)
            if problems:
                self._invalid(s, principal, "set_mds_rules", Invalid("invalid MDS rules: " + _joined(problems), problems))
            for old in s.scalars(select(MdsRule).where(MdsRule.connector_id == c.id)):
                s.delete(old)
            s.flush()
            for sobject, field, value in parsed:
                s.add(MdsRule(connector_id=c.id, sobject=sobject, field=field, value=value))
            c.mds_enabled = enabled
            audit.record(s, principal, "set_mds_rules", "ok", c.business_unit_id, enabled=enabled,
                         rules=[{"object": o, "field": f, "value": v} for o, f, v in parsed])
        self._changed()
        return self.get_mds_rules(principal)
