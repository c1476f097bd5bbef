"""A production install (issue 9 item 10): `pip install -r requirements.txt` is all the
Procfile processes need, and `PROCESS --check` proves each one's imports without connecting.

.ci/run also installs requirements.txt alone into a fresh venv and runs the same checks there;
these tests keep the pins honest in the everyday suite."""
from __future__ import annotations

import ast
import importlib.metadata as md
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_CODE = ("app.py", "sync", "api", "bot", "sandbox")  # sandbox: `make demo` runs it
LOCAL = {"app", "sync", "api", "bot", "sandbox", "bench", "tests"}
# Pinned but never imported by name, and why each is still needed at run time.
USED_WITHOUT_IMPORT = {
    "psycopg": "SQLAlchemy's postgresql+psycopg driver (sync/db.py)",
    "gunicorn": "the web process (`python app.py web`)",
    "cryptography": "PyJWT's RS256 signing of the Salesforce JWT bearer assertion",
}


def _requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[\[=<>~!; ]", line, 1)[0])
    return names


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(names: list[str]) -> set[str]:
    """The distributions `pip install` of these names brings in (their run-time requirements)."""
    seen: set[str] = set()
    todo = [_canon(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in md.requires(name) or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(_canon(req.name))
    return seen


def _top_level_imports() -> dict[str, str]:
    """Every absolute import in the run-time code: top-level module → a file importing it."""
    found: dict[str, str] = {}
    files = []
    for part in RUNTIME_CODE:
        p = ROOT / part
        files += [p] if p.is_file() else list(p.rglob("*.py"))
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LOCAL and top != "__future__":
                    found.setdefault(top, str(f.relative_to(ROOT)))
    return found


def test_every_run_time_import_is_installed_by_requirements_txt_alone():
    """Before: api/openapi.py imports jsonschema and referencing, pinned only in
    requirements-dev.txt, so a production install died with ModuleNotFoundError."""
    installed = _closure(_requirement_names(ROOT / "requirements.txt"))
    providers = md.packages_distributions()
    missing = {}
    for module, where in _top_level_imports().items():
        dists = {_canon(d) for d in providers.get(module, [])}
        if not dists & installed:
            missing[module] = where
    assert missing == {}, f"imported at run time but not installed by requirements.txt: {missing}"


def test_every_pin_in_requirements_txt_is_used_at_run_time():
    """Before: lark was pinned and never imported."""
    providers = md.packages_distributions()
    imported = {_canon(d) for module in _top_level_imports() for d in providers.get(module, [])}
    # A pin may also be needed by another pin only through an import we make of it.
    unused = [n for n in _requirement_names(ROOT / "requirements.txt")
              if _canon(n) not in imported and n not in USED_WITHOUT_IMPORT]
    assert unused == []
    pins = {_canon(n) for n in _requirement_names(ROOT / "requirements.txt")}
    dev = {_canon(n) for n in _requirement_names(ROOT / "requirements-dev.txt")}
    assert not pins & dev, "a run-time pin is repeated in requirements-dev.txt (which includes requirements.txt)"


def _procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_the_procfile_runs_the_migrate_release_step_then_the_four_processes():
    procs = {name: cmd.strip() for name, cmd in _procfile().items()}
    assert procs["release"] == "python app.py migrate"  # issue 9 item 11
    assert set(procs) == {"release", "web", "worker", "scheduler", "bot"}


def test_app_py_is_one_command_group_named_as_the_procfile(tmp_path):
    """Issue 12: `python app.py web|worker|scheduler|bot|shell|demo|migrate`, one click group whose
    names are the Procfile's (before: argv parsed by hand, no group to list). An unknown command
    is refused with exit 2 and no traceback."""
    from app import cli

    assert set(cli.commands) == {"web", "worker", "scheduler", "bot", "shell", "demo", "migrate"}
    for name, cmd in _procfile().items():
        assert cmd.split()[:3] == ["python", "app.py", "migrate" if name == "release" else name]
    out = subprocess.run([sys.executable, "app.py", "nonsense"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=False, env={**os.environ, "CONNECTOR_DATA_DIR": str(tmp_path)})
    assert out.returncode == 2 and "No such command 'nonsense'" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("process", ["web", "worker", "scheduler", "bot"])
def test_check_imports_what_the_process_imports_and_connects_to_nothing(process, tmp_path):
    """`python app.py PROCESS --check` exits 0 with nothing to connect to: no org, no sandbox,
    Redis and PostgreSQL URLs on a closed port (before: it built the runtime and failed)."""
    assert process in _procfile()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "PARDOT_", "SLACK_"))}
    env.update(CONNECTOR_DATA_DIR=str(tmp_path), SANDBOX_INFO=str(tmp_path / "no-sandbox.json"),
               REDIS_URL="redis://127.0.0.1:1/0", DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    out = subprocess.run([sys.executable, "app.py", process, "--check"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(rf"{process}: \d+ modules import\n", out.stdout)
    assert not (tmp_path / "redis").exists() and list(tmp_path.iterdir()) == []  # no embedded server, no file


def test_check_names_a_missing_module_and_fails(tmp_path):
    """The check really imports: hide jsonschema and the web check fails, naming it."""
    (tmp_path / "jsonschema.py").write_text("raise ImportError(\"No module named 'jsonschema'\")\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "app.py", "web", "--check"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == "web: cannot import what it needs: No module named 'jsonschema'"
