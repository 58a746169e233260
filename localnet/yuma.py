"""Yuma consensus epoch, as subtensor runs it once per tempo, in vectorised float64.

The chain state machine calls `run_epoch` with the subnet's stored state and gets back
everything subtensor writes after an epoch (ranks, consensus, incentive, dividends,
new permits, new bonds as stored u16). `localnet.payout` then turns the epoch
into integer rao per UID, in subtensor's fixed point.

Source of truth: subtensor `pallets/subtensor/src/epoch/run_epoch.rs::epoch_mechanism`
(sparse, the one the runtime runs) and `epoch/math.rs`. Both of its bonds branches are
here, chosen by the subnet's `Yuma3On` (`YumaParams.yuma3`): Yuma3 (bonds as fixed
u16 proportions, dividends weighted by active stake) and the pre-Yuma3 "original
Yuma" (column-normalised bonds, stored max-upscaled). Each step below names the
function it mirrors; docs/yuma.md lists every choice and where it comes from.
Subtensor computes in I32F32 fixed point; this module computes in float64 and applies
the same u16 truncations where subtensor stores values, which agrees with the chain
to ~1e-4.

Only numpy and the standard library are imported: the module has no chain state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from wmnet.localnet.yuma_math import (
    U16_MAX,
    col_max_upscale,
    col_normalize,
    fixed32,
    interpolate,
    max_upscale_u16,
    normalize,
    row_normalize,
    to_u16,
    topk_nonzero,
    weighted_quantile_cols,
)

__all__ = [
    "U16_MAX",
    "EpochInput",
    "EpochOutput",
    "YumaParams",
    "liquid_alpha",
    "max_upscale_u16",
    "run_epoch",
    "to_u16",
    "topk_nonzero",
    "weighted_quantile_cols",
]

# substrate_fixed's exp() errors once the result no longer fits I32F32 (max ~2^31);
# subtensor's safe_exp maps that error to 0 (math.rs::safe_exp), so the liquid-alpha
# sigmoid becomes 1 there instead of 0. Only reachable with |steepness| far above the
# default; mirrored so extreme settings behave like the chain.
_I32F32_EXP_OVERFLOW = math.log(2.0**31)


@dataclass(frozen=True)
class YumaParams:
    """Subnet hyperparameters the epoch reads, already converted to floats.

    kappa: Kappa u16 / 65535 (default 32767 -> 0.49999).
    activity_cutoff: blocks after last_update before a UID counts as inactive (the
        chain derives it from ActivityCutoffFactorMilli and the tempo).
    max_allowed_validators: k of the top-k permit selection.
    bonds_moving_average: BondsMovingAverage; EMA alpha = 1 - bma / 1e6.
    bonds_penalty: BondsPenalty u16 / 65535 (subtensor default u16::MAX -> 1.0).
    liquid_alpha_enabled, alpha_low, alpha_high: LiquidAlphaOn and AlphaValues
        (45875, 58982) / 65535 -> (0.7, 0.9). Read by the Yuma3 branch only: the
        pre-Yuma3 branch of epoch_mechanism always uses the plain EMA alpha.
    alpha_sigmoid_steepness: AlphaSigmoidSteepness (i16, default 1000); the sigmoid
        uses steepness / 100.
    stake_threshold: StakeThreshold, in the same units as `EpochInput.stake`.
    yuma3: Yuma3On. True runs the Yuma3 bonds branch, False the pre-Yuma3 one.
    """

    kappa: float = 32_767 / U16_MAX
    activity_cutoff: int = 5_000
    max_allowed_validators: int = 64
    bonds_moving_average: int = 900_000
    bonds_penalty: float = 1.0
    liquid_alpha_enabled: bool = False
    alpha_low: float = 45_875 / U16_MAX
    alpha_high: float = 58_982 / U16_MAX
    alpha_sigmoid_steepness: float = 1_000.0
    stake_threshold: float = 0.0
    yuma3: bool = True

    @property
    def ema_alpha(self) -> float:
        """EMA alpha with liquid alpha off (run_epoch.rs::compute_disabled_liquid_alpha)."""
        return 1.0 - self.bonds_moving_average / 1_000_000


@dataclass(frozen=True)
class EpochInput:
    """The subnet state an epoch reads, one entry per UID (0..n-1).

    block: current block number.
    stake: per-UID stake weight (rao, or any unit shared with stake_threshold).
    last_update: block each UID last set weights (0 if never).
    block_at_registration: block each UID was (last) registered at.
    validator_permit: permits as stored by the previous epoch (these mask weights).
    weights: raw row weights as stored (u16 values fine; rows are normalised here).
    bonds: previous bonds as stored, u16 scale (0..65535); `EpochOutput.bonds` feeds
        straight back in. Yuma3 reads them as proportions of 65535, the pre-Yuma3
        branch column-normalises them (they were stored max-upscaled per column).
    owner_uid: UID of the subnet owner's hotkey, if registered.
    last_epoch_block: block of the previous epoch. Bonds to UIDs registered after it
        are reset (subtensor: `LastMechansimStepBlock + 1 <= registered`). Before the
        first epoch subtensor uses `block - tempo <= registered`; pass
        `block - tempo - 1` to get that.
    """

    block: int
    stake: np.ndarray
    last_update: np.ndarray
    block_at_registration: np.ndarray
    validator_permit: np.ndarray
    weights: np.ndarray
    bonds: np.ndarray
    owner_uid: int | None
    last_epoch_block: int


@dataclass(frozen=True)
class EpochOutput:
    """What an epoch produces. Vectors are floats in [0, 1] unless noted.

    active: bool, UID set weights within activity_cutoff.
    validator_permit: bool, new permits to store (read by the next epoch).
    stake: filtered, normalised stake (subtensor's StakeWeight before u16).
    active_stake: stake masked to active, previously permitted UIDs, normalised.
    rank: normalised clipped rank (equals incentive, as in subtensor).
    trust: rank after clipping / rank before clipping (0 where prerank is 0).
    consensus: stake-weighted kappa-quantile of each column.
    incentive: miners' share. dividends: validators' share.
    validator_trust: row sums of clipped weights.
    pruning_score: normalised incentive + dividends (active_stake, else stake, when
        that sum is zero); stored max-upscaled, see `max_upscale_u16`.
    bonds: uint16 (n, n), new bonds exactly as stored (rows without a new permit
        are cleared): Yuma3 truncated proportions, pre-Yuma3 column max-upscaled.
    ema_bonds: float (n, n), the unrounded EMA bonds dividends were computed from
        (pre-Yuma3: column-normalised).
    """

    active: np.ndarray
    validator_permit: np.ndarray
    stake: np.ndarray
    active_stake: np.ndarray
    rank: np.ndarray
    trust: np.ndarray
    consensus: np.ndarray
    incentive: np.ndarray
    dividends: np.ndarray
    validator_trust: np.ndarray
    pruning_score: np.ndarray
    bonds: np.ndarray
    ema_bonds: np.ndarray = field(repr=False)

    def as_u16(self) -> dict[str, np.ndarray]:
        """The per-UID vectors as subtensor stores them (u16), keyed by storage name."""
        return {
            "StakeWeight": to_u16(self.stake),
            "Rank": to_u16(self.rank),
            "Trust": to_u16(self.trust),
            "Consensus": to_u16(self.consensus),
            "Incentive": to_u16(self.incentive),
            "Dividends": to_u16(self.dividends),
            "ValidatorTrust": to_u16(self.validator_trust),
            "PruningScores": max_upscale_u16(self.pruning_score),
        }


def liquid_alpha(
    weights: np.ndarray, bonds: np.ndarray, consensus: np.ndarray, params: YumaParams
) -> np.ndarray:
    """Per-(i, j) EMA alpha, run_epoch.rs::alpha_sigmoid.

    diff = clamp(w - c_j, 0, 1) where w >= b (buying), else clamp(b - w, 0, 1);
    sigma = 1 / (1 + exp(-(steepness / 100) * (diff - 0.5)));
    alpha = clamp(low + sigma * (high - low), low, high).
    """
    diff_buy = np.clip(weights - consensus[None, :], 0.0, 1.0)
    diff_sell = np.clip(bonds - weights, 0.0, 1.0)
    diff = np.where(weights >= bonds, diff_buy, diff_sell)
    exponent = (params.alpha_sigmoid_steepness / -100.0) * (diff - 0.5)
    with np.errstate(over="ignore"):
        e = np.where(exponent > _I32F32_EXP_OVERFLOW, 0.0, np.exp(exponent))
    sigma = 1.0 / (1.0 + e)
    alpha = params.alpha_low + sigma * (params.alpha_high - params.alpha_low)
    return np.clip(alpha, params.alpha_low, params.alpha_high)


# ----------------------------------------------------------------------------------
# the steps
# ----------------------------------------------------------------------------------


def _filtered_stake(inp: EpochInput, params: YumaParams) -> np.ndarray:
    """Step 2: stake below StakeThreshold zeroed, owner exempt, then normalised.

    Subtensor compares the integer part of the stake weight with the threshold.
    """
    stake = np.asarray(inp.stake, dtype=np.float64).copy()
    below = np.floor(stake) < params.stake_threshold
    if inp.owner_uid is not None and 0 <= inp.owner_uid < stake.shape[0]:
        below[inp.owner_uid] = False
    stake[below] = 0.0
    return normalize(stake)


def _masked_weights(inp: EpochInput, old_permit: np.ndarray) -> np.ndarray:
    """Step 4: permit rows, self-weights, outdated weights masked; rows normalised."""
    n = old_permit.shape[0]
    w = np.asarray(inp.weights, dtype=np.float64).copy()
    # Rows of UIDs without a (previously stored) permit carry no vote.
    w[~old_permit, :] = 0.0
    # Self-weights dropped, except the owner's (mask_diag_sparse_except_index).
    diag = np.ones(n, dtype=bool)
    if inp.owner_uid is not None and 0 <= inp.owner_uid < n:
        diag[inp.owner_uid] = False
    idx = np.flatnonzero(diag)
    w[idx, idx] = 0.0
    # Weights set at or before the target's registration point at a previous owner
    # of that UID: masked where last_update_i <= block_at_registration_j.
    lu = np.asarray(inp.last_update, dtype=np.int64)
    reg = np.asarray(inp.block_at_registration, dtype=np.int64)
    w[lu[:, None] <= reg[None, :]] = 0.0
    return row_normalize(w)


def _recently_registered(inp: EpochInput) -> np.ndarray:
    """Columns whose bonds belong to the UID's previous holder: registered since the
    last epoch (scalar_vec_mask_sparse_matrix with last_tempo <= registered)."""
    reg = np.asarray(inp.block_at_registration, dtype=np.int64)
    return reg > inp.last_epoch_block


def _yuma3_bonds(
    inp: EpochInput,
    params: YumaParams,
    weights_for_bonds: np.ndarray,
    consensus: np.ndarray,
    incentive: np.ndarray,
    active_stake: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 7, Yuma3On branch: (ema bonds, dividends, bonds to store before permits)."""
    # get_bonds_sparse_fixed_proportion: u16 / 65535, never column-normalised.
    bonds = np.asarray(inp.bonds, dtype=np.float64) / U16_MAX
    bonds = np.where(_recently_registered(inp)[None, :], 0.0, bonds)
    # compute_bonds_sparse: liquid alpha when on and some consensus is non-zero.
    if params.liquid_alpha_enabled and consensus.size and np.any(consensus != 0):
        alpha = liquid_alpha(weights_for_bonds, bonds, consensus, params)
        # math.rs::mat_ema_alpha: (1 - a) * b + max(a * w, 0), capped at 1.
        ema = np.minimum((1.0 - alpha) * bonds + np.maximum(alpha * weights_for_bonds, 0.0), 1.0)
    else:
        a = params.ema_alpha
        ema = a * weights_for_bonds + (1.0 - a) * bonds
    # total_bonds_per_validator = colnorm(emaB) · I; dividends weighted by active stake.
    bonds_per_validator = col_normalize(ema) @ incentive
    dividends = normalize(bonds_per_validator * active_stake)
    # fixed_proportion_to_u16 of the EMA itself.
    return ema, dividends, to_u16(ema)


def _yuma2_bonds(
    inp: EpochInput,
    params: YumaParams,
    weights_for_bonds: np.ndarray,
    incentive: np.ndarray,
    active_stake: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 7, pre-Yuma3 branch ("original Yuma - liquid alpha disabled"): (ema bonds,
    dividends, bonds to store before permits). LiquidAlphaOn is not read here.

    Each intermediate is held as I32F32 holds it (`fixed32`): the stored bonds are
    truncations of ratios of these values, and subtensor's own tests pin them to the
    unit (a column's second-largest bond drifts down by one every few epochs).
    """
    # get_bonds_sparse: stored u16 as numbers; mask recent registrations; colnorm.
    bonds = np.asarray(inp.bonds, dtype=np.float64)
    bonds = np.where(_recently_registered(inp)[None, :], 0.0, bonds)
    bonds = fixed32(col_normalize(bonds))
    # row_hadamard_sparse: ΔB = W_b ∘ S (row i scaled by active stake), colnorm.
    delta = fixed32(col_normalize(fixed32(weights_for_bonds * active_stake[:, None])))
    # compute_ema_bonds_normal_sparse (mat_ema_sparse), then colnorm again.
    a = params.ema_alpha
    ema = fixed32(col_normalize(fixed32(a * delta) + fixed32((1.0 - a) * bonds)))
    # matmul_transpose_sparse: d_i = Σ_j B_ij I_j, normalised (stake is in ΔB already).
    dividends = normalize(ema @ incentive)
    # inplace_col_max_upscale_sparse, then fixed_proportion_to_u16 (truncation).
    return ema, dividends, to_u16(fixed32(col_max_upscale(ema)))


def run_epoch(inp: EpochInput, params: YumaParams) -> EpochOutput:
    """One epoch (run_epoch.rs::epoch_mechanism), Yuma3 or pre-Yuma3 by `params.yuma3`."""
    n = int(np.asarray(inp.stake).shape[0])
    owner = inp.owner_uid if inp.owner_uid is not None and 0 <= inp.owner_uid < n else None

    # 1. Activity.
    last_update = np.asarray(inp.last_update, dtype=np.int64)
    active = ~(last_update + params.activity_cutoff < inp.block)

    # 2. Stake threshold (owner exempt), normalised.
    stake = _filtered_stake(inp, params)

    # 3. Permits. The weights and active stake of this epoch use the permits stored by
    # the previous epoch; the new top-k permits are only stored for the next one. The
    # owner is forced to hold both (epoch_mechanism sets owner_permit = true twice).
    old_permit = np.asarray(inp.validator_permit, dtype=bool).copy()
    new_permit = topk_nonzero(stake, params.max_allowed_validators)
    if owner is not None:
        old_permit[owner] = True
        new_permit[owner] = True
    # Inactive or unpermitted validators lose their stake for this epoch only.
    active_stake = normalize(np.where(active & old_permit, stake, 0.0))

    # 4. Weights.
    weights = _masked_weights(inp, old_permit)

    # 5. Consensus, clipping, validator trust.
    preranks = active_stake @ weights
    consensus = weighted_quantile_cols(active_stake, weights, params.kappa)
    clipped = np.minimum(weights, consensus[None, :])
    validator_trust = clipped.sum(axis=1)

    # 6. Ranks, trust, incentive.
    ranks = active_stake @ clipped
    trust = np.divide(ranks, preranks, out=np.zeros(n), where=preranks != 0)
    incentive = normalize(ranks)

    # 7. Bonds and dividends: W_b = interpolate(W, W̄, bonds_penalty), then the branch
    # Yuma3On selects.
    weights_for_bonds = interpolate(weights, clipped, params.bonds_penalty)
    if params.yuma3:
        ema, dividends, stored = _yuma3_bonds(
            inp, params, weights_for_bonds, consensus, incentive, active_stake
        )
    else:
        ema, dividends, stored = _yuma2_bonds(
            inp, params, weights_for_bonds, incentive, active_stake
        )
    # Rows of UIDs without a new permit are cleared (epoch_mechanism writes an empty
    # bond row for them).
    stored[~new_permit, :] = 0

    # 8. Pruning scores: normalised combined emission, stake when nothing was earned.
    combined = incentive + dividends
    if combined.sum() == 0:
        pruning = active_stake.copy() if active_stake.sum() != 0 else stake.copy()
    else:
        pruning = normalize(combined)

    return EpochOutput(
        active=active,
        validator_permit=new_permit,
        stake=stake,
        active_stake=active_stake,
        rank=incentive.copy(),
        trust=trust,
        consensus=consensus,
        incentive=incentive,
        dividends=dividends,
        validator_trust=validator_trust,
        pruning_score=pruning,
        bonds=stored,
        ema_bonds=ema,
    )
