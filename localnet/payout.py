"""An epoch's emission in integer rao per UID, as subtensor's coinbase pays it, losing none.

Source of truth: subtensor `pallets/subtensor/src/coinbase/run_coinbase.rs` (the owner
cut comes off first; the rest goes half to miners by incentive and half to validators,
and when every incentive is zero `pending_validator_alpha` is the whole pending alpha,
so validators get all of it) and `epoch/run_epoch.rs::epoch_mechanism` (validators by
dividends; when incentive + dividends sum to zero, by active stake, or by stake when no
stake is active).

One deliberate difference: nothing is lost. Subtensor truncates every UID's share
(`saturating_to_num::<u64>()`) and pays nobody when no UID can take a part (no stake
anywhere); that rao is never issued. Here each part is split by the largest-remainder
method (every share floored, then one rao each to the largest fractional remainders,
ties to the lower UID), so a part is paid in full whenever anyone can take it, and a
part nobody can take goes to the subnet owner's hotkey with the owner cut. Therefore
owner + miners + validators == the emission accrued, to the rao, in every epoch
(the ledger reconciles against these numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from wmnet.localnet.yuma import EpochOutput
from wmnet.localnet.yuma_math import U16_MAX


@dataclass(frozen=True)
class EpochPayout:
    """One epoch's emission in rao: the owner's hotkey, and per UID (int64 arrays)."""

    owner: int
    server: np.ndarray
    validator: np.ndarray

    @property
    def total(self) -> int:
        return self.owner + int(self.server.sum()) + int(self.validator.sum())


def largest_remainder(amount: int, shares: np.ndarray) -> np.ndarray:
    """Split `amount` rao by non-negative `shares` exactly (int64 per entry).

    Each float share is an exact binary fraction, so scaled by the largest denominator
    the shares become exact integers q_i (Python ints: no rounding, whatever the spread
    of magnitudes); each entry gets floor(amount·q_i/Σq) and the rao left over (fewer
    than the entries with a share) go one each to the largest remainders, ties to the
    lower index. The result sums to `amount` unless every share is zero (then nothing
    is paid) or `amount` <= 0.
    """
    n = shares.shape[0]
    out = np.zeros(n, dtype=np.int64)
    s = np.clip(np.asarray(shares, dtype=np.float64), 0.0, None)
    total = s.sum()
    if amount <= 0 or total <= 0 or not np.isfinite(total):
        return out
    exact = [Fraction(float(v)) for v in s]
    scale = max(f.denominator for f in exact)  # powers of two: the largest divides by all
    q = [f.numerator * (scale // f.denominator) for f in exact]
    q_sum = sum(q)
    if q_sum == 0:
        return out
    remainders: list[tuple[int, int]] = []
    paid = 0
    for i, qi in enumerate(q):
        if qi:
            whole, rem = divmod(amount * qi, q_sum)
            out[i] = whole
            paid += whole
            remainders.append((-rem, i))
    left = amount - paid
    for _, i in sorted(remainders)[:left]:
        out[i] += 1
    return out


def validator_shares(out: EpochOutput, active_stake: np.ndarray | None = None) -> np.ndarray:
    """What the validators' part follows: dividends; with no dividends at all (no
    weights, or only masked ones) active stake; with no active stake, stake
    (epoch_mechanism's fallback when the emission sum is zero)."""
    if np.any(out.dividends > 0):
        return out.dividends
    shares = out.active_stake if active_stake is None else np.asarray(active_stake, float)
    return shares if np.any(shares > 0) else out.stake


def split_emission(
    out: EpochOutput,
    miner_rao: int,
    validator_rao: int,
    active_stake: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-UID (server_emission, validator_emission) in integer rao (int64).

    `miner_rao` goes by incentive, `validator_rao` by `validator_shares`. Each part is
    paid in full (largest remainder) when anyone can take it; with zero incentive the
    miners' part, and with no dividends and no stake the validators' part, is not
    paid at all and is left for the caller (`pay_epoch` gives the whole non-owner
    emission to validators when incentive is zero, and what nobody can take to the
    owner).
    """
    if miner_rao < 0 or validator_rao < 0:
        raise ValueError("emission amounts must be non-negative")
    server = largest_remainder(int(miner_rao), out.incentive)
    validator = largest_remainder(int(validator_rao), validator_shares(out, active_stake))
    return server, validator


def pay_epoch(out: EpochOutput, emission: int, owner_cut_u16: int) -> EpochPayout:
    """run_coinbase's split of one epoch's `emission` rao, conserving every rao.

    Owner cut `emission · owner_cut_u16 // 65535`; of the rest, when some incentive is
    non-zero, miners get `rest // 2` by incentive and validators the remainder by
    dividends; when all incentive is zero, validators get the whole rest. Whatever no
    UID can take (no stake anywhere, or an empty subnet) is added to the owner's part.
    """
    if emission < 0:
        raise ValueError("emission must be non-negative")
    owner_cut = emission * owner_cut_u16 // U16_MAX
    rest = emission - owner_cut
    # run_coinbase: pending_validator_alpha is all of it when incentive_sum is zero.
    miner_rao = rest // 2 if np.any(out.incentive > 0) else 0
    server, validator = split_emission(out, miner_rao, rest - miner_rao)
    unpaid = rest - int(server.sum()) - int(validator.sum())
    return EpochPayout(owner=owner_cut + unpaid, server=server, validator=validator)
