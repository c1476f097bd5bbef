"""One source for validation (issue 12): the request models in sync/requests.py are what the
service checks for the API, the bot and the CLI alike; api/openapi.json must say the same."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync import requests as models

OPENAPI = json.loads((Path(__file__).resolve().parents[2] / "api" / "openapi.json").read_text())
COMPARED = ("type", "enum", "const", "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
            "minItems", "maxItems", "maxProperties")
# Patterns the OpenAPI document leaves to the service, so that the API answers with the
# service's sentence (which names the rule) rather than the schema's "does not match '\\S'".
SAID_BY_THE_SERVICE = {("SettingsPatch", "crm_id_field"): "pattern", ("MdsRule", "field"): "pattern"}
PAIRS = [  # OpenAPI component -> request model
    ("ConnectorCreate", models.ConnectorCreate),
    ("SettingsPatch", models.SettingsPatch),
    ("FieldMapping", models.FieldMappingRequest),
    ("FieldMappings", models.FieldMappings),
    ("MdsRule", models.MdsRule),
    ("MdsRules", models.MdsRules),
]


def _types(value) -> set:
    return set(value) if isinstance(value, list) else {value}


def _rules(schema: dict) -> dict:
    """The constraints of one property, with "or null" folded into the type."""
    nullable = False
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        schema = {**options[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
    rules = {k: schema[k] for k in COMPARED if k in schema}
    if "type" in rules:
        rules["type"] = _types(rules["type"]) | ({"null"} if nullable else set())
    if "enum" in rules:
        rules["enum"] = sorted(rules["enum"], key=str)
        rules.pop("type", None)  # an enum says it all
    if "const" in rules:  # a one-value enum
        rules["enum"], rules["const"] = [rules.pop("const")], None
        rules.pop("const")
        rules.pop("type", None)
    names = dict(schema.get("propertyNames") or {})
    values = schema.get("additionalProperties")
    for pattern, values in (schema.get("patternProperties") or {}).items():  # pydantic's way to say it
        names["pattern"] = pattern
    if isinstance(values, dict) and "enum" in values:
        rules["values"] = sorted(values["enum"])
    if names:
        rules["keys"] = {k: names[k] for k in ("pattern", "maxLength") if k in names}
    return rules


@pytest.mark.parametrize("component, model", PAIRS, ids=[p[0] for p in PAIRS])
def test_openapi_request_bodies_agree_with_the_request_models(component, model):
    """Before: OpenAPI capped FieldMapping.lead_field at 80 characters and the service only
    checked it was not blank; SettingsPatch.crm_id_field allowed 255 where the service allows 50."""
    spec = OPENAPI["components"]["schemas"][component]
    mine = model.model_json_schema()
    assert set(spec.get("required", [])) == set(mine.get("required", [])), "required fields differ"
    assert set(spec["properties"]) == set(mine["properties"]), "fields differ"
    assert spec.get("additionalProperties") is False and model.model_config["extra"] == "forbid"
    for name, prop in spec["properties"].items():
        theirs = _rules(prop)
        ours = _rules(mine["properties"][name])
        if (component, name) in SAID_BY_THE_SERVICE:
            ours.pop(SAID_BY_THE_SERVICE[component, name])
        if "enum" not in theirs and "type" in theirs and "type" in ours and "number" in theirs["type"]:
            ours["type"] = {"number" if t == "integer" else t for t in ours["type"]}
        if "items" in prop or "$ref" in prop.get("items", {}):
            ours.pop("type", None), theirs.pop("type", None)
        assert theirs == ours, f"{component}.{name}: OpenAPI says {theirs}, the model says {ours}"


def test_a_rule_is_told_in_the_services_words():
    assert models.SettingsPatch.problems({"notify_fold_seconds": 5, "colour": "blue"}) == {
        "notify_fold_seconds": "must be whole seconds from 10 to 86400", "colour": "is not a setting"}
    assert models.FieldMappingRequest.problems({"pardot_field": "email", "lead_field": "A" * 81}) == {
        "lead_field": "must be at most 80 characters"}
