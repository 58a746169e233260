"""The CLI as a user runs it: help and JSON output (the demo: tests/e2e/test_demo.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

WMNET = [sys.executable, "-m", "wmnet.neurons.cli"]


def _run(*args: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["BTCLI_TOKEN_SYMBOLS_CACHE"] = str(tmp_path / "symbols.json")
    env["BTCLI_CONFIG"] = str(tmp_path / "config.yml")
    return subprocess.run([*WMNET, *args], env=env, capture_output=True, text=True, timeout=300)


def test_help_lists_every_area(tmp_path):
    proc = _run("--help", tmp_path=tmp_path)
    assert proc.returncode == 0
    for area in ("localnet", "subnet", "model", "bench", "demo"):
        assert area in proc.stdout


@pytest.mark.slow
def test_model_train_resumes_and_refuses_a_different_run(tmp_path):
    out = tmp_path / "ckpt"
    args = ["model", "train", "--out", str(out), "--ae-steps", "4", "--dyn-steps", "4"]
    args += ["--episodes", "8", "--batch", "2", "--json"]
    first = _run(*args, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    done = json.loads(first.stdout)
    assert done["steps"] == 8 and done["resumed_from"] == 0
    # The same command again continues the same run: nothing left, same weights.
    again = json.loads(_run(*args, tmp_path=tmp_path).stdout)
    assert again["resumed_from"] == 8 and again["model_id"] == done["model_id"]
    changed = _run(*[a if a != "4" else "5" for a in args], tmp_path=tmp_path)
    assert changed.returncode == 1
    assert "different run" in changed.stderr and "Traceback" not in changed.stderr
