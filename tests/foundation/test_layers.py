"""The core's import graph (issue 12): no cycle, nothing upward, no adapter.

Lower modules (the engine, the job queue, the salesforce engine...) never import the layers
above them (the service, the worker tasks, the runtime), not even inside a function: what
they share with those layers lives below them (sync/serialize.py, sync/names.py)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SYNC = ROOT / "sync"
UPPER = ("sync.service", "sync.tasks", "sync.runtime", "sync.worker", "sync.scheduler")
ADAPTERS = ("flask", "slack_bolt", "slack_sdk", "api", "bot", "sandbox", "app")
# Known upward imports, each with its reason; an entry that no longer occurs must be removed.
ALLOWED_UPWARD = {
    ("sync.jobs", "sync.tasks"): "jobs.__getattr__: jobs queued under the old name sync.jobs.run_* still run",
}


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    module = _name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from . import audit`
    modules = {_name(p) for p in SYNC.rglob("*.py")}
    return {m for m in found if m in modules or not m.startswith("sync")}


def _within(name: str, layers) -> bool:
    return any(name == layer or name.startswith(layer + ".") for layer in layers)


def test_nothing_in_sync_imports_an_adapter():
    for path in SYNC.rglob("*.py"):
        bad = {m for m in _imports(path, False) if _within(m, ADAPTERS)}
        assert not bad, f"{_name(path)} imports {bad}"


def test_no_lower_module_imports_the_service_the_tasks_or_the_runtime():
    """Before: engine.py, reconcile.py, jobs.py and native.py imported sync.service (and jobs.py
    and native.py sync.runtime) inside functions."""
    seen = set()
    for path in sorted(SYNC.rglob("*.py")):
        module = _name(path)
        if _within(module, UPPER):
            continue
        for target in sorted(m for m in _imports(path, False) if _within(m, UPPER)):
            layer = next(u for u in UPPER if _within(target, (u,)))
            assert (module, layer) in ALLOWED_UPWARD, f"{module} imports {target}, a layer above it"
            seen.add((module, layer))
    assert set(ALLOWED_UPWARD) <= seen, f"no longer imported: drop {set(ALLOWED_UPWARD) - seen} from ALLOWED_UPWARD"


def test_the_import_graph_of_sync_has_no_cycle():
    """Imports inside functions count too (they only hide a cycle). Before: sync/jobs.py <->
    sync/runtime.py, sync/service.py -> sync/native.py -> sync/service.py."""
    graph = {}
    for p in SYNC.rglob("*.py"):
        module = _name(p)
        graph[module] = {m for m in _imports(p, False) if m.startswith("sync.") and not any(
            module == low and _within(m, (up,)) for low, up in ALLOWED_UPWARD)}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt == node or nxt == node.rpartition(".")[0]:
                continue  # a package's own __init__ is not a cycle
            assert state.get(nxt) != "open", "import cycle: " + " -> ".join(path + [nxt])
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_jobs_queued_under_the_old_names_still_find_their_function():
    """The worker's job functions moved to sync/tasks.py; RQ resolves a queued job's dotted name."""
    from rq.utils import import_attribute

    from sync import tasks

    for name in ("run_cycle", "run_due_retries", "run_job"):
        assert import_attribute(f"sync.jobs.{name}") is getattr(tasks, name)
        assert import_attribute(f"sync.tasks.{name}") is getattr(tasks, name)
