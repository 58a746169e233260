"""Compression benchmark: bytes per sync and what the compression costs in loss.

Three arms run the same rounds from the shipped model, in the same process:
``workers`` workers per round, each on its own assigned shard
(``wmnet.training.shards.assign``, the same shards and batch seeds in every arm),
``inner_steps`` AdamW steps each, then an outer step over all workers' updates:

* **dense**: uncompressed DiLoCo: fp32 pseudo-gradients averaged as they are, outer
  Nesterov (lr 0.7, momentum 0.9);
* **wmnet**: SparseLoCo as miners and validators run it: error feedback, top-k per
  chunk, 2-bit values, packed indices (``wmnet.training.compress``), decoded and
  averaged, SparseLoCo's outer step (lr 1, no momentum: the validator's default);
* **wmnet_nesterov**: the same compressed updates under DiLoCo's outer Nesterov.

Figures: bytes per sync for dense fp32, dense bf16 and wmnet's format (the mean size
of the updates actually sent); the held-out loss (``wmnet.training.inner.eval_loss``
on held-out episodes) of the shipped model and of both arms after the rounds;
``loss_gap_pct`` = wmnet's loss above dense DiLoCo's, in percent, the median over
``replicas`` independent runs (each replica's gap beside it; and
``loss_gap_pct_nesterov`` for the third arm);
``rounds_loss_drop_pct`` = the held-out loss drop of wmnet's arm from the shipped
model, in percent; and the time to train, encode and decode one update.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from wmnet.protocol.shard import InnerHyper, ShardData
from wmnet.training import params, shards
from wmnet.training.aggregate import SPARSELOCO_OUTER, OuterNesterov
from wmnet.training.compress import Compressed, ErrorFeedback
from wmnet.training.inner import encode, eval_loss, inner_train
from wmnet.worldmodel.checkpoint import load_default
from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET
from wmnet.worldmodel.model import WorldModel


def _replica(
    shipped: WorldModel,
    heldout: torch.Tensor,
    *,
    workers: int,
    rounds: int,
    hyper: InnerHyper,
    wmnet_outer: tuple[float, float],
    prefix: str,
    n_episodes: int,
    episode_len: int,
    timings: dict[str, list],
) -> dict[str, list[float]]:
    """One run of the three arms over ``rounds`` rounds; returns each arm's loss curve."""
    n = params.count(shipped)
    theta0 = params.flatten(shipped)
    arms = {"dense": theta0.copy(), "wmnet": theta0.copy(), "wmnet_nesterov": theta0.copy()}
    outer = {
        "dense": OuterNesterov(),
        "wmnet": OuterNesterov(*wmnet_outer),
        "wmnet_nesterov": OuterNesterov(),
    }
    feedback = {arm: [ErrorFeedback(n, hyper.ef_decay) for _ in range(workers)] for arm in arms}
    curve: dict[str, list[float]] = {arm: [] for arm in arms}
    for r in range(rounds):
        for arm in arms:
            model = params.with_weights(shipped, arms[arm])
            deltas = []
            for w in range(workers):
                shard = shards.assign(f"{prefix}-{r}", f"worker-{w}", n_episodes, episode_len)
                data = encode(model, shards.load(shard, model.cfg.resolution))
                result = inner_train(model, data, hyper, seed=shard.seed)
                timings["train_s"].append(result.seconds)
                if arm == "dense":
                    deltas.append(result.delta)
                    continue
                start = time.perf_counter()
                blob = feedback[arm][w].step(result.delta, hyper.density, hyper.chunk).to_bytes()
                mid = time.perf_counter()
                decoded = Compressed.from_bytes(blob, expect_n=n).dense()
                timings["decode_s"].append(time.perf_counter() - mid)
                timings["encode_s"].append(mid - start)
                timings["sizes"].append(len(blob))
                deltas.append(decoded)
            arms[arm] = outer[arm].step(arms[arm], deltas)
            model = params.with_weights(shipped, arms[arm])
            curve[arm].append(eval_loss(model, heldout, hyper.seq_len))
    return curve


def _gap(curve: dict[str, list[float]], arm: str) -> float:
    return 100 * (curve[arm][-1] - curve["dense"][-1]) / curve["dense"][-1]


