"""Which answers get the full check: a sample drawn after receipt, a floor per miner.

The cheap binding checks run on every answer (``wmnet.validator.verification``); the
teacher-forced check, which on a CPU costs what generating did, runs on a sample. The
design follows what live subnets do (ComputeHorde re-runs 1-2 % of jobs on a trusted
GPU; Templar evaluates a sample of miners per window) and the arithmetic behind it:
auditing a share ``p`` of answers, a miner faking a share ``f`` of its ``N`` answers in
a tempo is caught with probability ``1 - (1 - p)**(f N)``.

1. **Unpredictable.** Whether an answer is audited is decided *after* it arrived, by
   HMAC-SHA256 under a secret this validator never sends (:class:`AuditSampler`) of the
   task id and the answer's own digests: the miner cannot tell which answers will be
   checked, so it cannot be honest only where it is watched, and resending a variant
   of an answer draws again.
2. **Rate from a budget.** ``AuditPolicy.rate`` by default; with ``budget_s``
   (device-seconds of checking per tempo, set by the operator) the rate of a tempo is
   what the budget buys at the last tempo's volume and the measured seconds per
   checked unit, after the floor's share (:meth:`TempoAudits.start_tempo`).
3. **A floor per miner.** Each tempo every miner that answered gets at least
   ``floor`` audits: answers the sample passed over are kept in a reservoir (Vitter's
   algorithm R, uniform over that miner's unaudited answers of the tempo, drawn from
   the same secret), and at the tempo's close the reservoir tops the miner's audits up
   to the floor. The floor alone costs ``floor / N`` of the probe volume, so it is
   sized with the probes per miner per tempo (docs/validator.md, "Audit economics").
4. Unaudited answers are accepted provisionally: they are paid for, and a failed
   audit later takes the miner's weight away for a penalty window
   (``wmnet.validator.penalties``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

# Defaults sized by `wmnet bench audit` (docs/benchmarks.md, "Audit"): at the default
# probe volume of PROBES_PER_TEMPO answers per miner per tempo, rate 0.05 plus a floor
# of 1 costs about 0.08 of the work bought on a CPU (verify/generate about 1), and a
# penalty window of 20 tempos makes a cheater lose more than twice the compute it
# saves at every fraction faked and every audit rate from 0.01.
DEFAULT_RATE = 0.05
DEFAULT_ORGANIC_RATE = 0.2
DEFAULT_FLOOR = 1
DEFAULT_PENALTY_TEMPOS = 20
PROBES_PER_TEMPO = 32


@dataclass(frozen=True)
class AuditPolicy:
    """How much full checking a validator buys, and what a failed check costs."""

    rate: float = DEFAULT_RATE  # share of probe answers audited (no budget set)
    organic_rate: float = DEFAULT_ORGANIC_RATE  # share of customer orders audited
    floor: int = DEFAULT_FLOOR  # audits per miner per tempo, at least (if it answered)
    budget_s: float | None = None  # device-seconds of checking per tempo; sets the rate
    max_rate: float = 1.0
    penalty_tempos: int = DEFAULT_PENALTY_TEMPOS  # first offence; doubles per repeat
    max_penalty_tempos: int = 8 * DEFAULT_PENALTY_TEMPOS

    def __post_init__(self) -> None:
        for name in ("rate", "organic_rate", "max_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"audit {name} must lie in [0, 1], not {value}")
        if self.floor < 0:
            raise ValueError(f"audit floor must be >= 0, not {self.floor}")
        if self.budget_s is not None and not self.budget_s >= 0:
            raise ValueError(f"audit budget must be >= 0 device-seconds, not {self.budget_s}")
        if not 1 <= self.penalty_tempos <= self.max_penalty_tempos:
            raise ValueError("penalty window must be 1..max_penalty_tempos tempos")


def answer_key(task_id: str, digests: Sequence[str]) -> bytes:
    """What an audit draw is keyed on: the task and the answer as received."""
    h = hashlib.sha256(task_id.encode())
    for d in digests:
        h.update(b"\0" + d.encode())
    return h.digest()


class AuditSampler:
    """Uniform draws in [0, 1) from HMAC-SHA256(secret, purpose || key).

    The secret is made here (``secrets``) and never leaves the process; tests and the
    bench pass their own for reproducible runs."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def uniform(self, key: bytes, purpose: bytes = b"audit") -> float:
        mac = hmac.new(self._secret, purpose + b"\0" + key, hashlib.sha256).digest()
        return int.from_bytes(mac[:8], "big") / 2**64

    def chosen(self, key: bytes, rate: float, purpose: bytes = b"audit") -> bool:
        return rate > 0 and self.uniform(key, purpose) < rate


