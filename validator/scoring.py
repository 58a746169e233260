"""Scores: one number per answer, and a moving average per miner.

Rule (fail closed): an answer that was not verified scores 0 (no answer, late,
malformed, non-finite, wrong shape, failed check). A verified answer scores
``throughput / best peer throughput`` (steps per second of wall latency, capped at 1),
times a latency penalty that falls linearly from 1 at half the deadline to 0.5 at the
deadline. The moving average is keyed by UID *and hotkey*: when a UID changes hands
its history is dropped, so a new owner neither inherits nor pays for the old one's.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    """One miner's answer to one task, as the validator judged it."""

    uid: int
    hotkey: str
    verified: bool
    steps: int
    latency_s: float
    deadline_s: float


def latency_penalty(latency_s: float, deadline_s: float) -> float:
    """1.0 up to half the deadline, then linearly down to 0.5 at the deadline."""
    if deadline_s <= 0:
        return 0.0
    frac = latency_s / deadline_s
    if frac <= 0.5:
        return 1.0
    return max(0.5, 1.0 - (frac - 0.5))


def score_round(answers: list[Answer]) -> dict[int, float]:
    """Scores in [0, 1] per UID for one round of answers (one answer per UID)."""
    throughput = {
        a.uid: a.steps / max(a.latency_s, 1e-6) for a in answers if a.verified and a.steps > 0
    }
    best = max(throughput.values(), default=0.0)
    scores: dict[int, float] = {}
    for a in answers:
        if a.uid not in throughput or best <= 0:
            scores[a.uid] = 0.0
            continue
        relative = min(1.0, throughput[a.uid] / best)
        scores[a.uid] = relative * latency_penalty(a.latency_s, a.deadline_s)
    return scores


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
