"""The project installs one top-level name, `wmnet`, and nothing else; a plain install
with a runtime extra (no dev extra) runs the commands that extra is for."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import pkgutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import wmnet
from tests.ledger.conftest import pg_url  # noqa: F401 - a fixture: a fresh PostgreSQL DB

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
    assert "wmnet = wmnet.neurons.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_every_module_imports_under_wmnet_only() -> None:
    for info in pkgutil.walk_packages(wmnet.__path__, prefix="wmnet."):
        importlib.import_module(info.name)
    bare = sorted(m for m in sys.modules if m.partition(".")[0] in _BARE)
    assert not bare, f"modules imported under a bare name: {bare}"


def test_bare_names_are_refused() -> None:
    with pytest.raises(ImportError, match="wmnet.localnet"):
        importlib.import_module("localnet.chain")


def _closure(requirements: list[str]) -> set[str]:
    """The installed distributions ``requirements`` need, transitively (markers and
    extras evaluated as pip would), read from this environment's metadata."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in found:
            continue
        found.add(key)
        dist = importlib.metadata.distribution(req.name)
        for text in dist.requires or []:
            for wanted in ("", *req.extras):
                todo.append((Requirement(text), wanted))
    return {k.split("[", 1)[0] for k in found}


def _visible_only(names: set[str], into: Path) -> None:
    """Symlink the installed files of the distributions ``names`` (and only those) into
    ``into``: a site directory a fresh venv can see instead of downloading them."""
    into.mkdir()
    for name in sorted(names):
        dist = importlib.metadata.distribution(name)
        root = Path(dist.locate_file(""))
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {".."}:
            link = into / top
            if not link.exists() and (root / top).exists():
                link.symlink_to(root / top)


@pytest.mark.slow
def test_a_plain_install_with_the_postgres_extra_reports_from_postgresql(
    tmp_path: Path,
    pg_url: str,  # noqa: F811 - the fixture imported above
) -> None:
    """`pip install '.[postgres]'` in a fresh venv, no dev extra, nothing downloaded: the
    venv sees only the runtime closure of wmnet[postgres] (already installed here),
    `pip --no-index` must find every requirement there, and `wmnet ledger report --db
    postgresql+psycopg://…` must work with what that install holds."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["postgres"]
    deps = _closure([*wanted, "pip", "setuptools", "wheel"])  # + what installs it offline
    assert "psycopg-binary" in deps and "pytest" not in deps, sorted(deps)
    _visible_only(deps, tmp_path / "deps")
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)  # ensurepip's older setuptools would come first
    (site,) = fresh.glob("lib/python*/site-packages")
    (site / "wmnet_test_deps.pth").write_text(str(tmp_path / "deps") + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WMNET_DB_URL")}
    env["HOME"] = str(tmp_path)
    install = subprocess.run(
        [fresh / "bin" / "python", "-m", "pip", "install", "-q", "--no-index",
         "--no-build-isolation", f"{REPO}[postgres]"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    probe = "import wmnet, psycopg; print(wmnet.__file__)"
    where = subprocess.run(
        [fresh / "bin" / "python", "-c", probe], env=env, capture_output=True, text=True
    )
    assert where.returncode == 0 and str(site) in where.stdout, where.stdout + where.stderr
    dev_only = subprocess.run([fresh / "bin" / "python", "-c", "import pytest"], env=env)
    assert dev_only.returncode != 0, "the fresh venv must not see the dev extra"
    wmnet_bin = fresh / "bin" / "wmnet"
    assert subprocess.run([wmnet_bin, "--version"], env=env).returncode == 0
    report = subprocess.run(
        [wmnet_bin, "ledger", "report", "--by", "workload", "--format", "json", "--db", pg_url],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert isinstance(json.loads(report.stdout), dict | list)
