"""Configuration: field mappings (R14–R16), MDS rules (R22, R23), settings. Admin writes."""
from __future__ import annotations

from flask import g, jsonify

from ..auth import principal, service
from . import bp


@bp.get("/field-mappings")
def get_field_mappings():
    return jsonify(mappings=service().get_field_mappings(principal()))


@bp.put("/field-mappings")
def put_field_mappings():
    return jsonify(mappings=service().set_field_mappings(principal(), g.body["mappings"]))


@bp.get("/mds-rules")
def get_mds_rules():
    return jsonify(service().get_mds_rules(principal()))


@bp.put("/mds-rules")
def put_mds_rules():
    return jsonify(service().set_mds_rules(principal(), g.body["enabled"], g.body["rules"]))


@bp.get("/settings")
def get_settings():
    return jsonify(service().get_settings(principal()))


@bp.patch("/settings")
def patch_settings():
    return jsonify(service().update_settings(principal(), g.body))
