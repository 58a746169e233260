"""`wmnet bench compress` in miniature: replicas on different shards, losses as medians."""

from __future__ import annotations

import statistics

import torch

from wmnet.bench.compress import run_compress_bench
from wmnet.protocol.shard import InnerHyper


def test_compress_bench_reports_a_median_over_independent_replicas():
    torch.set_num_threads(1)
    lines: list[str] = []
    res = run_compress_bench(
        workers=2,
        rounds=1,
        hyper=InnerHyper(inner_steps=2, batch=2, seq_len=4, lr=1e-3),
        n_episodes=2,
        episode_len=8,
        heldout_episodes=2,
        replicas=3,
        progress=lines.append,
    )
    assert len(lines) == 3
    gaps = res["loss_gap_pct_replicas"]
    assert len(gaps) == 3 and len(set(gaps)) == 3, gaps  # different shards, different runs
    assert res["loss_gap_pct"] == statistics.median(gaps)
    assert res["heldout_loss_dense"] == statistics.median(res["heldout_loss_dense_replicas"])
    assert res["compression_ratio_fp32"] > 100
    assert len(res["heldout_curve_wmnet"]) == 1
