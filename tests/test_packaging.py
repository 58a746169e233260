"""The project installs one top-level name, `wmnet`, and nothing else."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import wmnet

REPO = Path(__file__).resolve().parents[1]
FOLDERS = sorted(
    _BARE := (
        "bench",
        "harness",
        "ledger",
        "localnet",
        "miner",
        "neurons",
        "protocol",
        "training",
        "validator",
        "worldmodel",
    )
)


def _package_dirs() -> set[str]:
    """Every folder of the product that is a package, as the wheel should hold it."""
    found = {"wmnet"}
    for top in FOLDERS:
        for init in (REPO / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add("wmnet/" + init.parent.relative_to(REPO).as_posix())
    return found


@pytest.mark.slow
def test_wheel_holds_only_wmnet(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("wmnet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"wmnet"}
    packaged = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")} | {"wmnet"}
    missing = _package_dirs() - packaged
    assert not missing, f"packages left off pyproject's list: {sorted(missing)}"
    assert any(
        n.startswith("wmnet/worldmodel/checkpoints/") and n.endswith(".safetensors") for n in names
    )
    # The dashboard's chart library and its licences ship inside the package.
    for name in ("echarts.common.min.js", "ECHARTS-LICENSE", "ECHARTS-NOTICE", "README.md"):
        assert f"wmnet/ledger/static/{name}" in names, name
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "wmnet = wmnet.neurons.cli:app" in zipfile.ZipFile(wheel).read(entry).decode()


def test_every_module_imports_under_wmnet_only() -> None:
    for info in pkgutil.walk_packages(wmnet.__path__, prefix="wmnet."):
        importlib.import_module(info.name)
    bare = sorted(m for m in sys.modules if m.partition(".")[0] in _BARE)
    assert not bare, f"modules imported under a bare name: {bare}"


def test_bare_names_are_refused() -> None:
    with pytest.raises(ImportError, match="wmnet.localnet"):
        importlib.import_module("localnet.chain")
