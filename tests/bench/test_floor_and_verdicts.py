"""The bench's arithmetic (issue 11): the 1 % changed cycle's floor, the target verdicts and the
--huge options. Pure functions over made-up results: nothing is run or timed here."""
from __future__ import annotations

import json

import pytest

from bench import pg_ready
from bench.__main__ import parse
from bench.floor import changed_cycle_floor, first_sync_floor
from bench.report import TARGETS, render, verdicts
from bench.runner import memory_summary
from bench.sync_bench import cycle_floor

LATENCY = {"salesforce": 120, "pardot": 150}


# ---------------------------------------------------------------- the 1 % changed cycle's floor
def test_a_cycle_with_nothing_changed_has_the_idle_cycles_four_calls_as_its_floor():
    floor = changed_cycle_floor(0, 0, 0, 0)
    assert (floor.salesforce_reads, floor.pardot_reads, floor.salesforce_writes, floor.pardot_writes) == (1, 3, 0, 0)
    assert floor.total == TARGETS["idle_calls"]


def test_s2p_changes_cost_query_pages_beyond_the_first_and_one_import():
    # 1 % of 100,000 leads: the changes fit the composite's first page; one import (create, status)
    floor = changed_cycle_floor(1000, 0, 0, 1000)
    assert (floor.salesforce, floor.pardot, floor.total) == (1, 5, 6)
    # 1 % of 1,000,000: 10,000 leads are 5 query pages, 4 beyond the first
    floor = changed_cycle_floor(10_000, 0, 0, 10_000)
    assert (floor.salesforce_reads, floor.pardot_writes) == (5, 2)


def test_p2s_changes_cost_pardot_pages_beyond_the_first_and_sf_collections():
    floor = changed_cycle_floor(0, 1000, 1000, 0)
    assert (floor.salesforce_reads, floor.salesforce_writes, floor.pardot_reads, floor.pardot) == (1, 5, 3, 3)
    floor = changed_cycle_floor(0, 10_000, 10_000, 0)
    assert (floor.pardot_reads, floor.salesforce_writes, floor.total) == (12, 50, 63)
    assert floor.seconds(LATENCY) == pytest.approx((51 * 120 / 25 + 12 * 150 / 5) / 1000)


def test_the_cycle_floor_comes_from_the_cycles_own_counts():
    s2p = {"salesforce_to_pardot": {"created": 0, "updated": 1000}, "pardot_to_salesforce": {},
           "read": {"prospects": {"queued": 0, "read": 100000}, "Lead": {"queued": 1000, "read": 100000},
                    "Contact": {}, "Account": {}}}
    assert cycle_floor("s2p", s2p, 1000).as_dict() == changed_cycle_floor(1000, 0, 0, 1000).as_dict()
    p2s = {"salesforce_to_pardot": {}, "pardot_to_salesforce": {"updated": 1000},
           "read": {"prospects": {"queued": 1000, "read": 100000}, "Lead": {"queued": 0}}}
    assert cycle_floor("p2s", p2s, 1000).total == changed_cycle_floor(0, 1000, 1000, 0).total == 9
    # counts without read figures: the bench's own k stands in for the source side
    assert cycle_floor("p2s", {"pardot_to_salesforce": {"updated": 2500}}, 2500).pardot_reads == 3 + 2


