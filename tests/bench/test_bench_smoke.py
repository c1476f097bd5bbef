"""The bench command keeps working: a smoke run (N=200, no latency) in a subprocess, and the
shape of the JSON it writes. Speed is never asserted here (benchmarks are not tests)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_bench_smoke_run_writes_the_table_as_json(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_URL"))}
    # The bench flushes its Redis database: the test's own one when given, not the bench default.
    redis_url = ["--redis-url", os.environ["TEST_REDIS_URL"]] if os.environ.get("TEST_REDIS_URL") else []
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--results-dir", str(tmp_path), *redis_url],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=230)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list(tmp_path.glob("bench-smoke-*.json"))
    assert len(files) == 1, proc.stdout[-2000:]
    result = json.loads(files[0].read_text())

    assert result["meta"]["latency_ms"] == {"salesforce": 0, "pardot": 0}
    (size,) = result["sizes"]
    assert size["n"] == 200
    assert [d["direction"] for d in size["directions"]] == ["s2p", "p2s"]
    for d in size["directions"]:
        fs = d["first_sync"]
        assert fs["n"] == 200 and fs["wall_s"] > 0 and fs["records_per_hour"] > 0
        # every record arrived: 200 prospects created (S→P) or 200 leads created (P→S)
        side = "salesforce_to_pardot" if d["direction"] == "s2p" else "pardot_to_salesforce"
        assert fs["counts"][side]["created"] == 200, fs["counts"]
        assert fs["calls"]["salesforce"] >= 1 and fs["calls"]["pardot"] >= 1
        assert fs["floor"]["total"] >= 1 and fs["ratio_calls"] == pytest.approx(
            (fs["calls"]["salesforce"] + fs["calls"]["pardot"]) / fs["floor"]["total"])
        for cycle in ("changed_cycle", "echo_cycle", "idle_cycle"):
            assert set(d[cycle]["calls"]) >= {"salesforce", "pardot", "by_endpoint"}
        assert d["changed_cycle"]["records_changed"] == 2
        changed = d["changed_cycle"]
        assert changed["floor"]["total"] >= 4 and changed["ratio_calls"] == pytest.approx(
            (changed["calls"]["salesforce"] + changed["calls"]["pardot"]) / changed["floor"]["total"])
        assert d["seed"]["counts"]["leads" if d["direction"] == "s2p" else "prospects"] == 200
        assert d["seed"]["wall_s"] >= 0 and d["seed"]["sandbox_rss_kib"] > 0
        assert d["worker_peak_rss_kib"] > 0
    assert result["memory"]["by_n"]["200"] > 0
    for part in ("bot", "api"):
        assert result[part]["errors"] == 0, result[part]
        assert result[part]["ok"] == 20 and 0 < result[part]["p50_ms"] <= result[part]["p99_ms"]
    assert result["baseline"]["script"]["prospects_created"] == 50
    assert result["baseline"]["connector"]["calls"]["pardot"] >= 1
    assert {v["target"] for v in result["verdicts"]} >= {"bot ack p99 ms", "API status p99 ms"}
    assert "\n".join(result["table"]) in proc.stdout
