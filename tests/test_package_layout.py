"""The host package's layout (docs/architecture.md, "Python package"): layers, no import cycles, small modules.

The import-linter contract in pyproject.toml is checked twice: as configured (it must pass), and on a copy of the
package with one deliberately wrong import (it must fail and name it). Cycles are found a second way, independently
of import-linter: strongly connected components of grimp's module graph.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "host" / "tinydrift"
LINT = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 600

needs_linter = pytest.mark.skipif(not LINT.exists(), reason="import-linter not installed (pip install -e '.[test]')")


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_no_module_over_600_lines() -> None:
    sizes = {str(p.relative_to(HOST)): len(p.read_text().splitlines()) for p in HOST.rglob("*.py")}
    assert len(sizes) > 30
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_no_import_cycle_between_modules() -> None:
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("tinydrift")
    modules = sorted(graph.modules)
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m) if i != m} for m in modules}
    # Tarjan's strongly connected components; a package's __init__ importing its own submodules is a
    # parent -> child edge, so a cycle needs a child importing back a module that imports it.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in modules:
        if m not in index:
            visit(m)
    assert "tinydrift.core.profile" in modules and "tinydrift.cli.app" in modules
    assert cycles == []


@needs_linter
def test_import_contract_holds() -> None:
    done = _lint(ROOT, ROOT / "host")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


@needs_linter
def test_import_contract_fails_on_a_lower_layer_importing_a_higher_one(tmp_path: Path) -> None:
    shutil.copytree(HOST, tmp_path / "host" / "tinydrift", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    wrong = tmp_path / "host" / "tinydrift" / "core" / "fixed.py"
    wrong.write_text(wrong.read_text() + "\nfrom tinydrift.cli.common import PROG  # deliberately wrong\n")
    done = _lint(tmp_path, tmp_path / "host")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "tinydrift.core is not allowed to import tinydrift.cli" in done.stdout
    assert "tinydrift.core.fixed -> tinydrift.cli.common" in done.stdout


def test_builders_share_option_checks(recordings) -> None:
    # build_profile and build_model_profile check their shared options in one place: same message for the
    # same bad value (the model profile checks options before it loads a model, so no TensorFlow is needed)
    from tinydrift import InputError, build_model_profile, build_profile

    train = recordings[0]
    for bad in ({"false_alarm_rate": 0.0}, {"n_centroids": 0}, {"stuck_tolerance": -1}, {"holdout": 1.0}):
        with pytest.raises(InputError) as plain:
            build_profile(train, **bad)
        with pytest.raises(InputError) as model:
            build_model_profile(train, "no-such-model.keras", **bad)
        assert str(plain.value) == str(model.value), bad
        assert str(next(iter(bad.values()))) in str(plain.value)
