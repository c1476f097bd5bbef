"""Manual syncs (R6) and the jobs they start: 202 + the job's URL, then poll it."""
from __future__ import annotations

from flask import g, jsonify, url_for

from ..auth import principal, service
from . import bp


def accepted(job: dict):
    """202 with the job and where to follow it (shared by every endpoint that starts work)."""
    url = url_for("v1.get_job", job_id=job["id"])
    return jsonify(job_id=job["id"], url=url, job=job), 202, {"Location": url}


@bp.post("/syncs/prospect")
def sync_prospect():
    return accepted(service().sync_prospect(principal(), prospect_id=g.body.get("prospect_id"),
                                            email=g.body.get("email")))


@bp.post("/syncs/salesforce")
def send_to_pardot():
    return accepted(service().send_to_pardot(principal(), g.body["object"], g.body["id"]))


@bp.get("/jobs/<job_id>")
def get_job(job_id: str):
    return jsonify(service().get_job(principal(), job_id))
