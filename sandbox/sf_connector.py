"""Salesforce's own connector (v2) as Pardot's v5 Connector API shows it, and a small
simulation of what it does to the data (R39).

Served: GET /api/v5/connectors/salesforce and POST .../do/pause, .../do/unpause (the action
paths are inferred: see sync/sf_connector.py, CONNECTOR_PATHS). Refusals use Pardot's error
body `{"code": N, "message": ...}`: HTTP 400 for no connector / not v2 / already paused /
already running, HTTP 403 when the API user lacks the "Admin > Connectors" ability.

The simulated connector runs every `period` seconds unless paused, stalled, unverified or
absent: it marks changed prospects synced (salesforceLastSync), creates a lead for every
assigned prospect without a salesforceId and sets that prospect's read-only salesforce*
fields directly in the org's data. Prospects marked stuck are skipped (a record that stays
out of sync). Control routes under /__sandbox__/sf-connector.

Imports nothing from sync/."""
from __future__ import annotations

import json
import threading

from flask import Blueprint, Response, current_app, request
from werkzeug.local import LocalProxy

from sandbox import pardot_fields as pf
from sandbox.pardot_errors import NOT_FOUND, PardotError, bad_request

# Pardot's registry has no connector-specific codes in public docs; these are inferred.
ACTION_REFUSED = 2      # "Invalid action": no connector, not v2, already paused/running
ACCESS_DENIED = 11      # the API user's role lacks the needed ability
CONNECTOR_FIELDS = ("id", "name", "accountId", "isPaused", "isVerified", "isDeleted", "lastSyncedAt",
                    "version")
DEFAULT_FIELDS = ("name", "isPaused", "isVerified", "isDeleted", "lastSyncedAt")
DEFAULT_PERIOD = 120.0  # Salesforce's connector v2 syncs about every 2 minutes


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")


