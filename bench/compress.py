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
``loss_gap_pct`` = wmnet's loss above dense DiLoCo's, in percent (and
``loss_gap_pct_nesterov`` for the third arm);
``rounds_loss_drop_pct`` = the held-out loss drop of wmnet's arm from the shipped
model, in percent; and the time to train, encode and decode one update.
"""

from __future__ import annotations

import copy
import statistics
import time

import numpy as np
import torch

from wmnet.protocol.shard import InnerHyper, ShardData
from wmnet.training import params, shards
from wmnet.training.aggregate import SPARSELOCO_OUTER, OuterNesterov
from wmnet.training.compress import Compressed, ErrorFeedback
from wmnet.training.inner import encode, eval_loss, inner_train
from wmnet.worldmodel.checkpoint import load_default
from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET
from wmnet.worldmodel.model import WorldModel


def _with(base: WorldModel, theta: np.ndarray) -> WorldModel:
    model = copy.deepcopy(base)
    params.assign(model, theta)
    return model.eval()


def run_compress_bench(
    *,
    workers: int = 4,
    rounds: int = 8,
    hyper: InnerHyper | None = None,
    n_episodes: int = 4,
    episode_len: int = 16,
    heldout_episodes: int = 32,
    wmnet_outer: tuple[float, float] = SPARSELOCO_OUTER,
) -> dict:
    hyper = hyper or InnerHyper(inner_steps=10, batch=4, seq_len=6, lr=1e-3)
    shipped = load_default()
    n = params.count(shipped)
    heldout = encode(
        shipped,
        shards.load(ShardData(seed=HELDOUT_SEED_OFFSET, n_episodes=heldout_episodes,
                              episode_len=episode_len), shipped.cfg.resolution),
    )  # fmt: skip
    theta0 = params.flatten(shipped)
    arms = {"dense": theta0.copy(), "wmnet": theta0.copy(), "wmnet_nesterov": theta0.copy()}
    outer = {
        "dense": OuterNesterov(),
        "wmnet": OuterNesterov(*wmnet_outer),
        "wmnet_nesterov": OuterNesterov(),
    }
    feedback = {arm: [ErrorFeedback(n, hyper.ef_decay) for _ in range(workers)] for arm in arms}
    sizes: list[int] = []
    train_s: list[float] = []
    encode_s: list[float] = []
    decode_s: list[float] = []
    curve: dict[str, list[float]] = {arm: [] for arm in arms}
    for r in range(rounds):
        for arm in arms:
            model = _with(shipped, arms[arm])
            deltas = []
            for w in range(workers):
                shard = shards.assign(f"bench-round-{r}", f"worker-{w}", n_episodes, episode_len)
                data = encode(model, shards.load(shard, model.cfg.resolution))
                result = inner_train(model, data, hyper, seed=shard.seed)
                train_s.append(result.seconds)
                if arm == "dense":
                    deltas.append(result.delta)
                    continue
                start = time.perf_counter()
                blob = feedback[arm][w].step(result.delta, hyper.density, hyper.chunk).to_bytes()
                mid = time.perf_counter()
                decoded = Compressed.from_bytes(blob, expect_n=n).dense()
                decode_s.append(time.perf_counter() - mid)
                encode_s.append(mid - start)
                sizes.append(len(blob))
                deltas.append(decoded)
            arms[arm] = outer[arm].step(arms[arm], deltas)
            curve[arm].append(eval_loss(_with(shipped, arms[arm]), heldout, hyper.seq_len))
    base_loss = eval_loss(shipped, heldout, hyper.seq_len)
    dense_loss, wmnet_loss = curve["dense"][-1], curve["wmnet"][-1]
    nesterov_loss = curve["wmnet_nesterov"][-1]
    wmnet_bytes = statistics.mean(sizes)
    return {
        "params": n,
        "workers": workers,
        "rounds": rounds,
        "inner_steps": hyper.inner_steps,
        "batch": hyper.batch,
        "seq_len": hyper.seq_len,
        "density": hyper.density,
        "chunk": hyper.chunk,
        "bytes_dense_fp32": 4 * n,
        "bytes_dense_bf16": 2 * n,
        "bytes_wmnet": wmnet_bytes,
        "compression_ratio_fp32": 4 * n / wmnet_bytes,
        "compression_ratio_bf16": 2 * n / wmnet_bytes,
        "heldout_loss_shipped": base_loss,
        "heldout_loss_dense": dense_loss,
        "heldout_loss_wmnet": wmnet_loss,
        "heldout_loss_wmnet_nesterov": nesterov_loss,
        "heldout_curve_dense": curve["dense"],
        "heldout_curve_wmnet": curve["wmnet"],
        "heldout_curve_wmnet_nesterov": curve["wmnet_nesterov"],
        "loss_gap_pct": 100 * (wmnet_loss - dense_loss) / dense_loss,
        "loss_gap_pct_nesterov": 100 * (nesterov_loss - dense_loss) / dense_loss,
        "rounds_loss_drop_pct": 100 * (base_loss - wmnet_loss) / base_loss,
        "dense_loss_drop_pct": 100 * (base_loss - dense_loss) / base_loss,
        "train_s_per_update": statistics.median(train_s),
        "encode_ms_per_update": 1000 * statistics.median(encode_s),
        "decode_ms_per_update": 1000 * statistics.median(decode_s),
        "threads": torch.get_num_threads(),
    }
