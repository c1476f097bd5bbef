"""Salesforce sandbox org settings (daily API allocation, token lifetime, validation and
duplicate rules), checked on write, as a mixin of SalesforceOrg (salesforce.py)."""
from __future__ import annotations

import re

from .sf_schema import schema_for

DEFAULT_SETTINGS = {
    "daily_api_max": 1_000_000,
    "api_used": 0,
    "token_lifetime_s": 7200,
    "validation_rules": [],
    "duplicate_rules": [],
}
_RULE_OPS = ("equals", "regex", "blank")


class OrgSettings:
    """Needs self.lock, self._api_lock, self.settings and self._build_dup_indexes()."""

    def get_settings(self) -> dict:
        with self.lock, self._api_lock:
            return {k: (list(v) if isinstance(v, list) else v) for k, v in self.settings.items()}

    def update_settings(self, changes: dict) -> dict:
        unknown = set(changes) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        for key in ("daily_api_max", "api_used", "token_lifetime_s"):
            if key in changes and (not isinstance(changes[key], int) or isinstance(changes[key], bool)
                                   or changes[key] < 0):
                raise ValueError(f"{key} must be a non-negative integer")
        rules = changes.get("validation_rules")
        if rules is not None:
            for i, rule in enumerate(rules):
                self._check_rule(i, rule)
        dups = changes.get("duplicate_rules")
        if dups is not None:
            for i, rule in enumerate(dups):
                schema = schema_for(rule.get("object", "")) if isinstance(rule, dict) else None
                if schema is None or not rule.get("fields") or not isinstance(rule["fields"], list):
                    raise ValueError(f"duplicate_rules[{i}] needs a known object and a list of fields")
                for fname in rule["fields"]:
                    if schema.field(fname) is None:
                        raise ValueError(f"duplicate_rules[{i}]: no field {fname!r} on {schema.name}")
        with self.lock, self._api_lock:
            self.settings.update(changes)
            if dups is not None:
                self._build_dup_indexes()
        return self.get_settings()

    @staticmethod
    def _check_rule(i: int, rule) -> None:
        if not isinstance(rule, dict):
            raise ValueError(f"validation_rules[{i}] must be an object")
        schema = schema_for(rule.get("object", ""))
        if schema is None:
            raise ValueError(f"validation_rules[{i}]: unknown object {rule.get('object')!r}")
        if schema.field(str(rule.get("field", ""))) is None:
            raise ValueError(f"validation_rules[{i}]: no field {rule.get('field')!r} on {schema.name}")
        if rule.get("op") not in _RULE_OPS:
            raise ValueError(f"validation_rules[{i}]: op must be one of {', '.join(_RULE_OPS)}")
        if rule["op"] == "regex":
            try:
                re.compile(str(rule.get("value", "")))
            except re.error as exc:
                raise ValueError(f"validation_rules[{i}]: bad regex: {exc}") from None

    def consume_api_call(self) -> tuple[bool, int, int]:
        """Count one REST call against the daily allocation: (allowed, used, max)."""
        with self._api_lock:
            used, cap = self.settings["api_used"], self.settings["daily_api_max"]
            if used >= cap:
                return False, used, cap
            self.settings["api_used"] = used + 1
            return True, used + 1, cap

    def api_usage(self) -> tuple[int, int]:
        with self._api_lock:
            return self.settings["api_used"], self.settings["daily_api_max"]
