"""The checked-in OpenAPI document, and request validation against it.

The document is the contract: request bodies and query strings are validated against the
very schemas it publishes, so the documentation and the behaviour cannot drift apart."""
from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_PATH = Path(__file__).with_name("openapi.json")
BASE = "urn:pardot-connector:openapi"
_FLASK_VAR = re.compile(r"<(?:[^:>]+:)?(\w+)>")


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def openapi_path(flask_rule: str) -> str:
    """/api/v1/jobs/<job_id> → /api/v1/jobs/{job_id}"""
    return _FLASK_VAR.sub(r"{\1}", flask_rule)


def field_errors(validator: Draft202012Validator, instance) -> dict[str, str]:
    """Every violation keyed by the field it concerns (dotted path, [i] for list items)."""
    details: dict[str, str] = {}
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        path = ""
        for part in error.absolute_path:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        prefix = f"{path}." if path else ""
        if error.validator == "required":
            for name in error.validator_value:
                if isinstance(error.instance, dict) and name not in error.instance:
                    details.setdefault(prefix + name, "is required")
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for name in error.instance:
                if name not in allowed:
                    details.setdefault(prefix + name, "is not a known field")
        else:
            details.setdefault(path or "body", error.message)
    return details


class OpenApi:
    def __init__(self, doc: dict):
        self.doc = doc
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(BASE, resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self._templates = [(re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(p)) + "$"), p)
                           for p in doc["paths"]]

    @classmethod
    def load(cls, path: Path = DOC_PATH) -> "OpenApi":
        return cls(json.loads(path.read_text()))

    @cached_property
    def text(self) -> str:
        return json.dumps(self.doc, indent=1)

    def validator(self, *pointer: str) -> Draft202012Validator:
        ref = f"{BASE}#/{_pointer(*pointer)}"
        if ref not in self._validators:
            self._validators[ref] = Draft202012Validator({"$ref": ref}, registry=self.registry)
        return self._validators[ref]

    def operation(self, path: str, method: str) -> dict | None:
        return self.doc["paths"].get(path, {}).get(method.lower())

    def match(self, concrete_path: str) -> str | None:
        """The path template a concrete request path falls under (for response checking)."""
        for regex, template in self._templates:
            if regex.match(concrete_path):
                return template
        return None

    def body_validator(self, path: str, method: str) -> Draft202012Validator | None:
        op = self.operation(path, method)
        if not op or "requestBody" not in op:
            return None
        return self.validator("paths", path, method.lower(), "requestBody", "content", "application/json", "schema")

    def body_required(self, path: str, method: str) -> bool:
        op = self.operation(path, method) or {}
        return bool(op.get("requestBody", {}).get("required"))

    def query_parameters(self, path: str, method: str) -> list[tuple[dict, Draft202012Validator]]:
        op = self.operation(path, method) or {}
        params = []
        for i, param in enumerate(op.get("parameters", [])):
            if "$ref" in param:
                pointer = [part.replace("~1", "/").replace("~0", "~") for part in param["$ref"][2:].split("/")]
            else:
                pointer = ["paths", path, method.lower(), "parameters", str(i)]
            param = self._resolve(param)
            if param.get("in") == "query":
                params.append((param, self.validator(*pointer, "schema")))
        return params

    def response_validator(self, path: str, method: str, status: int) -> Draft202012Validator | None:
        """The schema of a JSON response, by exact status, then NXX range, then default."""
        responses = (self.operation(path, method) or {}).get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                content = self._resolve(responses[key]).get("content", {})
                if "application/json" not in content:
                    return None
                if "$ref" in responses[key]:
                    ref = responses[key]["$ref"][2:].split("/")
                    return self.validator(*ref, "content", "application/json", "schema")
                return self.validator("paths", path, method.lower(), "responses", key, "content",
                                      "application/json", "schema")
        raise LookupError(f"{method.upper()} {path} documents no response for status {status}")

    def _resolve(self, node: dict) -> dict:
        while "$ref" in node:
            target = self.doc
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node
