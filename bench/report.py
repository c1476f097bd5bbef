"""The bench's one table (text) and the target verdicts; the JSON holds everything measured."""
from __future__ import annotations

TARGETS = {
    "records_per_hour": 100_000,   # each direction, default latency
    "ratio_calls": 1.5,            # achieved ÷ floor
    "idle_calls": 4,               # a cycle with nothing changed, both sides together
    "memory_growth": 1.5,          # peak at 100,000 ÷ peak at 10,000
    "bot_p99_ms": 300,
    "api_p99_ms": 100,
}


def _num(v, fmt="{:,.0f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def _s(v) -> str:
    return _num(v, "{:,.1f} s")


def verdicts(result: dict) -> list[dict]:
    out = []

    def add(name, value, target, ok, unit=""):
        out.append({"target": name, "value": value, "limit": target, "met": ok, "unit": unit})

    for size in result["sizes"]:
        for d in size["directions"]:
            fs, label = d["first_sync"], f"{d['direction']} N={size['n']:,}"
            if result["meta"]["latency_ms"] == {"salesforce": 120, "pardot": 150}:
                add(f"records/hour {label}", fs["records_per_hour"], TARGETS["records_per_hour"],
                    fs["records_per_hour"] >= TARGETS["records_per_hour"], "≥")
            add(f"achieved÷floor calls {label}", fs["ratio_calls"], TARGETS["ratio_calls"],
                fs["ratio_calls"] <= TARGETS["ratio_calls"], "≤")
            if "idle_cycle" in d:
                calls = d["idle_cycle"]["calls"]["salesforce"] + d["idle_cycle"]["calls"]["pardot"]
                add(f"idle cycle calls {label}", calls, TARGETS["idle_calls"], calls <= TARGETS["idle_calls"], "≤")
    mem = result.get("memory") or {}
    if mem.get("growth") is not None:
        add("peak memory 100k ÷ 10k", mem["growth"], TARGETS["memory_growth"],
            mem["growth"] <= TARGETS["memory_growth"], "≤")
    # The API's p99_ms is the worst of its runs (bench/web_bench.py): met only if every run meets it.
    for key, name, limit in (("bot", "bot ack p99 ms", "bot_p99_ms"), ("api", "API status p99 ms", "api_p99_ms")):
        part = result.get(key) or {}
        if part.get("p99_ms") is not None:
            add(name, part["p99_ms"], TARGETS[limit], part["p99_ms"] <= TARGETS[limit] and not part["errors"], "≤")
    return out


def render(result: dict) -> str:
    meta = result["meta"]
    lat = meta["latency_ms"]
    lines = [f"pardot-connector bench  {meta['started']}  latency: Salesforce {lat['salesforce']:g} ms, "
             f"Pardot {lat['pardot']:g} ms (5 in flight)  db: {meta['database']}  workers: 1 RQ SimpleWorker",
             f"code: {meta.get('code', {}).get('commit')}"
             + (f" + uncommitted {', '.join(meta['code']['uncommitted'])}" if meta.get("code", {}).get("uncommitted")
                else ""), ""]
    for size in result["sizes"]:
        lines.extend(_size_rows(size))
    mem = result.get("memory") or {}
    lines.append(f"{'Worker peak memory':<34}" + "   ".join(f"N={k}: {v / 1024:,.0f} MiB"
                                                          for k, v in (mem.get("by_n") or {}).items())
                 + (f"   100k ÷ 10k = {mem['growth']:.2f}" if mem.get("growth") is not None else
                    "   (100k: run --large)"))
    for key, label in (("bot", "Bot: /pardot status ack"), ("api", "API: GET /api/v1/connector")):
        part = result.get(key) or {"na": "not run"}
        if "na" in part:
            lines.append(f"{label:<34}n/a ({part['na']})")
        elif part.get("p99_ms_runs"):  # several runs: the worst p99 is the one the target meets
            runs = ", ".join(_num(v, "{:.0f}") for v in part["p99_ms_runs"])
            lines.append(f"{label:<34}p50 {part['p50_ms']:.1f} ms   p99 {part['p99_ms']:.1f} ms (worst of "
                         f"{len(part['p99_ms_runs'])} runs: {runs})   ({part['ok']} ok, {part['errors']} errors, "
                         f"{part['per_second']:.0f}/s)")
        else:
            lines.append(f"{label:<34}p50 {part['p50_ms']:.1f} ms   p99 {part['p99_ms']:.1f} ms   "
                         f"({part['ok']} ok, {part['errors']} errors, {part['per_second']:.0f}/s)")
    base = result.get("baseline")
    if base and "na" not in base:
        s, c = base["script"], base["connector"]
        lines.append(f"{'Baseline: ' + format(base['n'], ',') + ' leads S→P':<34}"
                     f"script {s['wall_s']:.1f} s, {sum(s['calls'].values())} calls;  connector "
                     f"{c['wall_s']:.1f} s, {c['calls']['salesforce'] + c['calls']['pardot']} calls;  "
                     f"speed-up {base['speedup']:.1f}×, calls ÷ {base['call_ratio']:.1f}")
    elif base:
        lines.append(f"{'Baseline':<34}n/a ({base['na']})")
    lines.append("")
    lines.append("Targets")
    for v in result.get("verdicts", []):
        value = v["value"]
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        lines.append(f"  {'met ' if v['met'] else 'MISS'}  {v['target']:<36} {shown:>12}  (target {v['unit']} "
                     f"{v['limit']:,})")
    return "\n".join(lines)


def _size_rows(size: dict) -> list[str]:
    """One size's first-sync table, a column per direction."""
    lines = []
    dirs = size["directions"]
    head = f"First sync, N = {size['n']:,}"
    lines.append(f"{head:<34}" + "".join(f"{d['label']:>24}" for d in dirs))

    def row(label, fn):
        lines.append(f"  {label:<32}" + "".join(f"{fn(d):>24}" for d in dirs))

    row("wall time", lambda d: _s(d["first_sync"]["wall_s"]))
    row("records per hour", lambda d: _num(d["first_sync"]["records_per_hour"]))
    row("API calls SF / Pardot", lambda d: f"{d['first_sync']['calls']['salesforce']} / "
                                           f"{d['first_sync']['calls']['pardot']}")
    row("calls per 1,000 SF / Pardot", lambda d: f"{d['first_sync']['calls_per_1000']['salesforce']:.1f} / "
                                                 f"{d['first_sync']['calls_per_1000']['pardot']:.1f}")
    row("floor calls SF / Pardot", lambda d: f"{d['first_sync']['floor']['salesforce']} / "
                                             f"{d['first_sync']['floor']['pardot']}")
    row("floor time", lambda d: _num(d["first_sync"]["floor_s"], "{:,.2f} s"))
    row("achieved ÷ floor: calls", lambda d: f"{d['first_sync']['ratio_calls']:.2f}")
    row("achieved ÷ floor: time", lambda d: _num(d["first_sync"]["ratio_time"]))
    if all("changed_cycle" in d for d in dirs):
        row("1% changed: calls / time", lambda d: _cycle(d["changed_cycle"]))
        pace = dirs[0]["idle_cycle"].get("after_s", 0)
        row(f"  next cycle, {pace:g} s later", lambda d: _cycle(d["echo_cycle"]))
        row(f"nothing changed, {pace:g} s later", lambda d: _cycle(d["idle_cycle"]))
    row("worker peak memory", lambda d: _num(d["worker_peak_rss_kib"] and d["worker_peak_rss_kib"] / 1024,
                                             "{:,.0f} MiB"))
    lines.append("")
    return lines


def _cycle(c: dict) -> str:
    return f"{c['calls']['salesforce'] + c['calls']['pardot']} / {c['wall_s']:.1f} s"
