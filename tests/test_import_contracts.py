"""The module-cycle contract (tools/import_contracts.py) finds cycles and names them; the
contracts of pyproject.toml are run by `make imports`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from grimp import ImportGraph

from tests.waits import START
from tools.import_contracts import module_cycles

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def graph(*imports: tuple[str, str]) -> ImportGraph:
    g = ImportGraph()
    for importer, imported in imports:
        g.add_import(importer=importer, imported=imported)
    return g


def test_every_cycle_is_one_component_and_a_chain_into_it_is_not() -> None:
    g = graph(("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.d", "p.a"),
              ("p.e", "p.f"), ("p.f", "p.e"), ("p.g", "p.g2"))
    assert module_cycles(g, g.modules) == [["p.a", "p.b", "p.c"], ["p.e", "p.f"]]


def test_a_cycle_through_a_module_left_out_is_not_seen() -> None:
    g = graph(("p.a", "p.b"), ("p.b", "p.a"), ("p.c", "p.d"))
    assert module_cycles(g, {"p.a", "p.c", "p.d"}) == []
    assert module_cycles(graph(("p.a", "p.b"), ("p.b", "p.c")), {"p.a", "p.b", "p.c"}) == []


def _lint(tmp_path: Path, skip: str) -> subprocess.CompletedProcess[str]:
    pkg = tmp_path / "loop"
    (pkg / "inner").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from loop import b\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from loop import a\n")
    (pkg / "inner" / "__init__.py").write_text("")
    (pkg / "c.py").write_text("from loop.inner import d\n")
    (pkg / "inner" / "d.py").write_text("import loop.c\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["loop"]\n'
        'contract_types = ["acyclic_modules: tools.import_contracts.AcyclicModulesContract"]\n'
        '[[tool.importlinter.contracts]]\nname = "no cycles"\ntype = "acyclic_modules"\n'
        f'containers = ["loop"]\n{skip}\n')
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=START, check=False)


def test_lint_imports_names_each_cycle_annotation_only_imports_included(
        tmp_path: Path) -> None:
    run = _lint(tmp_path, "")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "loop.a -> loop.b -> loop.a" in run.stdout
    assert "loop.c -> loop.inner.d -> loop.c" in run.stdout


def test_lint_imports_keeps_the_contract_without_the_skipped_package(tmp_path: Path) -> None:
    run = _lint(tmp_path, 'skip = ["loop.inner", "loop.b"]')
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no cycles KEPT" in run.stdout


def test_the_architecture_page_names_modules_that_exist() -> None:
    """docs/architecture.md points a newcomer at files: each one it names is there (the
    journal package, which another change brings, is the one it names as to come)."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:iso8583|switch|settlement|hsm_sim|terminal_agent|lps|tools)"
                           r"/[A-Za-z0-9_/]*(?:\.py)?)`", page))
    assert "switch/connection.py" in named and "switch/core/apply.py" in named
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert missing in ([], ["switch/journal/"]), missing


def test_the_hsm_simulator_is_forbidden_every_dependency_but_cryptography() -> None:
    """The `hsm-alone` contract lists dependencies by import name: one added to pyproject.toml
    must be added there too, or the simulator could start using it unseen."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [contract] = [c for c in data["tool"]["importlinter"]["contracts"] if c["id"] == "hsm-alone"]
    by_distribution: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            by_distribution.setdefault(canonical(distribution), set()).add(module)
    wanted: set[str] = set()
    for requirement in data["project"]["dependencies"]:
        name = canonical(re.split(r"[<>=!~;\[ ]", requirement)[0])
        assert by_distribution.get(name), f"{name} is not installed"
        if name != "cryptography":
            wanted |= by_distribution[name]
    assert wanted - set(contract["forbidden_modules"]) == set()


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
