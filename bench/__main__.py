"""`python -m bench [--large | --huge] [--n N] [--smoke]`: drive the real connector (worker processes,
Redis, SQL) against the sandbox with latency on every call; print one table and write it as
JSON under bench/results/ (issue 6)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .report import render
from .runner import Options, run

RESULTS = Path(__file__).resolve().parent / "results"
HUGE_N = 1_000_000
HUGE_DATABASE = "postgresql://postgres@127.0.0.1:5432/connector_bench"


def load_memory_baseline(path: Path) -> dict:
    """The 100k worker peak of an earlier run (its JSON), for the 1M ÷ 100k memory ratio."""
    try:
        earlier = json.loads(path.read_text())
        kib = earlier["memory"]["by_n"]["100000"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--memory-baseline {path}: not a bench JSON with a 100,000 worker peak "
                         f"(memory.by_n.100000; run `make bench-large` first): {exc}") from None
    if not kib:
        raise ValueError(f"--memory-baseline {path}: its 100,000 worker peak is empty")
    return {"kib": kib, "from": str(path), "database": earlier.get("meta", {}).get("database")}


def parse(argv: list[str]) -> tuple[Options, Path]:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--large", action="store_true", help="also N = 100,000 (peak memory 100k ÷ 10k)")
    p.add_argument("--huge", action="store_true",
                   help="N = 1,000,000 on PostgreSQL (--database-url, default " + HUGE_DATABASE + ") after "
                        "N = 100,000 for the peak memory 1M ÷ 100k; sync part only; --n replaces the 1M size")
    p.add_argument("--memory-baseline", type=Path,
                   help="with --huge: take the 100,000 worker peak from this earlier bench JSON (e.g. the "
                        "bench-large run's) instead of running N = 100,000 first")
    p.add_argument("--n", type=int, help="first-sync size instead of 10,000")
    p.add_argument("--smoke", action="store_true",
                   help="CI check that the command works: N = 200, no latency, small web loads")
    p.add_argument("--salesforce-ms", type=float, default=120)
    p.add_argument("--pardot-ms", type=float, default=150)
    p.add_argument("--baseline-n", type=int, default=1000)
    p.add_argument("--idle-after", type=float, default=65,
                   help="seconds between the starts of the follow-up cycles (the echo and idle ones); "
                        "default 65, tighter than the 120 s poll interval")
    p.add_argument("--database-url", help="PostgreSQL URL; each world gets its own fresh database")
    p.add_argument("--redis-url", help="Redis database to flush and use (default redis://127.0.0.1:6379/13, "
                                       "else an embedded redis-server)")
    p.add_argument("--skip", action="append", default=[], choices=("sync", "baseline", "bot", "api"))
    p.add_argument("--no-follow-ups", action="store_true", help="first syncs only (no 1%% and idle cycles)")
    p.add_argument("--profile", action="store_true",
                   help="run the workers under pyinstrument; text profiles go next to the JSON")
    p.add_argument("--results-dir", type=Path, default=RESULTS)
    p.add_argument("--keep", action="store_true", help="keep the run directory (logs, stores)")
    a = p.parse_args(argv)
    if a.n is not None and a.n < 1:
        p.error("--n must be at least 1")
    if a.huge and (a.large or a.smoke):
        p.error("--huge runs alone (not with --large or --smoke)")
    if a.memory_baseline and not a.huge:
        p.error("--memory-baseline goes with --huge")
    sizes = [a.n or 10_000] + ([100_000] if a.large and (a.n or 10_000) != 100_000 else [])
    baseline = None
    if a.huge:
        sizes = [a.n or HUGE_N]
        if a.memory_baseline:
            try:
                baseline = load_memory_baseline(a.memory_baseline)
            except ValueError as exc:
                p.error(str(exc))
        elif sizes[0] != 100_000:
            sizes.insert(0, 100_000)
        a.database_url = a.database_url or HUGE_DATABASE
        if not a.database_url.startswith("postgresql"):
            p.error(f"--huge runs on PostgreSQL; --database-url {a.database_url} is not a postgresql:// URL")
        from .pg_ready import check
        why = check(a.database_url, create=False)
        if why is not None:
            p.error(f"--huge needs PostgreSQL at {a.database_url}, which does not answer ({why}); start it "
                    "or pass --database-url")
        a.skip = sorted(set(a.skip) | {"baseline", "bot", "api"})  # size-independent: bench-large has them
    latency = {"salesforce": a.salesforce_ms, "pardot": a.pardot_ms}
    opts = Options(sizes=sizes, latency=latency, baseline_n=a.baseline_n, database_url=a.database_url,
                   redis_url=a.redis_url, keep=a.keep, skip=set(a.skip), follow_ups=not a.no_follow_ups,
                   idle_pace=a.idle_after, memory_baseline=baseline)
    if a.smoke:
        opts.sizes, opts.latency = [a.n or 200], {"salesforce": 0, "pardot": 0}
        opts.baseline_n, opts.bot_total, opts.bot_in_flight = 50, 20, 5
        opts.api_clients, opts.api_per_client, opts.api_runs, opts.idle_pace = 5, 4, 1, 0
    a.results_dir.mkdir(parents=True, exist_ok=True)
    if a.profile:
        opts.profile_dir = a.results_dir
    return opts, a.results_dir


def main(argv: list[str]) -> int:
    options, results_dir = parse(argv)
    result = run(options, say=lambda msg: print(msg, file=sys.stderr, flush=True))
    table = render(result)
    result["table"] = table.splitlines()
    kind = "smoke" if options.latency == {"salesforce": 0, "pardot": 0} and options.sizes[0] <= 1000 else \
        f"n{max(options.sizes)}"
    path = results_dir / f"bench-{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str))
    os.replace(tmp, path)
    print(table)
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
