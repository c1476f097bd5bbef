"""The API's hot path (issue 11): a request with a cached token reads the token, counts its
rate-limit hit and reads the cached status in one Redis round trip; the status cache is
recomputed by one caller at a time; what dropped the cache before still drops it."""
from __future__ import annotations

import json

from api.ratelimit import RateLimiter


def test_a_status_request_with_a_cached_token_makes_one_redis_round_trip(api, connector, runtime, monkeypatch):
    assert api.get("/api/v1/connector").status_code == 200  # token and status now cached
    calls = []
    real = runtime.redis.execute_command
    monkeypatch.setattr(runtime.redis, "execute_command", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    r = api.get("/api/v1/connector")
    assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"]
    assert calls == ["EVALSHA"]


def test_the_first_and_the_cached_uses_of_a_token_count_in_the_same_window(app, api, tokens, connector, runtime):
    """The first use verifies the token in SQL and counts it the ordinary way; later ones count
    in the one round trip: both against the same per-token budget."""
    app.extensions["connector_api"]["ratelimit"] = RateLimiter(runtime.redis, 3, prefix="ratelimit-hot")
    runtime.redis.delete(*runtime.redis.keys("apitoken:*"))
    statuses = [api.as_(tokens["viewer"]).get("/api/v1/connector") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in statuses] == ["2", "1", "0", "0"]
    assert statuses[-1].headers["Retry-After"]


def test_a_stale_status_is_recomputed_by_the_one_caller_that_claims_it(service, admin, connector, runtime):
    key, fresh_key = service.status_cache_keys()
    service.status(admin)
    runtime.redis.set(key, json.dumps({"cached": 1}), px=5000)
    assert service.status(admin) == {"cached": 1}  # fresh: answered as cached
    runtime.redis.delete(fresh_key)
    recomputed = service.status(admin)  # stale: this caller claimed it and recomputed
    assert "cached" not in recomputed and recomputed["state"] == connector["state"]
    assert runtime.redis.get(fresh_key) is not None and json.loads(runtime.redis.get(key)) == recomputed
    runtime.redis.set(key, json.dumps({"cached": 2}), px=5000)
    runtime.redis.delete(fresh_key)
    runtime.redis.set(fresh_key, b"1", px=1000)  # another process claimed the refresh
    assert service.status(admin) == {"cached": 2}  # meanwhile the previous status is answered


def test_a_change_is_seen_at_once_through_the_cached_path(api, service, admin, connector):
    assert api.get("/api/v1/connector").get_json()["error_queue_owner"] == "#sync-errors"
    service.update_settings(admin, {"error_queue_owner": "#ops"})
    assert api.get("/api/v1/connector").get_json()["error_queue_owner"] == "#ops"


def test_the_hot_path_survives_redis_forgetting_its_scripts(api, connector, runtime):
    assert api.get("/api/v1/connector").status_code == 200
    runtime.redis.script_flush()  # as after a Redis restart
    assert api.get("/api/v1/connector").status_code == 200