def run_compress_bench(
    *,
    workers: int = 4,
    rounds: int = 8,
    hyper: InnerHyper | None = None,
    n_episodes: int = 4,
    episode_len: int = 16,
    heldout_episodes: int = 32,
    wmnet_outer: tuple[float, float] = SPARSELOCO_OUTER,
    replicas: int = 3,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Run the three arms ``replicas`` times on independent shards (same held-out set).

    One run's final loss moves by a few percent with the shards drawn (dense DiLoCo's
    own curve wobbles by about 1.5 % from round to round), so the loss figures are
    medians over replicas, each replica's value reported beside them. Replica 0 uses
    the shard names earlier versions of this bench used (``bench-round-<r>``).
    """
    hyper = hyper or InnerHyper(inner_steps=10, batch=4, seq_len=6, lr=1e-3)
    if replicas < 1:
        raise ValueError("replicas must be >= 1")
    shipped = load_default()
    n = params.count(shipped)
    heldout = encode(
        shipped,
        shards.load(ShardData(seed=HELDOUT_SEED_OFFSET, n_episodes=heldout_episodes,
                              episode_len=episode_len), shipped.cfg.resolution),
    )  # fmt: skip
    timings: dict[str, list] = {"train_s": [], "encode_s": [], "decode_s": [], "sizes": []}
    curves = []
    for rep in range(replicas):
        if progress is not None:
            progress(f"replica {rep + 1}/{replicas}: {rounds} rounds x 3 arms x {workers} workers")
        prefix = "bench-round" if rep == 0 else f"bench-replica-{rep}-round"
        curves.append(
            _replica(
                shipped, heldout, workers=workers, rounds=rounds, hyper=hyper,
                wmnet_outer=wmnet_outer, prefix=prefix, n_episodes=n_episodes,
                episode_len=episode_len, timings=timings,
            )
        )  # fmt: skip
    base_loss = eval_loss(shipped, heldout, hyper.seq_len)
    final = {arm: [c[arm][-1] for c in curves] for arm in curves[0]}
    gaps = [_gap(c, "wmnet") for c in curves]
    gaps_nesterov = [_gap(c, "wmnet_nesterov") for c in curves]
    dense_loss = statistics.median(final["dense"])
    wmnet_loss = statistics.median(final["wmnet"])
    nesterov_loss = statistics.median(final["wmnet_nesterov"])
    wmnet_bytes = statistics.mean(timings["sizes"])
    return {
        "params": n,
        "workers": workers,
        "rounds": rounds,
        "replicas": replicas,
        "inner_steps": hyper.inner_steps,
        "batch": hyper.batch,
        "seq_len": hyper.seq_len,
        "density": hyper.density,
        "chunk": hyper.chunk,
        "ef_decay": hyper.ef_decay,
        "wmnet_outer_lr": wmnet_outer[0],
        "wmnet_outer_momentum": wmnet_outer[1],
        "bytes_dense_fp32": 4 * n,
        "bytes_dense_bf16": 2 * n,
        "bytes_wmnet": wmnet_bytes,
        "compression_ratio_fp32": 4 * n / wmnet_bytes,
        "compression_ratio_bf16": 2 * n / wmnet_bytes,
        "heldout_loss_shipped": base_loss,
        "heldout_loss_dense": dense_loss,
        "heldout_loss_wmnet": wmnet_loss,
        "heldout_loss_wmnet_nesterov": nesterov_loss,
        "heldout_loss_dense_replicas": final["dense"],
        "heldout_loss_wmnet_replicas": final["wmnet"],
        "heldout_curve_dense": curves[0]["dense"],
        "heldout_curve_wmnet": curves[0]["wmnet"],
        "heldout_curve_wmnet_nesterov": curves[0]["wmnet_nesterov"],
        "loss_gap_pct": statistics.median(gaps),
        "loss_gap_pct_replicas": gaps,
        "loss_gap_pct_nesterov": statistics.median(gaps_nesterov),
        "loss_gap_pct_nesterov_replicas": gaps_nesterov,
        "rounds_loss_drop_pct": 100 * (base_loss - wmnet_loss) / base_loss,
        "dense_loss_drop_pct": 100 * (base_loss - dense_loss) / base_loss,
        "train_s_per_update": statistics.median(timings["train_s"]),
        "encode_ms_per_update": 1000 * statistics.median(timings["encode_s"]),
        "decode_ms_per_update": 1000 * statistics.median(timings["decode_s"]),
        "threads": torch.get_num_threads(),
    }
