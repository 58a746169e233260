"""Gauntlet-style scoring of training-shard updates.

Follows Templar's validator ("Gauntlet", subnet 3): apply a miner's decoded update to
the round's base and measure the loss on the data that miner was assigned, before and
after, next to the same measurement on random data nobody was assigned. Training on
one's own shard helps one's own shard *more* than unseen data; an update trained on
other data (a copy) or on nothing (zero, random) does not. Plus Templar's copy check:
top-k index overlap between the updates of one round.

Per round:

1. ``loss_before`` on each miner's assigned data and on the validator's random data
   (the base model; :func:`wmnet.training.inner.eval_loss`);
2. per update ``u``: ``theta' = theta_base - u``; ``loss_after`` on both;
   ``gain = (before - after) / before`` on each (relative, so shards of different
   difficulty compare); ``advantage = gain_assigned - gain_random``;
3. copy check (:func:`find_copies`, Templar's rule): updates whose kept positions
   overlap by at least ``copy_overlap`` (0.4, as Templar) form a group; the author is
   the member whose object was *stored* first (the store's own time: a copy can only
   be stored once the original exists, and each update is signed by its miner, so a
   copier must store an object of its own; whose answer reaches the validator first
   does not matter), and among objects stored at the same time the member whose *own*
   assigned data the update helps most (a copy was trained on someone else's shard;
   measured, that fit alone is about as noisy as the honest signal at this shard
   size); the rest are flagged and score 0;
4. raw score: ``advantage`` when ``gain_assigned > min_gain`` and ``advantage >
   min_advantage``, else 0 (a zero or tiny update stays under the floor; a harmful
   one is negative); late, missing or malformed updates never get here and score 0;
5. round score: raw / best raw of the round, in [0, 1], as rollouts are scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmnet.training import params
from wmnet.training.compress import Compressed
from wmnet.training.inner import Latents, eval_loss
from wmnet.worldmodel.model import WorldModel


@dataclass(frozen=True)
class GauntletConfig:
    seq_len: int = 6  # eval window length (frames)
    max_windows: int = 0  # 0: every non-overlapping window of the data
    min_gain: float = 1e-4  # relative loss drop on the assigned data to count at all
    min_advantage: float = 5e-4  # assigned gain must beat the random gain by this much
    copy_overlap: float = 0.4  # share of kept positions that makes two updates copies


@dataclass(frozen=True)
class Gauntlet:
    """One update's measurements (losses are the shard loss, relative gains)."""

    before_assigned: float
    after_assigned: float
    before_random: float
    after_random: float

    @property
    def gain_assigned(self) -> float:
        return _gain(self.before_assigned, self.after_assigned)

    @property
    def gain_random(self) -> float:
        return _gain(self.before_random, self.after_random)

    @property
    def advantage(self) -> float:
        return self.gain_assigned - self.gain_random

    def raw_score(self, cfg: GauntletConfig) -> float:
        if not (self.gain_assigned > cfg.min_gain and self.advantage > cfg.min_advantage):
            return 0.0
        return self.advantage


def _gain(before: float, after: float) -> float:
    if not (np.isfinite(before) and np.isfinite(after)) or before <= 0:
        return float("-inf")
    return (before - after) / before


class Evaluator:
    """Losses of the base and of base-minus-update, on a copy of the base model."""

    def __init__(self, base: WorldModel, cfg: GauntletConfig) -> None:
        self.model = base
        self.cfg = cfg
        self.theta = params.flatten(base)

    def loss(self, data: Latents, update: np.ndarray | None = None) -> float:
        if update is None:
            return eval_loss(self.model, data, self.cfg.seq_len, max_windows=self.cfg.max_windows)
        params.assign(self.model, self.theta - update)
        try:
            return eval_loss(self.model, data, self.cfg.seq_len, max_windows=self.cfg.max_windows)
        finally:
            params.assign(self.model, self.theta)

    def gauntlet(
        self,
        update: np.ndarray,
        assigned: Latents,
        random: Latents,
        before_assigned: float | None = None,
        before_random: float | None = None,
    ) -> Gauntlet:
        """Measure one update (``before_*`` may be passed in when already known)."""
        if not np.isfinite(update).all():
            nan = float("nan")
            return Gauntlet(nan, nan, nan, nan)
        return Gauntlet(
            before_assigned if before_assigned is not None else self.loss(assigned),
            self.loss(assigned, update),
            before_random if before_random is not None else self.loss(random),
            self.loss(random, update),
        )


def overlap(a: Compressed, b: Compressed) -> float:
    """Share of kept positions two updates have in common (of the smaller set)."""
    ia, ib = a.global_indices(), b.global_indices()
    if a.layout.n != b.layout.n or not len(ia) or not len(ib):
        return 0.0
    shared = np.intersect1d(ia, ib, assume_unique=True).size
    return shared / min(len(ia), len(ib))


def find_copies(
    updates: dict[int, Compressed],
    gain_assigned: dict[int, float],
    stored_at: dict[int, float],
    threshold: float,
) -> dict[int, int]:
    """``{copier uid: author uid}`` among updates overlapping by ``threshold`` or more.

    Groups are connected components of the overlap graph; each group's author is the
    member whose object was stored first (ties: whose own assigned data the update
    helps most).
    """
    uids = sorted(updates)
    parent = {u: u for u in uids}

    def root(u: int) -> int:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    for i, a in enumerate(uids):
        for b in uids[i + 1 :]:
            if overlap(updates[a], updates[b]) >= threshold:
                parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for u in uids:
        groups.setdefault(root(u), []).append(u)
    copies: dict[int, int] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        author = min(
            members,
            key=lambda u: (stored_at.get(u, np.inf), -_finite(gain_assigned.get(u)), u),
        )
        copies.update({u: author for u in members if u != author})
    return copies


def _finite(x: float | None) -> float:
    return x if x is not None and np.isfinite(x) else float("-inf")


def round_scores(raw: dict[int, float]) -> dict[int, float]:
    """Raw scores -> [0, 1] relative to the round's best (all 0 when none is positive)."""
    best = max(raw.values(), default=0.0)
    if best <= 0:
        return {u: 0.0 for u in raw}
    return {u: max(0.0, s) / best for u, s in raw.items()}
