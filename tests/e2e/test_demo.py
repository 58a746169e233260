"""`wmnet demo` as a user runs it: a short run's JSON report shows both workloads paid,
the customer charged and the cheater at zero incentive; a demo stopped with Ctrl-C
mid-run leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.procs import alive, terminal_sigint

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


WMNET = [sys.executable, "-m", "wmnet.neurons.cli"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["BTCLI_TOKEN_SYMBOLS_CACHE"] = str(tmp_path / "symbols.json")
    env["BTCLI_CONFIG"] = str(tmp_path / "config.yml")
    return env


def test_short_demo_reports_both_workloads_and_the_cheater_at_zero(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [*WMNET, "demo", "--miners", "2", "--tempos", "3", "--json", "--out", str(out)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)  # one object, nothing else on stdout
    assert report["ok"] and report["failures"] == []
    assert set(report["workloads"]) == {"rollout", "train_shard"}
    for workload, row in report["workloads"].items():
        assert row["emission_alpha_rao"] > 0 and float(row["emission_alpha"]) > 0, workload
        # wmnet's chain prices alpha 1:1 in its pool: the TAO value equals the alpha.
        assert row["emission_tao_rao"] == row["emission_alpha_rao"], workload
        assert row["utilization"] is not None and 0 < row["utilization"] <= 1, workload
        assert {"revenue", "subsidy_ratio"} <= set(row), workload
    rollout, shard = report["workloads"]["rollout"], report["workloads"]["train_shard"]
    assert float(rollout["revenue"]) > 0 and rollout["subsidy_ratio"] > 0
    # Nobody buys training through the gateway: emissions pay for all of it.
    assert float(shard["revenue"]) == 0 and shard["subsidy_ratio_text"] == "∞"
    assert report["customer"]["served"] > 0
    miners = report["miners"]
    assert len(miners) == 2 and [m["cheater"] for m in miners] == [False, True]
    for miner in miners:
        assert set(miner) >= {"uid", "hotkey", "incentive", "cheater"}
        assert (miner["incentive"] == 0) if miner["cheater"] else (miner["incentive"] > 0)
    assert all(Path(p).stat().st_size > 0 for p in report["plots"])
    assert {Path(p).name for p in report["plots"]} == {
        "ledger-by-workload.png",
        "ledger-by-miner.png",
        "ledger-by-epoch.png",
    }
    totals = report["totals"]
    assert totals["emission_alpha_rao"] == sum(
        row["emission_alpha_rao"] for row in report["workloads"].values()
    )
    assert totals["emission_tao_rao"] == totals["emission_alpha_rao"]  # 1 α = 1 TAO here
    assert report["prices"]["alpha_price"] == "1" and report["prices"]["tao_price"] == "300"
    assert "current_alpha_price" in report["prices"]["alpha_price_source"]


def _descendants(root: int) -> set[int]:
    """Every live process below ``root`` (children by PPID, transitively)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {pid for pid in found if alive(pid)}


def test_ctrl_c_mid_run_leaves_no_process_behind(tmp_path):
    out = tmp_path / "demo"
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen(
        [*WMNET, "demo", "--miners", "2", "--tempos", "50", "--out", str(out)],
        env=_env(tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=terminal_sigint,
    )
    pids: set[int] = set()
    try:
        # Mid-run: chain, miners and validator up, the customer buying rollouts.
        deadline = time.monotonic() + 300
        text = ""
        while "customer buying rollouts" not in text:
            assert demo.poll() is None, text[-4000:]
            assert time.monotonic() < deadline, text[-4000:]
            time.sleep(0.5)
            text = (tmp_path / "demo.log").read_text()
        pids = _descendants(demo.pid)
        assert len(pids) >= 4, pids  # chain, two miners, validator
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 130
        text = (tmp_path / "demo.log").read_text()
        assert "interrupted" in text and "Traceback" not in text, text[-4000:]
        deadline = time.monotonic() + 10
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if alive(p)], "left behind after Ctrl-C"
    finally:
        demo.kill()
        log.close()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
