"""Imports point one way, as docs/architecture.md draws them.

Read from the source (``ast``), not from ``sys.modules``: a lazy import inside a
function counts the same as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# folder -> the wmnet folders its modules may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "worldmodel": {"protocol"},
    "training": {"protocol", "worldmodel"},
    "localnet": set(),
    "ledger": {"protocol"},
    "miner": {"protocol", "worldmodel", "training", "localnet"},
    "validator": {"protocol", "worldmodel", "training", "ledger", "localnet"},
    "harness": {"protocol", "localnet"},
    "bench": {
        "protocol",
        "worldmodel",
        "training",
        "localnet",
        "ledger",
        "miner",
        "validator",
        "harness",
    },  # fmt: skip
    "neurons": {
        "protocol",
        "worldmodel",
        "training",
        "localnet",
        "ledger",
        "miner",
        "validator",
        "harness",
        "bench",
    },  # fmt: skip
}


def _wmnet_imports(path: Path) -> set[str]:
    """The wmnet folders a module imports, e.g. {"localnet", "protocol"}."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "wmnet" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_imports_point_one_way(folder: str) -> None:
    wrong = []
    for path in sorted((REPO / folder).rglob("*.py")):
        for imported in _wmnet_imports(path) - ALLOWED[folder] - {folder}:
            wrong.append(f"{path.relative_to(REPO)} imports wmnet.{imported}")
    assert not wrong, "imports against docs/architecture.md's arrows:\n" + "\n".join(wrong)


def test_every_product_folder_has_a_rule() -> None:
    folders = {p.parent.name for p in REPO.glob("*/__init__.py")}
    assert folders == set(ALLOWED), f"folders without a layer rule: {folders ^ set(ALLOWED)}"
