"""The rollout bench in quick mode: every figure present and sane. No timing thresholds:
speed belongs to the bench, not to the tests."""

from __future__ import annotations

import inspect
import json
import math

import pytest
import torch

from wmnet.bench.rollout import BENCH_SEED, QUICK, TUNING_SEED, run_bench
from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET

NAMES = [
    "naive",
    "+kv_cache",
    "+batching",
    "+sparse",
    "+int8",
    "+int8_matmul",
    "+bf16",
    "combined-dense",
    "combined",
]


@pytest.fixture
def one_thread():
    """One torch thread: two spinning OpenMP threads crawl on a shared 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _finite(x) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def test_bench_quick_reports_every_figure(one_thread):
    res = run_bench(device="cpu", quick=True, progress=False)
    json.dumps(res)  # --json prints it as is
    assert res["quick"] and res["trained_model"] and res["model_id"]
    assert res["contexts"] == QUICK["contexts"] and res["horizon"] == QUICK["horizon"]
    rounds = res["rounds"]
    assert rounds == QUICK["rounds"] >= 2

    rows = res["variants"]
    assert [v["name"] for v in rows] == NAMES
    naive, combined = rows[0], rows[-1]
    assert naive["speedup"] == 1.0 and naive["error_increase_pct"] == 0.0
    assert not naive["kv_cache"] and naive["batch"] == 1 and not naive["sparse"]
    assert naive["precision"] == "fp32"
    assert combined["kv_cache"] and combined["sparse"] and combined["batch"] == res["contexts"]
    assert combined["precision"] == res["combined_precision"] == "fp32"  # CPU: none gains
    for v in rows:
        assert v["repeats"] == rounds == len(v["seconds_all"])
        assert 0 < v["seconds_min"] <= v["seconds"] <= max(v["seconds_all"])
        assert v["frames_per_s_best"] >= v["frames_per_s"] > 0
        assert _finite(v["error_mse"]) and v["error_mse"] > 0
        assert v["flops_per_frame"] >= 0
    assert naive["flops_per_frame"] > 0

    # speedup = combined / naive from the medians; paired per-round ratios beside it.
    assert res["speedup"] == combined["speedup"]
    assert res["speedup"] == pytest.approx(combined["frames_per_s"] / naive["frames_per_s"])
    assert len(res["speedup_rounds"]) == rounds and all(r > 0 for r in res["speedup_rounds"])
    assert res["speedup_best"] > 0

    # Error over held-out episodes of the bench's own seed.
    assert res["error_episodes"] == QUICK["error_episodes"]
    assert res["error_seed"] == BENCH_SEED
    for key in ("error_mse_naive", "error_mse_combined", "error_increase_pct"):
        assert _finite(res[key]), key
    assert res["error_mse_naive"] > 0
    assert len(res["error_mse_per_step_naive"]) == res["horizon"]
    assert len(res["error_mse_per_step_combined"]) == res["horizon"]
    expect = 100 * (res["error_mse_combined"] / res["error_mse_naive"] - 1)
    assert res["error_increase_pct"] == pytest.approx(expect)
    # The reference (fp32 dense, run with cache and batch) is naive's own output.
    assert res["reference_max_abs_latent_diff"] < 1e-4

    # Dense vs sparse at a larger resolution, interleaved in the same rounds.
    assert res["sparse_resolution"] == QUICK["sparse_resolution"]
    assert res["sparse_grid"] * res["sparse_grid"] < res["sparse_tokens_per_frame"]
    assert res["sparse_dense_seconds"] > 0 and res["sparse_sparse_seconds"] > 0
    assert res["sparse_speedup"] == pytest.approx(
        res["sparse_dense_seconds"] / res["sparse_sparse_seconds"]
    )
    assert len(res["sparse_speedup_rounds"]) == rounds
    assert "sparse_speedup_128" in res and res["sparse_speedup_128"] is None  # not 128 here

    # Peak RSS at horizon 12 and 96, each in a fresh process.
    assert res["rss_horizons"] == [12, 96]
    assert [r["horizon"] for r in res["rss"]] == [12, 96]
    for r in res["rss"]:
        assert r["peak_mb"] >= r["before_mb"] > 0 and r["frames"] == res["contexts"] * r["horizon"]
    assert res["peak_rss_mb_h12"] > 0 and res["peak_rss_mb_h96"] > 0
    assert res["peak_rss_ratio_96_12"] == pytest.approx(
        res["peak_rss_mb_h96"] / res["peak_rss_mb_h12"]
    )


def test_bench_seed_is_its_own():
    """The error figure's episodes come from no seed that trains, tunes or evaluates."""
    from wmnet.worldmodel.evaluate import evaluate
    from wmnet.worldmodel.train import TrainConfig

    eval_seed = inspect.signature(evaluate).parameters["seed"].default
    others = {eval_seed, HELDOUT_SEED_OFFSET, HELDOUT_SEED_OFFSET + 1, TUNING_SEED}
    assert BENCH_SEED not in others | {TrainConfig().seed}
    assert inspect.signature(run_bench).parameters["seed"].default == BENCH_SEED


def test_bench_cli_json(one_thread):
    from typer.testing import CliRunner

    from wmnet.neurons.cmd_bench import app

    args = [
        "rollout",
        "--json",
        "--quick",
        "--device",
        "cpu",
        "--rounds",
        "1",
        "--error-episodes",
        "2",
        "--sparse-resolution",
        "0",
        "--rss-horizons",
        "",
        "--skip",
        "+batching,+sparse,+int8,+int8_matmul,+bf16,combined-dense",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    res = json.loads(out.stdout)
    assert [v["name"] for v in res["variants"]] == ["naive", "+kv_cache", "combined"]
    assert res["rounds"] == 1 and res["error_episodes"] == 2 and res["speedup"] > 0
    assert res["sparse_speedup"] is None and res["sparse_speedup_128"] is None
    assert res["peak_rss_ratio_96_12"] is None and res["cpu_model"] is not None
