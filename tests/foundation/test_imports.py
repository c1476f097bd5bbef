"""The house (issue 12): every module imports on its own, and the layers point one way.

An import cycle only breaks when one of its modules is imported first, so each module is
imported first in an interpreter of its own: one fresh `python` process preloads the
third-party packages the project imports (the slow part) and forks a child per module,
which has imported nothing of the project. A last child imports them all in sorted order.

The layers (DESIGN.md, "sync/ never imports flask, slack_*, api or bot"): the core `sync/`
imports no adapter and no framework of one, and inside `sync/` only the service layer may
import the service (`sync.service…`) or the Salesforce-engine integration (`sync.native`).
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "bot", "sync", "sandbox", "bench")
NOT_IMPORTED = ("sync.migrations",)  # alembic's env.py runs a migration when imported
LOCAL = {"app", *PACKAGES, "tests"}
# What sync/ must never import (at any depth, also inside a function).
ADAPTERS = ("flask", "api", "bot", "sandbox")  # and every slack_* package
# The upper layer of sync/ and the modules allowed to reach it: the service's own modules,
# the worker's job functions (sync.tasks) and the runtime that builds the Service for the
# adapters. Every other sync module (engine, reconcile, jobs, bulk, ingest, records…) is
# below it and gets what it needs passed in.
UPPER = ("sync.service", "sync.native")
MAY_IMPORT_UPPER = ("sync.service", "sync.native", "sync.tasks", "sync.runtime")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> list[str]:
    names = ["app"]
    for package in PACKAGES:
        names += [_module_name(p) for p in (ROOT / package).rglob("*.py")]
    return sorted(n for n in names if not n.startswith(NOT_IMPORTED))


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every import in the file, anywhere in it, as absolute module names (line, module)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            # `from . import service` names a module, not an attribute
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def _lines_importing(paths: list[Path], wanted) -> list[str]:
    """`file:line imports module` for each import statement that names a wanted module."""
    found: dict[tuple[str, int], str] = {}
    for path in paths:
        for line, module in imports_of(path):
            if wanted(module):
                found.setdefault((str(path.relative_to(ROOT)), line), module)
    return [f"{where}:{line} imports {module}" for (where, line), module in sorted(found.items())]


_IMPORTER = r"""
import importlib, json, os, sys, traceback

def child(names):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        error = None
        try:
            for name in names:
                current = name
                importlib.import_module(name)
        except BaseException as exc:
            error = f"{current}: {type(exc).__name__}: {exc}"
        os.write(w, json.dumps(error).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data or b'"the child died"')

modules, third_party = json.loads(sys.stdin.read())
for name in third_party:  # the slow part, once; the children share it
    try:
        importlib.import_module(name)
    except Exception:
        pass  # a child importing a project module that needs it reports the error
failures = {}
for name in modules:
    error = child([name])
    if error:
        failures[name] = error
error = child(modules)
if error:
    failures["(all, in sorted order)"] = error
print(json.dumps(failures))
"""


def _third_party(modules: list[str]) -> list[str]:
    tops = set()
    for name in modules:
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        tops |= {m for _, m in imports_of(path) if m.split(".")[0] not in LOCAL}
    return sorted(m for m in tops if m.split(".")[0] not in sys.stdlib_module_names and m != "__future__")


def test_every_module_imports_first_in_a_fresh_interpreter():
    modules = project_modules()
    assert {"app", "sync.engine", "bot.grammar", "api.openapi", "sandbox.pardot", "bench.runner"} <= set(modules)
    out = subprocess.run([sys.executable, "-c", _IMPORTER], cwd=ROOT, input=json.dumps([modules, _third_party(modules)]),
                         capture_output=True, text=True, timeout=600, check=True)
    failures = json.loads(out.stdout.strip().splitlines()[-1])
    assert failures == {}


def test_sync_imports_no_adapter_and_no_adapter_framework():
    assert _lines_importing(_files("sync"), lambda m: m.split(".")[0] in ADAPTERS
                            or m.startswith("slack_")) == []


def test_no_module_in_sync_imports_the_service_layer_upward():
    lower = [p for p in _files("sync") if not _module_name(p).startswith(MAY_IMPORT_UPPER)]
    assert _lines_importing(lower, lambda m: m.startswith(UPPER)) == []


def test_the_import_scanner_sees_relative_and_late_imports(tmp_path, monkeypatch):
    """The checks above cannot pass by missing an import: a late relative import of the
    service, `from . import native` and a late flask import are all found."""
    package = tmp_path / "sync"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "engine.py").write_text("def f():\n    from .service import error_dict\n"
                                       "    from . import native\n    import flask.json\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = [m for _, m in imports_of(package / "engine.py")]
    assert {"sync.service", "sync.service.error_dict", "sync.native", "flask.json"} <= set(found)
