"""The baseline (issue 6 §6): the same first sync of Salesforce leads to Pardot, done the way a
hand-written script does it: read the leads with simple-salesforce, then one Pardot call per
record with requests, one after another. It does less than the connector (no links, no
write-back, no error queue), so the connector's advantage shown against it is a lower bound."""
from __future__ import annotations

import time

from .clients import Control, pardot_session, pardot_url, sf_client, sf_token

FIELDS = {"Email": "email", "FirstName": "firstName", "LastName": "lastName", "Company": "company",
          "Title": "jobTitle", "Phone": "phone"}


def run_baseline(info: dict, n: int, latency: dict) -> dict:
    control = Control(info)
    control.post("reset")
    control.post("seed", {"leads": n, "contacts": 0, "person_accounts": 0, "prospects": 0, "users": 5,
                          "campaigns": 0})
    control.latency(latency["salesforce"], latency["pardot"])
    control.reset_calls()
    start = time.monotonic()
    token = sf_token(info)
    sf = sf_client(info, token)
    leads = sf.query_all(f"SELECT Id, {', '.join(FIELDS)} FROM Lead")["records"]
    pardot = pardot_session(info, token)
    failures = 0
    for lead in leads:
        body = {p: lead[s] for s, p in FIELDS.items() if lead.get(s) is not None}
        resp = pardot.post(pardot_url(info, "objects/prospects"), params={"fields": "id"}, json=body, timeout=60)
        failures += resp.status_code >= 300
    wall = time.monotonic() - start
    calls = control.calls()
    prospects = len(control.get("records/pardot/prospects")["records"])
    return {"n": n, "records_read": len(leads), "prospects_created": prospects, "failed_calls": failures,
            "wall_s": wall, "records_per_hour": n / wall * 3600,
            "calls": {side: calls["total"][side] for side in ("salesforce", "pardot", "oauth")},
            "by_endpoint": calls["by_endpoint"]}
