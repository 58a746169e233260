"""What a validator keeps across restarts: moving scores (rollout and train_shard), the
last weights it set, the head checkpoint of its training-shard rounds, the penalty
windows it opened (by hotkey, ``wmnet.validator.penalties``) and the epoch block its
current tempo began at.

One JSON document, written atomically (temp file in the same folder, fsync, then
``os.replace``), so a crash mid-write leaves the previous state intact, never half a
file. A corrupt or foreign file is refused with a clear error rather than silently
starting from zero.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from wmnet.validator.penalties import PenaltyBook
from wmnet.validator.scoring import MovingScores

STATE_VERSION = 1


@dataclass
class ValidatorState:
    netuid: int
    scores: MovingScores = field(default_factory=MovingScores)
    last_weights: dict[int, float] = field(default_factory=dict)
    last_weights_block: int | None = None
    shard_scores: MovingScores = field(default_factory=MovingScores)
    shard_head: str | None = None  # the latest checkpoint this validator published
    shard_steps: int = 0  # outer steps taken (rounds that aggregated an update)
    penalties: PenaltyBook = field(default_factory=PenaltyBook)
    tempo_step: int | None = None  # the chain's last_step when this tempo's tally began
    audits: dict[str, float | None] = field(default_factory=dict)  # counters, for people

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "netuid": self.netuid,
                "alpha": self.scores.alpha,
                "scores": {str(u): s for u, s in self.scores.scores.items()},
                "hotkeys": {str(u): h for u, h in self.scores.hotkeys.items()},
                "last_weights": {str(u): w for u, w in self.last_weights.items()},
                "last_weights_block": self.last_weights_block,
                "shard_scores": {str(u): s for u, s in self.shard_scores.scores.items()},
                "shard_hotkeys": {str(u): h for u, h in self.shard_scores.hotkeys.items()},
                "shard_head": self.shard_head,
                "shard_steps": self.shard_steps,
                "penalties": self.penalties.to_dict(),
                "tempo_step": self.tempo_step,
                "audits": self.audits,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ValidatorState:
        raw = json.loads(text)
        if raw.get("version") != STATE_VERSION:
            raise ValueError(
                f"validator state version {raw.get('version')!r} is not {STATE_VERSION}"
            )
        scores = MovingScores(
            alpha=float(raw["alpha"]),
            scores={int(u): float(s) for u, s in raw["scores"].items()},
            hotkeys={int(u): str(h) for u, h in raw["hotkeys"].items()},
        )
        # Files written before training shards have no shard_* keys: start those empty.
        shard_scores = MovingScores(
            alpha=scores.alpha,
            scores={int(u): float(s) for u, s in raw.get("shard_scores", {}).items()},
            hotkeys={int(u): str(h) for u, h in raw.get("shard_hotkeys", {}).items()},
        )
        return cls(
            netuid=int(raw["netuid"]),
            scores=scores,
            last_weights={int(u): float(w) for u, w in raw["last_weights"].items()},
            last_weights_block=raw["last_weights_block"],
            shard_scores=shard_scores,
            shard_head=raw.get("shard_head"),
            shard_steps=int(raw.get("shard_steps", 0)),
            # Files written before audits have neither: no penalties, a tempo to start.
            penalties=PenaltyBook.from_dict(raw.get("penalties", {})),
            tempo_step=raw.get("tempo_step"),
            audits=dict(raw.get("audits", {})),
        )


def save_state(state: ValidatorState, path: str | os.PathLike[str]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(state.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: str | os.PathLike[str], netuid: int, alpha: float) -> ValidatorState:
    """The saved state, or a fresh one when there is none yet."""
    target = Path(path)
    if not target.exists():
        return ValidatorState(
            netuid=netuid, scores=MovingScores(alpha=alpha), shard_scores=MovingScores(alpha=alpha)
        )
    try:
        state = ValidatorState.from_json(target.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{target} is not a wmnet validator state file: {exc}") from None
    if state.netuid != netuid:
        raise ValueError(f"{target} holds the state of netuid {state.netuid}, not {netuid}")
    state.scores.alpha = state.shard_scores.alpha = alpha
    return state
