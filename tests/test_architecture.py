"""The import direction of reflexrl's subpackages is a DAG: each layer imports only the
layers below it (the leaves, `errors`, `records`, `usage` and `event_loop`, from anywhere).
This reads every module's imports (ast), so a new import that runs back up fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "reflexrl"
LEAVES = {"errors", "records", "usage", "event_loop"}
FORMER = {"sandbox"}  # a former address the README gave, re-exporting its new home
LAYERS = [
    {"files", "safety"},
    {"memory"},
    {"rewards"},
    {"envs"},
    {"prompt"},
    {"models", "loop"},  # side by side: the loops take a runnable, never a provider
    {"agent"},
    {"export", "ui"},
    {"cli"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str:
    """The subpackage (or leaf module) a `reflexrl.X...` module belongs to."""
    return module.split(".")[1]


def _imports(path: Path) -> set[str]:
    """The reflexrl modules `path` imports, absolute."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            if node.module is None:  # `from . import a, b`: modules of the package
                found |= {f"{target}.{a.name}" for a in node.names}
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("reflexrl.")}


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


def test_every_subpackage_has_a_layer() -> None:
    units = {p.relative_to(PACKAGE).parts[0] for p in MODULES}
    assert units - {"_bundled"} == set(RANK)
    flat = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert flat == LEAVES | FORMER


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_down_the_layers(path: Path) -> None:
    mine = path.relative_to(PACKAGE).parts[0]
    for module in _imports(path):
        other = _unit(module)
        if other in LEAVES or other == mine:
            continue
        assert RANK[other] < RANK[mine], f"{path.name} ({mine}) imports {module} ({other})"


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_the_leaves_import_only_leaves(leaf: str) -> None:
    assert {_unit(m) for m in _imports(PACKAGE / f"{leaf}.py")} <= LEAVES
