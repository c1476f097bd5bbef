"""Sync measurements: a first sync of N records in one direction, then a cycle with 1 % of the
records changed (and the cycle after it, which reads the connector's own writes back), then a
cycle with nothing changed; the worker's peak memory over all of it (issue 6 §1–3)."""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

from .clients import pardot_session, pardot_url, sf_client, sf_token
from .floor import first_sync_floor
from .world import World

DIRECTIONS = {"s2p": "Salesforce → Pardot", "p2s": "Pardot → Salesforce"}


def seed_for(direction: str, n: int) -> dict:
    # P2S: prospects assigned to users, so each creates a lead (R12).
    return {"leads": n} if direction == "s2p" else {"prospects": n, "assigned": 1.0}


def written(counts: dict, key: str) -> int:
    part = counts.get(key) or {}
    return int(part.get("created", 0)) + int(part.get("updated", 0))


def calls_delta(control) -> dict:
    calls = control.calls()
    return {"salesforce": calls["total"]["salesforce"], "pardot": calls["total"]["pardot"],
            "oauth": calls["total"]["oauth"], "by_endpoint": calls["by_endpoint"]}


def measured_cycle(world: World, not_before: float | None = None) -> dict:
    if not_before is not None:
        time.sleep(max(0.0, not_before - time.monotonic()))
    world.control.reset_calls()
    run = world.cycle()
    return {"wall_s": run["wall_s"], "engine_s": run["engine_s"], "calls": calls_delta(world.control),
            "counts": run["counts"], "engine_api_calls": run["api_calls"]}


def first_sync(world: World, direction: str, n: int, latency: dict) -> dict:
    world.seed(**seed_for(direction, n))
    request_id = world.prepare()
    world.control.latency(latency["salesforce"], latency["pardot"])
    world.control.reset_calls()
    run = world.approve_and_sync(request_id)
    calls = calls_delta(world.control)
    counts = run["counts"]
    if direction == "s2p":
        floor = first_sync_floor("s2p", n, written(counts, "pardot_to_salesforce"),
                                 written(counts, "salesforce_to_pardot"))
    else:
        created = written(counts, "pardot_to_salesforce")
        floor = first_sync_floor("p2s", n, created, created)
    achieved = calls["salesforce"] + calls["pardot"]
    wall = run["wall_s"]
    floor_s = floor.seconds(latency)
    return {
        "n": n, "wall_s": wall, "engine_s": run["engine_s"],
        "records_per_hour": n / wall * 3600 if wall else None,
        "calls": calls, "engine_api_calls": run["api_calls"], "counts": counts,
        "calls_per_1000": {side: calls[side] * 1000 / n for side in ("salesforce", "pardot")},
        "floor": floor.as_dict(), "floor_s": floor_s,
        "ratio_calls": achieved / floor.total, "ratio_time": wall / floor_s if floor_s else None,
    }


def change_one_percent(world: World, direction: str, n: int) -> int:
    """Edit 1 % of the records on the source side through its real API, as a person's tools do."""
    k = max(1, math.ceil(n / 100))
    token = sf_token(world.info)
    stamp = time.strftime("%H%M%S")
    if direction == "s2p":
        ids = [r["Id"] for r in world.control.get("records/salesforce/Lead")["records"][:k]]
        sf = sf_client(world.info, token)
        for start in range(0, k, 200):
            body = {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": i,
                                                     "Title": f"Changed {stamp}"} for i in ids[start:start + 200]]}
            results = sf.restful("composite/sobjects", method="PATCH", json=body)
            failed = [r for r in results if not r.get("success")]
            if failed:
                raise RuntimeError(f"changing leads failed: {failed[:3]}")
        return k
    ids = [p["id"] for p in world.control.get("records/pardot/prospects")["records"][:k]]
    session = pardot_session(world.info, token)

    def patch(pid):
        resp = session.patch(pardot_url(world.info, f"objects/prospects/{pid}"), timeout=60,
                             params={"fields": "id"}, json={"jobTitle": f"Changed {stamp}"})
        if resp.status_code >= 300:
            raise RuntimeError(f"changing prospect {pid} failed: {resp.status_code} {resp.text[:200]}")

    with ThreadPoolExecutor(4) as pool:  # under Pardot's 5 in flight
        list(pool.map(patch, ids))
    return k


def run_direction(world: World, direction: str, n: int, latency: dict, follow_ups: bool = True,
                  profile_to=None, idle_pace: float = 0.0) -> dict:
    """`idle_pace`: seconds from the start of one follow-up cycle to the next (the echo and the
    idle cycle), as the scheduler spaces cycles; 0 runs them back to back."""
    worker = world.start_worker(profile_to)
    result = {"direction": direction, "label": DIRECTIONS[direction],
              "first_sync": first_sync(world, direction, n, latency)}
    if follow_ups:
        changed = change_one_percent(world, direction, n)
        result["changed_cycle"] = {"records_changed": changed, **measured_cycle(world)}
        started = time.monotonic()
        result["echo_cycle"] = {"after_s": idle_pace, **measured_cycle(world, started + idle_pace)}
        started += idle_pace
        result["idle_cycle"] = {"after_s": idle_pace, **measured_cycle(world, started + idle_pace)}
    result["worker_peak_rss_kib"] = worker.peak_rss_kib()
    return result
