"""Round assignment: which data each miner trains on, derived so no miner chooses it.

A shard is a range of ballworld episodes: ``make_ballworld_episodes(n, length, seed)``
seeds episode ``i`` with ``(seed, i)``, so two shards with different seeds never share
an episode. A miner's seed is

    ``int.from_bytes(sha256(b"wmnet-shard-v1|" + round_id + b"|" + hotkey)[:8], "little")
    & (2**63 - 1)``

with ``round_id`` drawn at random by the validator when it opens the round: a miner
learns its data only with the task, and cannot pick a hotkey for data it prepared
(any validator can recompute every assignment from the round id). The random data a
validator scores against (:func:`unassigned`) comes from its own private generator and
is never sent.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np

from wmnet.protocol.shard import ShardData
from wmnet.worldmodel.data import make_episodes
from wmnet.worldmodel.envs.episodes import Episodes

DOMAIN = b"wmnet-shard-v1"
_SEED_MASK = 2**63 - 1


def new_round_id() -> str:
    """A fresh, unguessable round id (32 hex digits)."""
    return secrets.token_hex(16)


def shard_seed(round_id: str, hotkey: str) -> int:
    digest = hashlib.sha256(DOMAIN + b"|" + round_id.encode() + b"|" + hotkey.encode()).digest()
    return int.from_bytes(digest[:8], "little") & _SEED_MASK


def assign(round_id: str, hotkey: str, n_episodes: int, episode_len: int) -> ShardData:
    """The shard of ``hotkey`` in round ``round_id``."""
    return ShardData(
        seed=shard_seed(round_id, hotkey), n_episodes=n_episodes, episode_len=episode_len
    )


def unassigned(
    rng: np.random.Generator, assigned: list[ShardData], n_episodes: int, episode_len: int
) -> ShardData:
    """Random data no miner was assigned this round (the validator's secret control)."""
    taken = {s.seed for s in assigned}
    while True:
        seed = int(rng.integers(0, _SEED_MASK, dtype=np.int64))
        if seed not in taken:
            return ShardData(seed=seed, n_episodes=n_episodes, episode_len=episode_len)


def load(shard: ShardData, resolution: int) -> Episodes:
    """The shard's episodes at the model's resolution (deterministic numpy)."""
    return make_episodes(shard.env, shard.n_episodes, shard.episode_len, shard.seed, resolution)
