"""A fixed metagraph for driving a validator's rounds without a chain (benches, tests).

``ValidatorLoop.run_round`` and ``run_shard_round`` read a metagraph's ``neurons``
(uid, hotkey, axon), ``block`` and, for penalties, ``tempo``; this is that much of
``bt.Metagraph``, set by hand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FixedNeuron:
    uid: int
    hotkey: str
    axon: str  # "host:port"


@dataclass
class FixedGraph:
    neurons: list[FixedNeuron]
    block: int
    tempo: int = 360  # subtensor's default tempo
