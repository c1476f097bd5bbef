"""Control API under /__sandbox__ (JSON, no auth, never counted): reset, seed, records, faults
(with an optional Retry-After, and when each refusal went out: `hit_at`),
latency, call counters, Salesforce/Pardot settings, convert-lead, undelete, connected apps."""
from __future__ import annotations

import ctypes
import json

from flask import Blueprint, Response, current_app, request

from . import context
from .context import pardot_org as pardot
from .context import runtime
from .context import sf_org as sf
from .seed import seed_orgs
from .sf_query import clear_cursors
from .sf_schema import schema_for
from .sf_values import SfError, render

PARDOT_OBJECTS = ("prospects", "users", "campaigns")

bp = Blueprint("sandbox_control", __name__, url_prefix="/__sandbox__")


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body, default=str), status=status, mimetype="application/json")


def _bad(message: str, status: int = 400, code: str = "bad_request") -> Response:
    return _json({"error": code, "message": message}, status)


def reset_all(runtime) -> None:
    """Both orgs back to the demo state: integration user on both sides, default settings, no counters."""
    sf = runtime.sf
    sf.reset()
    runtime.auth.reset()
    runtime.pardot.reset()
    if getattr(runtime, "sf_connector", None) is not None:  # sandbox/sf_connector.py (R39)
        runtime.sf_connector.reset()
    runtime.pardot.insert("users", [{
        "email": sf.integration_username, "firstName": "Integration", "lastName": "User",
        "role": "Administrator", "salesforceId": sf.integration_user_id,
    }])
    runtime.clear_faults()
    runtime.reset_counters()
    runtime.set_latency({f"{api}_ms": 0 for api in ("salesforce", "pardot", "oauth")})
    _release_memory()


def _release_memory() -> None:
    """Give the heap pages the old orgs' records freed back to the OS (glibc malloc_trim): after a
    1,000,000-record world, the next seed would otherwise start on top of gigabytes of RSS."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def render_sf(rec: dict) -> dict:
    return {k: render(v) for k, v in rec.items()}


def body() -> dict:
    data = request.get_json(silent=True)
    if data is None and request.get_data():
        raise ValueError("request body is not valid JSON")
    data = data if data is not None else {}
    if not isinstance(data, dict):
        raise ValueError("request body must be a JSON object")
    return data


@bp.errorhandler(ValueError)
def _value_error(err):
    return _bad(str(err))


@bp.errorhandler(SfError)
def _sf_error(err: SfError):
    return _json({"error": err.code, "message": err.message, "fields": err.fields},
                 err.status if err.status != 300 else 400)


@bp.get("/info")
def get_info():
    return _json(context.info())


@bp.post("/reset")
def reset():
    clear_cursors(current_app)  # before reset_all, so the freed records are given back with the rest
    reset_all(runtime._get_current_object())
    return _json({"ok": True})


@bp.post("/seed")
def seed():
    return _json(seed_orgs(runtime._get_current_object(), body()))


# ---------------------------------------------------------------- records
def _limit() -> int | None:
    """`?limit=N`: only the first N records (a bench picking records to edit in a 1M-record org)."""
    raw = request.args.get("limit")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"limit must be a positive integer, got {raw!r}")
    return int(raw)


@bp.get("/records/salesforce/<sobject>")
def sf_records(sobject):
    schema = schema_for(sobject)
    if schema is None:
        return _bad(f"unknown Salesforce object {sobject!r}", 404, "not_found")
    email = request.args.get("email")
    limit = _limit()
    rows = sf.by_email(schema.name, email) if email is not None else sf.rows(schema.name, include_deleted=True)
    return _json({"records": [render_sf(r) for r in rows[:limit]]})


@bp.post("/records/salesforce/<sobject>")
def sf_insert(sobject):
    schema = schema_for(sobject)
    if schema is None:
        return _bad(f"unknown Salesforce object {sobject!r}", 404, "not_found")
    records = body().get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return _bad("records must be a list of objects")
    rows = sf.insert_raw(schema.name, [{k: v for k, v in r.items() if k != "attributes"} for r in records])
    return _json({"records": [render_sf(r) for r in rows]}, 201)


def pardot_obj(obj):
    if obj not in PARDOT_OBJECTS:
        raise ValueError(f"unknown Pardot object {obj!r}; known: {', '.join(PARDOT_OBJECTS)}")
    return obj


@bp.get("/records/pardot/<obj>")
def pardot_records(obj):
    limit, email = _limit(), request.args.get("email")
    rows = pardot.dump(pardot_obj(obj), include_deleted=True, limit=None if email is not None else limit)
    if email is not None:
        rows = [r for r in rows if (r.get("email") or "").lower() == email.lower()][:limit]
    return _json({"records": rows})


@bp.post("/records/pardot/<obj>")
def pardot_insert(obj):
    records = body().get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return _bad("records must be a list of objects")
    return _json({"records": pardot.insert(pardot_obj(obj), records)}, 201)


# ---------------------------------------------------------------- faults, latency, calls
@bp.post("/faults")
def add_fault():
    return _json(runtime.add_fault(body()), 201)


@bp.get("/faults")
def list_faults():
    return _json({"faults": runtime.list_faults()})


@bp.delete("/faults")
def clear_faults():
    runtime.clear_faults()
    return _json({"ok": True})


@bp.route("/latency", methods=["GET", "POST", "PATCH"])
def latency():
    if request.method == "GET":
        return _json(runtime.get_latency())
    return _json(runtime.set_latency(body()))


@bp.get("/calls")
def calls():
    return _json(runtime.call_counts())


@bp.post("/calls/reset")
def calls_reset():
    runtime.reset_counters()
    return _json({"ok": True})


# ---------------------------------------------------------------- Salesforce
@bp.route("/salesforce/settings", methods=["GET", "PATCH", "POST"])
def sf_settings():
    if request.method == "GET":
        return _json(sf.get_settings())
    return _json(sf.update_settings(body()))


@bp.post("/salesforce/convert-lead")
def convert_lead():
    data = body()
    if not data.get("lead_id"):
        return _bad("lead_id is required")
    result = sf.convert_lead(data["lead_id"], data.get("account_id"), sf.integration_user_id)
    return _json(result)


@bp.post("/salesforce/undelete")
def undelete():
    data = body()
    if not data.get("object") or not data.get("id"):
        return _bad("object and id are required")
    return _json({"id": sf.undelete(data["object"], data["id"], sf.integration_user_id), "success": True})


@bp.post("/salesforce/connected-apps")
def connected_app():
    data = body()
    pem = data.get("certificate_pem") or data.get("public_key_pem")
    if not pem:
        return _bad("certificate_pem or public_key_pem is required")
    runtime.auth.register_app(data.get("consumer_key"), pem)
    return _json({"consumer_key": data["consumer_key"]}, 201)


# ---------------------------------------------------------------- Pardot
@bp.route("/pardot/settings", methods=["GET", "PATCH", "POST"])
def pardot_settings():
    if request.method == "GET":
        return _json(pardot.get_settings())
    return _json(pardot.update_settings(**body()))