@dataclass
class _MinerTempo(Generic[T]):
    answers: int = 0
    audits: int = 0
    passed_over: int = 0  # unaudited answers seen (the reservoir's count)
    reservoir: list[T] = field(default_factory=list)


@dataclass
class TempoStats:
    answers: int = 0
    units: int = 0
    sampled: int = 0
    floor: int = 0


class TempoAudits(Generic[T]):
    """One tempo's audit draws for one workload's probe answers (see module doc).

    ``observe`` says whether an answer is audited now; ``close`` returns the floor's
    audits and starts the next tempo. Items are whatever the caller audits later (an
    audit job); keys come from :func:`answer_key`."""

    def __init__(self, policy: AuditPolicy, sampler: AuditSampler) -> None:
        self.policy, self.sampler = policy, sampler
        self.rate = min(policy.rate, policy.max_rate)  # until a budget has measurements
        self.miners: dict[str, _MinerTempo[T]] = {}
        self.stats = TempoStats()
        self.verify_s_per_unit: float | None = None  # measured, for the budget

    def observe(self, hotkey: str, key: bytes, item: T, units: int) -> bool:
        """True: audit ``item`` now. False: accepted provisionally (maybe kept for the
        floor)."""
        m = self.miners.setdefault(hotkey, _MinerTempo())
        m.answers += 1
        self.stats.answers += 1
        self.stats.units += units
        if self.sampler.chosen(key, self.rate):
            m.audits += 1
            self.stats.sampled += 1
            return True
        if self.policy.floor > 0:  # algorithm R over the passed-over answers
            m.passed_over += 1
            if len(m.reservoir) < self.policy.floor:
                m.reservoir.append(item)
            else:
                slot = int(self.sampler.uniform(key, b"floor") * m.passed_over)
                if slot < self.policy.floor:
                    m.reservoir[slot] = item
        return False

    def close(self) -> list[tuple[str, T]]:
        """The floor's audits of this tempo; the next tempo starts empty."""
        due: list[tuple[str, T]] = []
        for hotkey, m in self.miners.items():
            short = self.policy.floor - m.audits
            due.extend((hotkey, item) for item in m.reservoir[: max(0, short)])
        self.stats.floor = len(due)
        finished, miners = self.stats, len(self.miners)
        self.miners, self.stats = {}, TempoStats()
        self.start_tempo(finished, miners)
        return due

    def measured(self, seconds: float, units: int) -> None:
        """An audit's checking time, to size the rate a budget buys (moving average)."""
        if units <= 0 or seconds < 0:
            return
        per_unit = seconds / units
        old = self.verify_s_per_unit
        self.verify_s_per_unit = per_unit if old is None else 0.8 * old + 0.2 * per_unit

    def start_tempo(self, last: TempoStats, miners: int) -> None:
        """The rate of the tempo starting now: ``policy.rate``, or what ``budget_s``
        buys at ``last`` tempo's volume once the floor is paid for."""
        p = self.policy
        if p.budget_s is None or self.verify_s_per_unit is None or last.answers == 0:
            return
        per_answer = self.verify_s_per_unit * last.units / last.answers
        left = p.budget_s - p.floor * miners * per_answer
        self.rate = min(p.max_rate, max(0.0, left / (last.answers * per_answer)))
