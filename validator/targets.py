"""Which miners a validator (or its gateway) can ask: neurons serving an endpoint."""

from __future__ import annotations

from dataclasses import dataclass

import bittensor as bt


@dataclass(frozen=True)
class MinerTarget:
    uid: int
    hotkey: str
    axon: str  # "ip:port"


def miner_targets(graph: bt.Metagraph, self_hotkey: str) -> list[MinerTarget]:
    """Neurons serving an endpoint, other than this validator."""
    return [
        MinerTarget(n.uid, n.hotkey, n.axon)
        for n in graph.neurons
        if n.axon and n.hotkey != self_hotkey
    ]


def ranked(targets: list[MinerTarget], scores: dict[int, float]) -> list[MinerTarget]:
    """Best moving score first; miners never scored (or at 0) are left out."""
    scored = [t for t in targets if scores.get(t.uid, 0.0) > 0]
    return sorted(scored, key=lambda t: (-scores[t.uid], t.uid))