class NativeConnector:
    """State of the org's Salesforce connector, and its sync loop. One lock: the Pardot org's."""

    def __init__(self, sf, pardot):
        self.sf, self.pardot = sf, pardot
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.reset()
        self._thread = threading.Thread(target=self._loop, name="sandbox-sf-connector", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Absent by default: a fresh org runs no native connector (the builtin engine's world)."""
        with self._lock:
            self.state = {"present": False, "version": 2, "verified": True, "paused": False,
                          "stalled": False, "ability": True, "period": DEFAULT_PERIOD,
                          "name": "Salesforce", "lastSyncedAt": None}
            self.stuck: set[int] = set()
            self.ticks = 0
        self._wake.set()

    def configure(self, changes: dict) -> dict:
        allowed = {"present": bool, "version": int, "verified": bool, "paused": bool, "stalled": bool,
                   "ability": bool, "period": (int, float), "name": str}
        for key, value in changes.items():
            if key == "stuck":
                if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                         for v in value):
                    raise ValueError("stuck must be a list of prospect ids")
                continue
            if key not in allowed:
                raise ValueError(f"unknown connector setting {key!r}; known: {', '.join(sorted(allowed))}, stuck")
            if not isinstance(value, allowed[key]) or (isinstance(value, bool) and allowed[key] is not bool):
                raise ValueError(f"{key} has the wrong type")
        if "version" in changes and changes["version"] not in (1, 2):
            raise ValueError("version must be 1 or 2")
        if "period" in changes and not 0.2 <= changes["period"] <= 3600:
            raise ValueError("period must be from 0.2 to 3600 seconds")
        with self._lock:
            was_present = self.state["present"]
            for key, value in changes.items():
                if key == "stuck":
                    self.stuck = set(value)
                else:
                    self.state[key] = value
            if self.state["present"] and not was_present:
                self.state["lastSyncedAt"] = self.pardot.now()
        self._wake.set()
        return self.describe()

    def describe(self) -> dict:
        with self._lock:
            return {**self.state, "stuck": sorted(self.stuck), "ticks": self.ticks}

    def record(self) -> dict:
        with self._lock:
            s = self.state
            return {"id": 1, "name": s["name"], "accountId": 1, "isPaused": s["paused"],
                    "isVerified": s["verified"], "isDeleted": False,
                    "lastSyncedAt": pf.render_datetime(int(s["lastSyncedAt"]) if s["lastSyncedAt"] else None),
                    "version": s["version"]}

    # ------------------------------------------------------------------ the API's rules
    def _check_ability(self) -> None:
        if not self.state["ability"]:
            raise PardotError(403, ACCESS_DENIED, "Access denied: the user does not have the required "
                                                  "ability (Admin > Connectors) for this request")

    def read(self) -> dict:
        with self._lock:
            self._check_ability()
            if not self.state["present"]:
                raise PardotError(404, NOT_FOUND, "Object specified does not exist: no Salesforce connector "
                                                  "exists for this business unit")
            return self.record()

    def act(self, action: str) -> dict:
        with self._lock:
            self._check_ability()
            s = self.state
            if not s["present"]:
                raise bad_request(ACTION_REFUSED, "Invalid action: no Salesforce connector exists for this "
                                                  "business unit")
            if s["version"] != 2:
                raise bad_request(ACTION_REFUSED, f"Invalid action: the Salesforce connector is version "
                                                  f"{s['version']}; {action} needs connector version 2")
            if action == "pause" and s["paused"]:
                raise bad_request(ACTION_REFUSED, "Invalid action: the Salesforce connector is already paused")
            if action == "unpause" and not s["paused"]:
                raise bad_request(ACTION_REFUSED, "Invalid action: the Salesforce connector is not paused")
            s["paused"] = action == "pause"
        self._wake.set()
        return self.record()

    # ------------------------------------------------------------------ the simulated sync
    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                period = self.state["period"]
            self._wake.clear()
            if self._wake.wait(period):
                continue  # settings changed: start a fresh period
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the simulation never takes the sandbox down
                import logging
                logging.getLogger("sandbox").exception("simulated connector tick failed")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def tick(self) -> dict:
        """One sync run: what Salesforce's connector does every ~2 minutes."""
        with self._lock:
            s = self.state
            if not s["present"] or s["paused"] or s["stalled"] or not s["verified"]:
                return {"ran": False, "synced": 0, "created": 0}
            stuck = set(self.stuck)
            self.ticks += 1
        synced = created = 0
        org = self.pardot
        with org.lock:
            table = org._tables["prospects"]
            users = org._tables["users"]
            for rid, row in list(table.rows.items()):
                if row["isDeleted"] or rid in stuck:
                    continue
                last = row.get("salesforceLastSync")
                changed = last is None or row["updatedAt"] > last
                if not changed:
                    continue
                changes = {}
                if not row.get("salesforceId"):
                    if row.get("assignedToId") is None:
                        continue  # Salesforce's connector creates leads for assigned prospects only
                    owner = (users.rows.get(row["assignedToId"]) or {}).get("salesforceId") or self.sf.integration_user_id
                    lead = self.sf.insert_raw("Lead", [{
                        "Email": row.get("email"), "FirstName": row.get("firstName"),
                        "LastName": row.get("lastName") or (row.get("email") or "Unknown").split("@")[0],
                        "Company": row.get("company") or "[not provided]", "OwnerId": owner}])[0]
                    changes = {"salesforceId": lead["Id"], "salesforceLeadId": lead["Id"],
                               "salesforceOwnerId": owner}
                    created += 1
                else:
                    synced += 1
                # The connector's own write: the record changes and is synced at the same instant.
                now = org._stamp()
                new = {**row, **changes, "updatedAt": now, "salesforceLastSync": now}
                table.replace(row, new)
        with self._lock:
            self.state["lastSyncedAt"] = self.pardot.now()
        return {"ran": True, "synced": synced, "created": created}


# The Connector API, nested in pardot_api.bp (/api/v5/connectors): its token and business-unit
# checks and PardotError rendering apply here.
api_bp = Blueprint("connectors", __name__, url_prefix="/connectors")
control_bp = Blueprint("sandbox_sf_connector", __name__, url_prefix="/__sandbox__/sf-connector")
native = LocalProxy(lambda: current_app.extensions["sandbox"].sf_connector)


@api_bp.get("/salesforce")
def read():
    raw = request.args.get("fields")
    fields = [f.strip() for f in raw.split(",") if f.strip()] if raw else list(DEFAULT_FIELDS)
    unknown = [f for f in fields if f not in CONNECTOR_FIELDS]
    if unknown:
        raise bad_request(224, f"Invalid fields for request type: {', '.join(unknown)}")
    record = native.read()
    return _json({f: record[f] for f in fields})


@api_bp.post("/salesforce/do/pause")
def pause():
    native.act("pause")
    return Response(status=204)


@api_bp.post("/salesforce/do/unpause")
def unpause():
    native.act("unpause")
    return Response(status=204)


@control_bp.errorhandler(ValueError)
def _value_error(err):
    return _json({"error": "bad_request", "message": str(err)}, 400)


@control_bp.route("", methods=["GET", "POST", "PATCH"])
def settings():
    if request.method == "GET":
        return _json(native.describe())
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValueError("request body must be a JSON object")
    return _json(native.configure(data))


@control_bp.post("/tick")
def tick():
    return _json(native.tick())


def install(app, runtime) -> NativeConnector:
    """The runtime keeps the connector's state; its control routes go on the app (the
    Connector API itself is served through pardot_api.bp)."""
    runtime.sf_connector = NativeConnector(runtime.sf, runtime.pardot)
    app.register_blueprint(control_bp)
    return runtime.sf_connector
