"""`wmnet bench validator` in miniature, as a user runs it: one JSON object with both
variants' figures from the same run, a hostile round held to the deadline and not
past it, every answer checked (the bench fails otherwise)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_the_bench_reports_both_variants_side_by_side() -> None:
    argv = [sys.executable, "-m", "wmnet.neurons.cli", "bench", "validator", "--json",
            "--miners", "4", "--repeats", "1", "--horizon", "4", "--deadline", "0.5"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (res["miners"], res["hostile"], res["hostile_modes"]) == (4, 1, ["drip"])
    for name in ("none", "hostile"):
        assert 0 < res[f"{name}_round_s_min"] <= res[f"{name}_round_s_median"]
        assert res[f"{name}_miners_per_tempo"] > 0
    # The drip holds its round to the deadline, and not much past it.
    assert 0.5 <= res["hostile_round_s_min"] < 0.5 + 5.0
    assert res["none_round_s_median"] < res["hostile_round_s_median"]
    assert res["cpu"] is not None and res["cores"] >= 1
