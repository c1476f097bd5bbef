"""Sync measurements: a first sync of N records in one direction, then a cycle with 1 % of the
records changed (and the cycle after it, which reads the connector's own writes back), then a
cycle with nothing changed; the worker's peak memory over all of it (issue 6 §1–3)."""
from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

from .clients import pardot_session, pardot_url, sf_client, sf_token
from .floor import changed_cycle_floor, first_sync_floor
from .world import World

DIRECTIONS = {"s2p": "Salesforce → Pardot", "p2s": "Pardot → Salesforce"}


def seed_for(direction: str, n: int) -> dict:
    # P2S: prospects assigned to users, so each creates a lead (R12).
    return {"leads": n} if direction == "s2p" else {"prospects": n, "assigned": 1.0}


def written(counts: dict, key: str) -> int:
    part = counts.get(key) or {}
    return int(part.get("created", 0)) + int(part.get("updated", 0))


SF_OBJECTS = ("Lead", "Contact", "Account")


def queued(counts: dict, objects, what: str = "queued") -> int | None:
    """Changed records a cycle found among what it read (None when its counts say nothing);
    what="read": every record its change queries returned."""
    read = counts.get("read")
    if not isinstance(read, dict):
        return None
    return sum(int((read.get(obj) or {}).get(what, 0)) for obj in objects)


def cycle_floor(direction: str, counts: dict, records_changed: int, what: str = "queued"):
    """The 1 % changed cycle's floor from its own counts; the bench's own k stands in for the
    source side only when the counts carry no read figures. what="read" counts every record the
    change queries had to return (the settle cycle: R17's overlap makes it read them)."""
    k_sf, k_pardot = queued(counts, SF_OBJECTS, what), queued(counts, ("prospects",), what)
    if k_sf is None:
        k_sf, k_pardot = (records_changed, 0) if direction == "s2p" else (0, records_changed)
    return changed_cycle_floor(k_sf, k_pardot, written(counts, "pardot_to_salesforce"),
                               written(counts, "salesforce_to_pardot"))


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
    seeded = world.seed(**seed_for(direction, n))
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
        "n": n, "wall_s": wall, "seed": seeded, "engine_s": run["engine_s"],
        "records_per_hour": n / wall * 3600 if wall else None,
        "calls": calls, "engine_api_calls": run["api_calls"], "counts": counts,
        "calls_per_1000": {side: calls[side] * 1000 / n for side in ("salesforce", "pardot")},
        "floor": floor.as_dict(), "floor_s": floor_s,
        "ratio_calls": achieved / floor.total, "ratio_time": wall / floor_s if floor_s else None,
    }


def change_one_percent(world: World, direction: str, n: int) -> int:
    """Edit 1 % of the records on the source side through its real API, as a person's tools do."""
    k = max(1, math.ceil(n / 100))
    # The edits are set-up, not measured (the calls are reset before the cycle): made without the
    # added latency, so 10,000 single-prospect PATCHes at N = 1,000,000 take seconds, not minutes.
    before = world.control.get("latency")
    world.control.latency(0, 0)
    try:
        return _change(world, direction, k)
    finally:
        world.control.latency(before["salesforce_ms"], before["pardot_ms"])


def _change(world: World, direction: str, k: int) -> int:
    token = sf_token(world.info)
    stamp = time.strftime("%H%M%S")
    if direction == "s2p":
        ids = [r["Id"] for r in world.control.get(f"records/salesforce/Lead?limit={k}")["records"]]
        sf = sf_client(world.info, token)
        for start in range(0, k, 200):
            body = {"allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": i,
                                                     "Title": f"Changed {stamp}"} for i in ids[start:start + 200]]}
            results = sf.restful("composite/sobjects", method="PATCH", json=body)
            failed = [r for r in results if not r.get("success")]
            if failed:
                raise RuntimeError(f"changing leads failed: {failed[:3]}")
        return k
    ids = [p["id"] for p in world.control.get(f"records/pardot/prospects?limit={k}")["records"]]
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
    # An hour by default; a 1,000,000-record first sync may take longer than that and still finish.
    world.cycle_timeout = max(world.cycle_timeout, n / 100)
    worker = world.start_worker(profile_to)
    result = {"direction": direction, "label": DIRECTIONS[direction],
              "first_sync": first_sync(world, direction, n, latency)}
    result["seed"] = result["first_sync"].pop("seed")
    if follow_ups:
        # The scheduled cycle after the first sync reads the first sync's own writes back: R17's
        # cursor starts a minute before the cycle that wrote them. It is measured on its own, a
        # poll interval's pace after the first sync ended; the 1 % change is measured after it, on
        # a settled store, as every later cycle of a running connector is.
        result["settle_cycle"] = {"after_s": idle_pace,
                                  **_with_floor(measured_cycle(world, time.monotonic() + idle_pace), direction, 0,
                                                latency, what="read")}
        changed = change_one_percent(world, direction, n)
        result["changed_cycle"] = {"records_changed": changed,
                                   **_with_floor(measured_cycle(world), direction, changed, latency)}
        started = time.monotonic()
        result["echo_cycle"] = {"after_s": idle_pace, **measured_cycle(world, started + idle_pace)}
        started += idle_pace
        result["idle_cycle"] = {"after_s": idle_pace, **measured_cycle(world, started + idle_pace)}
    result["worker_peak_rss_kib"] = worker.peak_rss_kib()
    return result


def _with_floor(cycle: dict, direction: str, changed: int, latency: dict, what: str = "queued") -> dict:
    floor = cycle_floor(direction, cycle["counts"], changed, what)
    floor_s = floor.seconds(latency)
    achieved = cycle["calls"]["salesforce"] + cycle["calls"]["pardot"]
    return {**cycle, "floor": floor.as_dict(), "floor_s": floor_s, "ratio_calls": achieved / floor.total,
            "ratio_time": cycle["wall_s"] / floor_s if floor_s else None}
