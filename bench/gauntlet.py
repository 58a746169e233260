"""Gauntlet benchmark: how often an honest miner's update falls under the scoring floor.

The validator scores a training-shard update by its *advantage*: the relative loss drop
on the miner's assigned shard minus the drop on random data nobody was assigned
(``wmnet.training.scoring``). An honest update scores 0 when that advantage does not
clear ``min_advantage`` (or its assigned gain ``min_gain``): a false negative, paid
for by the honest miner. How often that happens depends on H, the inner steps the
validator asks for (more steps memorise one's own shard more).

Each round draws a fresh round id (deterministic from ``seed``), assigns the shard an
honest miner would get, draws the validator's random control data, and for every H in
``inner_steps`` (interleaved, on the same shard and control data) trains from the
shipped model as a miner does (``wmnet.training.worker.train_shard``: inner AdamW,
error feedback, compression) and measures the update as the validator does. Shard
sizes and the other hyper-parameters are the validator's defaults (``ShardConfig``).
Figures per H: false negatives out of the rounds, the smallest gain on the assigned
shard, the advantage's minimum, 10th percentile and median, and the median time to
train one update.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable

import numpy as np

from wmnet.protocol.shard import InnerHyper
from wmnet.training import shards
from wmnet.training.inner import encode
from wmnet.training.scoring import Evaluator, GauntletConfig
from wmnet.training.worker import new_feedback, train_shard
from wmnet.validator.shards import ShardConfig
from wmnet.worldmodel.checkpoint import load_default

# Any string will do: the shard is assign(round_id, hotkey), and only its hash matters.
BENCH_HOTKEY = "wmnet-bench-gauntlet"


def _round_id(seed: int, index: int) -> str:
    return hashlib.sha256(f"wmnet-bench-gauntlet|{seed}|{index}".encode()).hexdigest()[:32]


def run_gauntlet_bench(
    *,
    rounds: int,
    inner_steps: list[int],
    batch: int | None = None,
    seed: int = 0,
    cfg: GauntletConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """False-negative rate of honest updates under the Gauntlet, per H (see module doc)."""
    if rounds < 1 or not inner_steps or min(inner_steps) < 1:
        raise ValueError("rounds and every H must be at least 1")
    cfg = cfg or GauntletConfig()
    sizes = ShardConfig(store="")
    base = load_default()
    evaluator = Evaluator(base, cfg)
    rng = np.random.default_rng(seed)
    # The validator's default hyper-parameters, with only H (and the batch, if given) set.
    batch = batch or sizes.hyper.batch
    hypers = {
        h: InnerHyper(**{**sizes.hyper.model_dump(), "inner_steps": h, "batch": batch})
        for h in dict.fromkeys(inner_steps)
    }
    advantages: dict[int, list[float]] = {h: [] for h in hypers}
    gains: dict[int, list[float]] = {h: [] for h in hypers}
    train_s: dict[int, list[float]] = {h: [] for h in hypers}
    misses: dict[int, int] = dict.fromkeys(hypers, 0)
    started = time.perf_counter()
    for index in range(rounds):
        shard = shards.assign(
            _round_id(seed, index), BENCH_HOTKEY, sizes.n_episodes, sizes.episode_len
        )
        control = shards.unassigned(rng, [shard], sizes.random_episodes, sizes.episode_len)
        assigned = encode(base, shards.load(shard, base.cfg.resolution))
        random = encode(base, shards.load(control, base.cfg.resolution))
        before_assigned, before_random = evaluator.loss(assigned), evaluator.loss(random)
        for h, hyper in hypers.items():
            t0 = time.perf_counter()
            out = train_shard(base, shard, hyper, new_feedback(base, hyper))
            train_s[h].append(time.perf_counter() - t0)
            measured = evaluator.gauntlet(
                out.update.dense(),
                assigned,
                random,
                before_assigned=before_assigned,
                before_random=before_random,
            )
            advantages[h].append(measured.advantage)
            gains[h].append(measured.gain_assigned)
            misses[h] += measured.raw_score(cfg) <= 0
        if progress is not None and ((index + 1) % 10 == 0 or index + 1 == rounds):
            elapsed = time.perf_counter() - started
            progress(f"round {index + 1}/{rounds} ({elapsed:.0f} s)")
    res: dict = {
        "rounds": rounds,
        "batch": batch,
        "seed": seed,
        "min_advantage": cfg.min_advantage,
        "min_gain": cfg.min_gain,
    }
    for h in hypers:
        adv = np.array(advantages[h])
        res[f"H{h}_false_negatives"] = f"{misses[h]}/{rounds}"
        res[f"H{h}_false_negative_rate"] = round(misses[h] / rounds, 4)
        res[f"H{h}_gain_assigned_min"] = round(min(gains[h]), 5)
        res[f"H{h}_advantage_min"] = round(float(adv.min()), 5)
        res[f"H{h}_advantage_p10"] = round(float(np.percentile(adv, 10)), 5)
        res[f"H{h}_advantage_median"] = round(float(np.median(adv)), 5)
        res[f"H{h}_train_s_median"] = round(statistics.median(train_s[h]), 3)
    return res
