"""`wmnet bench gauntlet` in miniature: honest updates measured as the validator does
(one torch thread: tests/training/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from wmnet.bench.gauntlet import run_gauntlet_bench

BENCH = [sys.executable, "-m", "wmnet.neurons.cli", "bench", "gauntlet", "--rounds", "1"]


def test_more_inner_steps_give_honest_updates_a_larger_advantage():
    lines: list[str] = []
    res = run_gauntlet_bench(rounds=3, inner_steps=[1, 16, 1], progress=lines.append)
    assert len(lines) == 1 and lines[0].startswith("round 3/3 (")  # one line, at the end
    assert res["rounds"] == 3 and res["batch"] == 4  # the validator's default batch
    # One H run once even when named twice; every round measured for each H.
    assert [k for k in res if k.endswith("_false_negatives")] == [
        "H1_false_negatives",
        "H16_false_negatives",
    ]
    for h in (1, 16):
        missed, rounds = map(int, res[f"H{h}_false_negatives"].split("/"))
        assert rounds == 3 and 0 <= missed <= 3
        assert res[f"H{h}_false_negative_rate"] == round(missed / 3, 4)
        assert res[f"H{h}_advantage_min"] <= res[f"H{h}_advantage_median"]
    # An honest update is trained on its own shard: it helps it more than random data,
    # and 16 steps memorise it far more than one step does.
    assert res["H16_false_negatives"] == "0/3"
    assert res["H16_advantage_min"] > 10 * res["min_advantage"]
    assert res["H16_advantage_median"] > 2 * res["H1_advantage_median"]
    # The same seed draws the same rounds.
    again = run_gauntlet_bench(rounds=3, inner_steps=[16])
    assert again["H16_advantage_median"] == res["H16_advantage_median"]


def test_the_command_prints_json_and_refuses_bad_steps():
    run = subprocess.run(
        [*BENCH, "--inner-steps", "2", "--json"], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    assert figures["H2_false_negatives"] in {"0/1", "1/1"} and figures["cpu"]
    assert "round 1/1" in run.stderr  # progress on stderr, the JSON alone on stdout
    for bad in ("x", "0"):
        run = subprocess.run(
            [*BENCH, "--inner-steps", bad], capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 2 and run.stdout == "", (bad, run.stderr)
        assert run.stderr.count("\n") == 1 and "--inner-steps" in run.stderr, run.stderr
