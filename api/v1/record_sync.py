"""One record's sync state without running a sync, and the CRM-id custom field (issue 9 item 3).

Ids arrive as strings so a malformed one is a 400 from the service, not a routing 404."""
from __future__ import annotations

from flask import jsonify

from ..auth import principal, service
from . import bp
from .jobs import accepted


@bp.get("/prospects/<prospect_id>/sync")
def prospect_sync_state(prospect_id: str):
    return jsonify(service().prospect_sync_state(principal(), prospect_id))


@bp.get("/crm-records/<crm_id>/sync")
def crm_record_sync_state(crm_id: str):
    return jsonify(service().crm_record_sync_state(principal(), crm_id))


@bp.post("/settings/crm-id-field")
def create_crm_id_field():
    return accepted(service().create_crm_id_field(principal()))
