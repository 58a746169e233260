"""A validator's tempo: the work tallied since the chain's last epoch, the penalty
windows in force, and what both make of the moving scores and the weights.

The loop (``wmnet.validator.loop``) and the gateway add work as it is delivered
(:meth:`Tempo.add`); a failed audit forfeits a miner's score and its work of the tempo
(:meth:`Tempo.forfeit`); when the chain's ``last_step`` moves on the loop closes the
tempo (:meth:`Tempo.fold`), and the weights read :meth:`Tempo.averages`, without the
miners inside a penalty window.
"""

from __future__ import annotations

import bittensor as bt

from wmnet.validator.rollouts import Delivery
from wmnet.validator.scoring import MovingScores, TempoWork
from wmnet.validator.state import ValidatorState
from wmnet.validator.targets import MinerTarget, miner_targets, ranked


class Tempo:
    def __init__(self, state: ValidatorState) -> None:
        self.state = state
        self.work = TempoWork()  # this tempo's rollout work

    def penalized(self, graph: bt.Metagraph) -> set[int]:
        """UIDs inside a penalty window at the graph's block (kept by hotkey)."""
        return self.state.penalties.penalized({n.uid: n.hotkey for n in graph.neurons}, graph.block)

    def add(self, delivery: Delivery) -> None:
        """Count a delivery's work (probe or customer order)."""
        o = delivery.outcome
        self.work.add(o.target.uid, o.target.hotkey, o.units, o.latency_s, o.deadline_s,
                      o.accepted)  # fmt: skip

    def forfeit(self, uid: int, hotkey: str) -> None:
        """A failed audit: the rollout score and this tempo's work are gone."""
        self.state.scores.forfeit(uid, hotkey)
        self.work.forfeit(uid)

    def fold(self, graph: bt.Metagraph) -> None:
        """Close the tempo: each miner's tempo score into its moving average (penalized
        miners forfeit theirs); the next tempo starts empty."""
        penalized = self.penalized(graph)
        for uid, score in self.work.scores().items():
            hotkey = self.work.hotkeys[uid]
            if uid in penalized:
                self.state.scores.forfeit(uid, hotkey)
            else:
                self.state.scores.update(uid, hotkey, score)
        self.work = TempoWork()
        self.state.tempo_step = graph.last_step

    def averages(self, graph: bt.Metagraph) -> dict[str, MovingScores]:
        """Each workload's moving scores without the miners inside a penalty window."""
        penalized = self.penalized(graph)
        out = {}
        workloads = {"rollout": self.state.scores, "train_shard": self.state.shard_scores}
        for workload, ms in workloads.items():
            kept = {u: s for u, s in ms.scores.items() if u not in penalized}
            out[workload] = MovingScores(ms.alpha, kept, dict(ms.hotkeys))
        return out

    def candidates(self, graph: bt.Metagraph, self_hotkey: str) -> list[MinerTarget]:
        """Miners with a positive moving score (or, before their first tempo closed,
        delivered work this tempo), best first, none inside a penalty window."""
        penalized = self.penalized(graph)
        fresh = {u: 1e-9 * t for u, t in self.work.tally.items() if t > 0}
        scores = {**fresh, **{u: s for u, s in self.state.scores.scores.items() if s > 0}}
        targets = [t for t in miner_targets(graph, self_hotkey) if t.uid not in penalized]
        return ranked(targets, scores)
