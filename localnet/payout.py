"""Emission in rao, as subtensor accrues it per block and pays it at a subnet's epoch.

Sources (subtensor's pallet, the runtime SDK v11 was generated from):

1. Per block, `coinbase/run_coinbase/emission_injection.rs::emit_to_subnets`: of the
   subnet's alpha out, the owner cut (`alpha_out · SubnetOwnerCut / u16::MAX`), then half
   of the rest to `PendingServerEmission` and the other half, less root's share, to
   `PendingValidatorEmission`. Each part is truncated to whole rao as it is added, so up
   to a rao per part per block is never minted. This chain has no root stake, so root's
   share (`root_proportion · alpha_out / 2`) is 0.
2. At the epoch, `epoch/run_epoch/epoch_mechanism.rs` ("Emission and Pruning scores"):
   incentive and dividends, normalised by their joint sum in I32F32, each times the
   epoch's emission (server + validator pending) in I96F32, truncated per UID. The
   combined figure is what subtensor stores as `Emission` (the metagraph's column and
   what its epoch tests pin, e.g. 99,999,999 rao of 1e9 for each of ten UIDs); with no
   incentive and no dividends at all, validators' part follows active stake (or stake).
3. `run_coinbase/dividend_distribution.rs::distribute_emission`: miners are paid their
   server emission as computed, except hotkeys of the subnet owner's coldkey, whose
   incentive is burned; validators' pending alpha (all of the pending alpha when every
   incentive is zero) is shared by each UID's validator emission over their sum
   (U96F32, truncated), each share split into the hotkey's take and the rest, each
   truncated; the owner cut is paid to the owner's hotkey.

What truncation leaves (and a part nobody can take: no dividends anywhere) is never
minted, as on subtensor: `EpochPayout.total` is what the epoch pays, at most the
emission accrued.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmnet.localnet import fixed
from wmnet.localnet.yuma import EpochOutput
from wmnet.localnet.yuma_math import U16_MAX


@dataclass(frozen=True)
class PendingEmission:
    """Alpha rao waiting for a subnet's epoch (subtensor's three pending maps)."""

    server: int = 0
    validator: int = 0
    owner_cut: int = 0

    @property
    def total(self) -> int:
        return self.server + self.validator + self.owner_cut

    def times(self, blocks: int) -> PendingEmission:
        return PendingEmission(
            self.server * blocks, self.validator * blocks, self.owner_cut * blocks
        )

    def __add__(self, other: PendingEmission) -> PendingEmission:
        return PendingEmission(
            self.server + other.server,
            self.validator + other.validator,
            self.owner_cut + other.owner_cut,
        )


def block_split(alpha_out: int, owner_cut_u16: int) -> PendingEmission:
    """One block's alpha out, split as `emit_to_subnets` accumulates it (step 1)."""
    if alpha_out < 0:
        raise ValueError("alpha out must be non-negative")
    cut_percent = fixed.div(fixed.from_int(owner_cut_u16), fixed.from_int(U16_MAX))
    alpha = fixed.from_int(alpha_out)
    owner_cut = fixed.mul(alpha, cut_percent)
    alpha -= owner_cut
    server = fixed.mul(alpha, fixed.HALF)
    validator = alpha - server  # less root's share, 0 without root stake
    return PendingEmission(
        server=fixed.to_u64(server),
        validator=fixed.to_u64(validator),
        owner_cut=fixed.to_u64(owner_cut),
    )


@dataclass(frozen=True)
class EpochEmission:
    """Per-UID rao out of `epoch_mechanism` (step 2), int64 arrays."""

    server: np.ndarray  # miners' part: incentive
    validator: np.ndarray  # validators' part: dividends (or the stake fallback)
    combined: np.ndarray  # the `Emission` storage value


def epoch_emission(out: EpochOutput, rao_emission: int) -> EpochEmission:
    """`epoch_mechanism`'s per-UID emission for an epoch paying `rao_emission` (step 2)."""
    incentive = [fixed.from_proportion(x) for x in out.incentive]
    dividends = [fixed.from_proportion(x) for x in out.dividends]
    combined = [i + d for i, d in zip(incentive, dividends, strict=True)]
    emission_sum = sum(combined)
    server = fixed.normalize_with_sum(incentive, emission_sum)
    validator = fixed.normalize_with_sum(dividends, emission_sum)
    combined = fixed.normalize_with_sum(combined, emission_sum)  # inplace_normalize
    if emission_sum == 0:
        # No weights, outdated weights or only self-weights: validators by active stake,
        # or by stake when no stake is active.
        active = [fixed.from_proportion(x) for x in out.active_stake]
        fallback = active if sum(active) else [fixed.from_proportion(x) for x in out.stake]
        validator, combined = fallback, list(fallback)
    rao = fixed.from_int(rao_emission)

    def rao_of(shares: list[int]) -> np.ndarray:
        return np.array([fixed.to_u64(fixed.mul(s, rao)) for s in shares], dtype=np.int64)

    return EpochEmission(
        server=rao_of(server), validator=rao_of(validator), combined=rao_of(combined)
    )


@dataclass(frozen=True)
class EpochPayout:
    """What one epoch pays, in rao: the owner's hotkey, and per UID (int64 arrays)."""

    owner: int  # the owner cut, to the subnet owner's hotkey
    server: np.ndarray  # incentive paid (0 for the owner's burned hotkeys)
    validator: np.ndarray  # dividends paid
    burned: int  # incentive of the owner's hotkeys, burned (RecycleOrBurn's default)

    @property
    def total(self) -> int:
        """Rao minted to accounts by this epoch."""
        return self.owner + int(self.server.sum()) + int(self.validator.sum())


def distribute(
    emission: EpochEmission,
    pending: PendingEmission,
    owner_hotkeys: np.ndarray,
    take_u16: int,
) -> EpochPayout:
    """`distribute_emission` (step 3) for one epoch.

    `owner_hotkeys` marks the UIDs whose hotkey belongs to the subnet owner's coldkey
    (their incentive is burned); `take_u16` is each validator hotkey's take
    (subtensor's default delegate take unless set), which only decides how the
    dividend is rounded here: take and the nominators' rest both land on the hotkey.
    """
    immune = np.asarray(owner_hotkeys, dtype=bool)
    incentive_sum = int(emission.server.sum())
    validator_alpha = pending.validator if incentive_sum else pending.validator + pending.server
    server = np.where(immune, 0, emission.server).astype(np.int64)
    burned = int(emission.server[immune].sum())

    dividends = [fixed.from_int(int(v)) for v in emission.validator]
    total_dividends = sum(dividends)
    pool = fixed.from_int(validator_alpha)
    take = fixed.div(fixed.from_int(take_u16), fixed.from_int(U16_MAX))
    validator = np.zeros(len(dividends), dtype=np.int64)
    for uid, dividend in enumerate(dividends):
        share = fixed.mul(pool, fixed.div(dividend, total_dividends))
        hotkey_take = fixed.mul(take, share)
        validator[uid] = fixed.to_u64(hotkey_take) + fixed.to_u64(share - hotkey_take)
    return EpochPayout(owner=pending.owner_cut, server=server, validator=validator, burned=burned)
