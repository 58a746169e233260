"""Penalty windows: a miner caught cheating earns nothing for a number of tempos.

A failed audit (an answer outside tolerance) or a copied training update opens a
window: the miner's moving score for that workload is forfeited and its weight is 0
until the window ends, whatever it delivers meanwhile. Never for a timeout, a slow or
a malformed answer: those are unpaid, not fraud.

Sized so that cheating loses (docs/validator.md, "Audit economics"): the window is
``penalty_tempos`` tempos for a first offence and doubles with each repeat by the same
hotkey, up to ``max_penalty_tempos`` (Templar times a caught miner out for 20 windows;
ComputeHorde blacklists one for hours). Penalties are kept by **hotkey**, in the
validator's state file: a restart, or deregistering and registering the same hotkey
again (under a new UID), does not clear them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Penalty:
    workload: str
    reason: str  # a wmnet.validator.outcomes.Reason value
    since_block: int
    until_block: int
    strikes: int  # offences by this hotkey in this workload so far


@dataclass
class PenaltyBook:
    """Penalties by hotkey and workload (JSON-serialisable with ``to_dict``)."""

    entries: dict[str, dict[str, Penalty]] = field(default_factory=dict)

    def penalize(
        self,
        hotkey: str,
        workload: str,
        reason: str,
        block: int,
        tempo_blocks: int,
        tempos: int,
        max_tempos: int,
    ) -> Penalty:
        """Open (or extend) a window from ``block``; a repeat doubles its length."""
        old = self.entries.get(hotkey, {}).get(workload)
        if old is not None and block < old.until_block:
            return old  # caught again inside its window (an older answer): one offence
        strikes = 1 if old is None else old.strikes + 1
        length = min(max_tempos, tempos * 2 ** (strikes - 1))
        until = max(block + length * max(1, tempo_blocks), old.until_block if old else 0)
        penalty = Penalty(workload, reason, block, until, strikes)
        self.entries.setdefault(hotkey, {})[workload] = penalty
        return penalty

    def active(self, hotkey: str, block: int) -> Penalty | None:
        """The penalty in force for ``hotkey`` at ``block`` (any workload), or None."""
        live = [p for p in self.entries.get(hotkey, {}).values() if block < p.until_block]
        return max(live, key=lambda p: p.until_block) if live else None

    def penalized(self, hotkeys: dict[int, str], block: int) -> set[int]:
        """UIDs (of ``{uid: hotkey}``) whose weight must be 0 at ``block``."""
        return {uid for uid, hk in hotkeys.items() if self.active(hk, block) is not None}

    def to_dict(self) -> dict[str, dict[str, dict]]:
        return {hk: {w: asdict(p) for w, p in by.items()} for hk, by in self.entries.items()}

    @classmethod
    def from_dict(cls, raw: dict) -> PenaltyBook:
        return cls(
            {
                str(hk): {str(w): Penalty(**p) for w, p in by.items()}
                for hk, by in (raw or {}).items()
            }
        )
