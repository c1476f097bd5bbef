"""The sandbox's layout (issue 12): no import cycle between its modules (counting imports
deferred into functions, which only hide a cycle), each module importable on its own in a
fresh interpreter, nothing imported from sync/."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sandbox"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _imports(name: str) -> set[str]:
    """Top-level package names imported anywhere in sandbox/<name>.py, as `pkg.module`."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "sandbox" if node.level else (node.module or "")
            if node.level and node.module:
                base = f"sandbox.{node.module}"
            if base == "sandbox":  # `from sandbox import x` / `from . import x`
                found.update(f"sandbox.{alias.name}" for alias in node.names)
            else:
                found.add(base)
    return found


def _graph() -> dict[str, set[str]]:
    return {m: {i.split(".", 1)[1] for i in _imports(m) if i.startswith("sandbox.")
                and i.split(".", 1)[1] in MODULES} for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_import_cycle_between_sandbox_modules():
    assert _cycles(_graph()) == []


def test_cycle_finder_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b", "a"]]


def test_sandbox_imports_nothing_from_sync():
    offenders = {m: sorted(i for i in _imports(m) if i.split(".")[0] in ("sync", "api", "bot", "app"))
                 for m in MODULES}
    assert {m: v for m, v in offenders.items() if v} == {}


_IMPORT_EACH = """
import importlib, sys
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "sandbox" or m.startswith("sandbox.")]:
        del sys.modules[loaded]  # each sandbox module imported first, as if alone
    try:
        importlib.import_module("sandbox." + name)
    except Exception as exc:
        print(f"{name}: {exc!r}")
"""


def test_each_module_imports_first_in_a_fresh_interpreter():
    """One interpreter (third-party imports are paid once); sandbox.* dropped before each."""
    proc = subprocess.run([sys.executable, "-c", _IMPORT_EACH, *MODULES], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


MAX_MODULE_LINES = 400   # issue 12: "no module longer than about 400 lines"
MAX_FUNCTION_LINES = 60  # ... "and no function longer than about 60" (decorators included)


def _function_sizes() -> dict[str, int]:
    sizes = {}
    for name in MODULES:
        for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                sizes[f"{name}.py:{node.lineno} {node.name}"] = node.end_lineno - start + 1
    return sizes


def test_modules_and_functions_stay_short():
    long_modules = {m: n for m in MODULES
                    if (n := len((PACKAGE / f"{m}.py").read_text().splitlines())) > MAX_MODULE_LINES}
    long_functions = {f: n for f, n in _function_sizes().items() if n > MAX_FUNCTION_LINES}
    assert (long_modules, long_functions) == ({}, {})