# ---------------------------------------------------------------- verdicts
def direction(name: str, n: int, wall: float, calls: int, changed_calls: int | None = None,
              rss_kib: int = 150_000) -> dict:
    floor = first_sync_floor(name, n, n, n)
    created = {"created": n}
    counts = {"salesforce_to_pardot": created} if name == "s2p" else {"pardot_to_salesforce": created}
    out = {"direction": name, "label": name, "worker_peak_rss_kib": rss_kib,
           "seed": {"wall_s": 3.0, "sandbox_rss_kib": 1_500_000},
           "first_sync": {"n": n, "wall_s": wall, "records_per_hour": n / wall * 3600, "counts": counts,
                          "calls": {"salesforce": calls, "pardot": 0}, "engine_api_calls": {},
                          "calls_per_1000": {"salesforce": 1.0, "pardot": 1.0},
                          "floor": floor.as_dict(), "floor_s": floor.seconds(LATENCY),
                          "ratio_calls": calls / floor.total, "ratio_time": wall / floor.seconds(LATENCY)}}
    if changed_calls is not None:
        cf = changed_cycle_floor(n // 100, 0, 0, n // 100)
        cycle = {"calls": {"salesforce": 1, "pardot": 3}, "wall_s": 1.0}
        out.update(changed_cycle={"calls": {"salesforce": changed_calls, "pardot": 0}, "wall_s": 5.0,
                                  "records_changed": n // 100, "floor": cf.as_dict(),
                                  "floor_s": cf.seconds(LATENCY), "ratio_calls": changed_calls / cf.total},
                   echo_cycle={**cycle, "after_s": 65}, idle_cycle={**cycle, "after_s": 65})
    return out


def result(sizes: list[dict], memory: dict | None = None, latency=LATENCY) -> dict:
    return {"meta": {"started": "now", "latency_ms": latency, "database": "postgresql", "code": {"commit": "x"}},
            "sizes": sizes, "memory": memory or {}}


def by_target(res: dict) -> dict:
    return {v["target"]: v for v in verdicts(res)}


def test_first_sync_verdicts_time_wall_and_calls_against_issue_11s_limits():
    n = 100_000
    s2p, p2s = first_sync_floor("s2p", n, n, n), first_sync_floor("p2s", n, n, n)
    res = result([{"n": n, "directions": [direction("s2p", n, 55.0, int(s2p.total * 1.2), changed_calls=10),
                                           direction("p2s", n, 61.0, int(p2s.total * 1.3), changed_calls=6)]}])
    v = by_target(res)
    assert v["first sync wall s s2p N=100,000"]["met"] and not v["first sync wall s p2s N=100,000"]["met"]
    assert v["first sync wall s p2s N=100,000"]["limit"] == 60
    assert v["calls÷floor s2p N=100,000"]["limit"] == 1.2 and v["calls÷floor s2p N=100,000"]["met"]
    assert not v["calls÷floor p2s N=100,000"]["met"]
    ratio = v["time÷floor s2p N=100,000"]
    assert ratio["limit"] == 10 and ratio["value"] == pytest.approx(55.0 / s2p.seconds(LATENCY))
    assert ratio["met"] == (ratio["value"] <= 10)
    # the 1 % cycle: 10 calls over a floor of 6 miss 1.5, 6 over 6 meet it
    assert not v["1% cycle calls÷floor s2p N=100,000"]["met"]
    assert v["1% cycle calls÷floor p2s N=100,000"]["met"] and v["1% cycle calls÷floor p2s N=100,000"]["value"] == 1
    assert v["idle cycle calls s2p N=100,000"]["met"]


def test_wall_and_the_1_percent_verdicts_are_for_100k_only_but_its_ratio_is_printed_at_every_size():
    n = 10_000
    res = result([{"n": n, "directions": [direction("s2p", n, 20.0, 60, changed_calls=9),
                                           direction("p2s", n, 20.0, 60, changed_calls=9)]}])
    names = set(by_target(res))
    assert not any(name.startswith(("first sync wall", "1% cycle")) for name in names)
    assert {"time÷floor s2p N=10,000", "calls÷floor p2s N=10,000"} <= names
    res["verdicts"] = verdicts(res)
    table = render(res)
    assert "calls ÷ its floor" in table and "1.50" in table and "its floor SF / Pardot" in table
    assert "sandbox seed: time / RSS" in table and "1,465 MiB" in table


def test_speed_verdicts_need_the_default_latency():
    n = 200
    res = result([{"n": n, "directions": [direction("s2p", n, 1.0, 6)]}], latency={"salesforce": 0, "pardot": 0})
    names = set(by_target(res))
    assert "calls÷floor s2p N=200" in names
    assert not any(name.startswith(("time÷floor", "records/hour", "first sync wall")) for name in names)


def test_huge_rows_records_synced_and_memory_1m_over_100k():
    n = 1_000_000
    s2p, p2s = direction("s2p", n, 400.0, 6000), direction("p2s", n, 400.0, 6000)
    p2s["first_sync"]["counts"]["pardot_to_salesforce"]["created"] = n - 1   # one record short
    sizes = [{"n": 100_000, "directions": [direction("s2p", 100_000, 50.0, 600, rss_kib=200_000)]},
             {"n": n, "directions": [s2p, p2s]}]
    res = result(sizes, memory_summary(sizes))
    v = by_target(res)
    assert v["records synced s2p N=1,000,000"]["met"] and not v["records synced p2s N=1,000,000"]["met"]
    assert v["peak memory 1M ÷ 100k"]["value"] == pytest.approx(150_000 / 200_000)
    assert v["peak memory 1M ÷ 100k"]["met"] and v["peak memory 1M ÷ 100k"]["limit"] == 1.5
    assert "1M ÷ 100k = 0.75" in render({**res, "verdicts": verdicts(res)})


def test_memory_summary_takes_the_100k_peak_from_an_earlier_run_when_this_one_has_none():
    sizes = [{"n": 1_000_000, "directions": [direction("s2p", 1_000_000, 400.0, 6000, rss_kib=300_000)]}]
    mem = memory_summary(sizes, {"kib": 150_000, "from": "earlier.json", "database": "sqlite"})
    assert mem["growth_huge"] == 2.0 and mem["baseline_from"] == "earlier.json" and mem["growth"] is None
    assert memory_summary(sizes)["growth_huge"] is None
    assert not by_target(result(sizes, mem))["peak memory 1M ÷ 100k"]["met"]


# ---------------------------------------------------------------- --huge options
def test_huge_runs_100k_then_1m_on_postgresql(tmp_path, monkeypatch):
    monkeypatch.setattr(pg_ready, "check", lambda url, create=True: None)
    options, _ = parse(["--huge", "--results-dir", str(tmp_path)])
    assert options.sizes == [100_000, 1_000_000]
    assert options.database_url == "postgresql://postgres@127.0.0.1:5432/connector_bench"
    assert {"baseline", "bot", "api"} <= options.skip and "sync" not in options.skip
    assert options.latency == LATENCY and options.follow_ups


def test_huge_with_a_memory_baseline_runs_1m_only(tmp_path, monkeypatch):
    monkeypatch.setattr(pg_ready, "check", lambda url, create=True: None)
    earlier = tmp_path / "bench-n100000.json"
    earlier.write_text(json.dumps({"meta": {"database": "sqlite"}, "memory": {"by_n": {"100000": 145_000}}}))
    options, _ = parse(["--huge", "--memory-baseline", str(earlier), "--database-url",
                        "postgresql://postgres@127.0.0.1:5432/other", "--results-dir", str(tmp_path)])
    assert options.sizes == [1_000_000] and options.database_url.endswith("/other")
    assert options.memory_baseline == {"kib": 145_000, "from": str(earlier), "database": "sqlite"}


def test_huge_refuses_without_postgresql_or_with_a_bad_baseline(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pg_ready, "check", lambda url, create=True: "connection refused")
    with pytest.raises(SystemExit):
        parse(["--huge", "--results-dir", str(tmp_path)])
    assert "needs PostgreSQL at postgresql://postgres@127.0.0.1:5432/connector_bench" in capsys.readouterr().err
    monkeypatch.setattr(pg_ready, "check", lambda url, create=True: None)
    with pytest.raises(SystemExit):
        parse(["--huge", "--database-url", "sqlite:///x.db", "--results-dir", str(tmp_path)])
    assert "not a postgresql:// URL" in capsys.readouterr().err
    bad = tmp_path / "small.json"
    bad.write_text(json.dumps({"memory": {"by_n": {"10000": 1}}}))
    with pytest.raises(SystemExit):
        parse(["--huge", "--memory-baseline", str(bad), "--results-dir", str(tmp_path)])
    assert "100,000 worker peak" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--memory-baseline", str(bad), "--results-dir", str(tmp_path)])
