"""One bench run: sandbox process, then per size and direction a fresh world and worker,
the baseline, the web process; returns everything measured as one dict."""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from sync.redis_server import EmbeddedRedis

from . import procs
from .baseline import run_baseline
from .report import verdicts
from .sync_bench import run_direction
from .world import World

log = logging.getLogger("bench")
DEFAULT_REDIS = "redis://127.0.0.1:6379/13"


@dataclass
class Options:
    sizes: list[int]
    latency: dict
    baseline_n: int = 1000
    bot_total: int = 200
    bot_in_flight: int = 20
    api_clients: int = 50
    api_per_client: int = 20
    api_runs: int = 5  # the API target holds when every run meets it (issue 11)
    follow_ups: bool = True
    # Follow-up cycles are spaced like scheduled ones, a little tighter than the 120 s poll
    # interval (R4) so the measure is at least as hard as production.
    idle_pace: float = 65.0
    database_url: str | None = None
    redis_url: str | None = None
    profile_dir: Path | None = None
    # --huge with --memory-baseline: the 100k worker peak read from an earlier run's JSON
    # ({"kib", "from", "database"}), so the 1M run need not repeat the 100k first syncs.
    memory_baseline: dict | None = None
    keep: bool = False
    skip: set = field(default_factory=set)  # of "sync", "baseline", "bot", "api"


def _redis_url(wanted: str | None, run_dir: Path) -> tuple[str, EmbeddedRedis | None]:
    url = wanted or DEFAULT_REDIS
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url, None
    except redis.RedisError:
        if wanted:
            raise SystemExit(f"--redis-url {wanted} does not answer") from None
    embedded = EmbeddedRedis(run_dir)
    return embedded.ensure_running(), embedded


def _fresh_pg(url: str | None, name: str) -> str | None:
    """A fresh PostgreSQL database per world (dropped and created), so every run starts empty."""
    if not url:
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url).set(drivername="postgresql+psycopg")
    db = f"{base.database}_{name}".replace("-", "_")
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    admin.dispose()
    return base.set(database=db).render_as_string(hide_password=False)


def _code_version() -> dict:
    """Which code was measured: the tree is shared, so uncommitted changes are named too."""
    import subprocess

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=procs.ROOT, capture_output=True, text=True,
                                  timeout=10).stdout.rstrip()
        except (OSError, subprocess.SubprocessError):
            return ""
    dirty = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted": dirty}


def run(options: Options, say=print) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="pardot-bench-"))
    env = procs.base_env()
    redis_url, embedded = _redis_url(options.redis_url, run_dir)
    result: dict = {"meta": {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "latency_ms": options.latency,
                             "database": "postgresql" if options.database_url else "sqlite",
                             "redis": "embedded" if embedded else "server", "sizes": options.sizes,
                             "idle_cycle_after_s": options.idle_pace,
                             "run_dir": str(run_dir), "code": _code_version()},
                    "sizes": []}
    started = time.monotonic()
    sandbox, info = procs.start_sandbox(run_dir, env)
    info_path = run_dir / "sandbox" / "sandbox.json"
    last_world: World | None = None
    ok = False

    def world(name: str) -> World:
        return World(name, run_dir, info_path, info, redis_url, _fresh_pg(options.database_url, name), env,
                     sandbox=sandbox)

    try:
        if "sync" not in options.skip:
            last_world = _sync_part(options, result, world, say)
        if "baseline" not in options.skip:
            if last_world is not None:
                last_world.close()
            last_world = world(f"baseline-{options.baseline_n}")
            result["baseline"] = _baseline_part(last_world, info, options, say)
        if {"bot", "api"} - options.skip:
            say("… web process: bot and API latency")
            if last_world is None:
                last_world = world("web")
                last_world.start_worker()
                last_world.seed()
                last_world.prepare()
            result.update(web_part(last_world, options))
        ok = True
    finally:
        if last_world is not None:
            last_world.close()
        sandbox.stop()
        if embedded is not None:
            embedded.stop()
        if ok and not options.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        elif not ok:
            say(f"(logs and stores kept in {run_dir})")
    result["meta"]["duration_s"] = time.monotonic() - started
    result["verdicts"] = verdicts(result)
    return result


def _sync_part(options: Options, result: dict, world, say) -> World | None:
    """First syncs each way at every size, in a fresh world each; the peak memory by size."""
    last_world = None
    for n in options.sizes:
        size = {"n": n, "directions": []}
        for direction in ("s2p", "p2s"):
            say(f"… first sync of {n:,} records, {direction}")
            if last_world is not None:
                last_world.close()
            last_world = world(f"{direction}-{n}")
            profile = options.profile_dir / f"profile-{direction}-{n}.txt" if options.profile_dir else None
            size["directions"].append(run_direction(last_world, direction, n, options.latency,
                                                    options.follow_ups, profile, options.idle_pace))
            last_world.worker.stop()  # writes the profile, frees the memory
        result["sizes"].append(size)
    result["memory"] = memory_summary(result["sizes"], options.memory_baseline)
    return last_world


def memory_summary(sizes: list[dict], baseline: dict | None = None) -> dict:
    """Worker peak by N (the larger of the two directions) and the growth ratios: 100k ÷ 10k, and
    1M ÷ 100k with the 100k peak from this run or else from `baseline` (an earlier run's)."""
    by_n = {str(s["n"]): max(d["worker_peak_rss_kib"] or 0 for d in s["directions"]) for s in sizes}
    out = {"by_n": by_n, "growth": by_n["100000"] / by_n["10000"] if {"10000", "100000"} <= set(by_n) else None,
           "growth_huge": None}
    base = by_n.get("100000")
    if base is None and baseline is not None:
        base = baseline["kib"]
        out.update(baseline_from=baseline["from"], baseline_database=baseline.get("database"))
    if "1000000" in by_n and base:
        out["growth_huge"] = by_n["1000000"] / base
    return out


def _baseline_part(world: World, info: dict, options: Options, say) -> dict:
    """The connector against a per-record script on the same leads."""
    say(f"… baseline: {options.baseline_n:,} leads, connector then a per-record script")
    connector = run_direction(world, "s2p", options.baseline_n, options.latency, follow_ups=False)
    world.worker.stop()
    script = run_baseline(info, options.baseline_n, options.latency)
    conn_fs = connector["first_sync"]
    return {"n": options.baseline_n, "script": script,
            "connector": {"wall_s": conn_fs["wall_s"], "calls": conn_fs["calls"]},
            "speedup": script["wall_s"] / conn_fs["wall_s"],
            "call_ratio": sum(script["calls"].values()) / max(1, conn_fs["calls"]["salesforce"] +
                                                                 conn_fs["calls"]["pardot"])}


def web_part(world: World, options: Options) -> dict:
    from .web_bench import WebBench

    out = {}
    try:
        with WebBench(world) as web:
            out["bot"] = {"na": "skipped"} if "bot" in options.skip else \
                web.bot_status(options.bot_total, options.bot_in_flight)
            out["api"] = {"na": "skipped"} if "api" in options.skip else \
                web.api_status(options.api_clients, options.api_per_client, options.api_runs)
    except procs.ChildFailed as exc:
        out = {"bot": {"na": f"the web process did not start: {exc}"},
               "api": {"na": f"the web process did not start: {exc}"}}
    return out
