"""Scores: delivered, checked work per tempo, and a moving average per miner.

Per tempo and workload, each miner's tally is the units it delivered that passed the
binding checks (probes and customer orders alike), each answer's units weighted by
:func:`latency_penalty` (1 up to half the deadline, falling linearly to 0.5 at it). An
answer that was not delivered, was late or malformed adds nothing (fail closed). The
tempo's score is the tally over the best tally of the tempo, in [0, 1]; a miner whose
audits failed is not scored but forfeits (``wmnet.validator.penalties``). Serving
customers earns: their orders add to the tally like probes.

The moving average is keyed by UID *and hotkey*: when a UID changes hands its history is
dropped, so a new owner neither inherits nor pays for the old one's.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def latency_penalty(latency_s: float, deadline_s: float) -> float:
    """1.0 up to half the deadline, then linearly down to 0.5 at the deadline."""
    if deadline_s <= 0:
        return 0.0
    frac = latency_s / deadline_s
    if frac <= 0.5:
        return 1.0
    return max(0.5, 1.0 - (frac - 0.5))


@dataclass
class TempoWork:
    """One workload's tally of the tempo so far: UID -> latency-weighted units."""

    tally: dict[int, float] = field(default_factory=dict)
    hotkeys: dict[int, str] = field(default_factory=dict)

    def add(
        self,
        uid: int,
        hotkey: str,
        units: int,
        latency_s: float,
        deadline_s: float,
        accepted: bool,
    ) -> None:
        """Count one answer (an unaccepted one only marks the miner as asked)."""
        if self.hotkeys.get(uid) != hotkey or uid not in self.tally:
            self.tally[uid] = 0.0
            self.hotkeys[uid] = hotkey
        if accepted and units > 0 and latency_s <= deadline_s:
            self.tally[uid] += units * latency_penalty(latency_s, deadline_s)

    def forfeit(self, uid: int) -> None:
        """A failed audit: the miner's work of this tempo counts for nothing."""
        self.tally.pop(uid, None)
        self.hotkeys.pop(uid, None)

    def scores(self) -> dict[int, float]:
        """Each asked UID's tally over the best one, in [0, 1] (all 0 when none
        delivered)."""
        best = max(self.tally.values(), default=0.0)
        return {uid: (t / best if best > 0 else 0.0) for uid, t in self.tally.items()}


@dataclass
class MovingScores:
    """Exponential moving average of round scores per UID, reset on a new hotkey."""

    alpha: float = 0.2
    scores: dict[int, float] = field(default_factory=dict)
    hotkeys: dict[int, str] = field(default_factory=dict)

    def sync(self, hotkeys: dict[int, str]) -> list[int]:
        """Drop UIDs that left or changed hands; returns the UIDs reset."""
        reset = [uid for uid, hk in self.hotkeys.items() if hotkeys.get(uid) != hk]
        for uid in reset:
            self.scores.pop(uid, None)
            self.hotkeys.pop(uid, None)
        return reset

    def update(self, uid: int, hotkey: str, score: float) -> float:
        if self.hotkeys.get(uid) != hotkey:
            self.scores.pop(uid, None)
            self.hotkeys[uid] = hotkey
        old = self.scores.get(uid)
        new = score if old is None else self.alpha * score + (1 - self.alpha) * old
        self.scores[uid] = new
        return new

    def forfeit(self, uid: int, hotkey: str) -> None:
        """Drop the UID's history and score it 0: for fraud (a copied update), not
        for a slow or failed answer, so a copier's earlier credit does not linger in
        the average (and in its weight) for many rounds."""
        self.hotkeys[uid] = hotkey
        self.scores[uid] = 0.0

    def weights(self) -> dict[int, float]:
        """Scores normalised to sum 1 (empty when no miner has a positive score)."""
        total = sum(s for s in self.scores.values() if s > 0)
        if total <= 0:
            return {}
        return {uid: s / total for uid, s in self.scores.items() if s > 0}
