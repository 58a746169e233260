"""Yuma3 consensus epoch, as subtensor runs it once per tempo, in vectorised float64.

The chain state machine calls `run_epoch` with the subnet's stored state and gets back
everything subtensor writes after an epoch (ranks, consensus, incentive, dividends,
new permits, new bonds rounded to u16). `split_emission` then turns the epoch into
integer rao per UID.

Source of truth: subtensor `pallets/subtensor/src/epoch/run_epoch.rs::epoch_mechanism`
(sparse, the one the runtime runs) and `epoch/math.rs`. Each step below names the
function it mirrors; docs/yuma.md lists every choice and where it comes from. Subtensor
computes in I32F32 fixed point; this module computes in float64 and applies the same
u16 truncations where subtensor stores values, which agrees with the chain to ~1e-4.

Only numpy and the standard library are imported: the module has no chain state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

U16_MAX = 65_535

# substrate_fixed's exp() errors once the result no longer fits I32F32 (max ~2^31);
# subtensor's safe_exp maps that error to 0 (math.rs::safe_exp), so the liquid-alpha
# sigmoid becomes 1 there instead of 0. Only reachable with |steepness| far above the
# default; mirrored so extreme settings behave like the chain.
_I32F32_EXP_OVERFLOW = math.log(2.0**31)


@dataclass(frozen=True)
class YumaParams:
    """Subnet hyperparameters the epoch reads, already converted to floats.

    kappa: Kappa u16 / 65535 (default 32767 -> 0.49999).
    activity_cutoff: blocks after last_update before a UID counts as inactive.
    max_allowed_validators: k of the top-k permit selection.
    bonds_moving_average: BondsMovingAverage; EMA alpha = 1 - bma / 1e6.
    bonds_penalty: BondsPenalty u16 / 65535 (subtensor default u16::MAX -> 1.0).
    liquid_alpha_enabled, alpha_low, alpha_high: LiquidAlphaOn and AlphaValues
        (45875, 58982) / 65535 -> (0.7, 0.9).
    alpha_sigmoid_steepness: AlphaSigmoidSteepness (i16, default 1000); the sigmoid
        uses steepness / 100.
    stake_threshold: StakeThreshold, in the same units as `EpochInput.stake`.
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
        straight back in.
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
        are cleared).
    ema_bonds: float (n, n), the unrounded EMA bonds dividends were computed from.
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


# ----------------------------------------------------------------------------------
# u16 conversions (math.rs)
# ----------------------------------------------------------------------------------


def to_u16(x: np.ndarray) -> np.ndarray:
    """Proportion -> u16 like math.rs::fixed_proportion_to_u16: x * 65535, truncated.

    Fixed-point to integer conversion discards the fraction (floor for x >= 0) and
    saturates, so values are clipped to [0, 65535].
    """
    scaled = np.floor(np.asarray(x, dtype=np.float64) * U16_MAX)
    return np.clip(scaled, 0, U16_MAX).astype(np.uint16)


def max_upscale_u16(x: np.ndarray) -> np.ndarray:
    """math.rs::vec_max_upscale_to_u16: scale so the max is 65535, rounded half-up.

    An all-zero vector stays zero. Used for PruningScores.
    """
    v = np.asarray(x, dtype=np.float64)
    if v.size == 0:
        return np.zeros(0, dtype=np.uint16)
    top = float(v.max())
    if top <= 0.0:
        return to_u16(v)
    return np.clip(np.floor(v * U16_MAX / top + 0.5), 0, U16_MAX).astype(np.uint16)


# ----------------------------------------------------------------------------------
# vector / matrix helpers (math.rs equivalents)
# ----------------------------------------------------------------------------------


def _normalize(x: np.ndarray) -> np.ndarray:
    """Sum to 1; a zero-sum vector is returned unchanged (math.rs::inplace_normalize)."""
    total = x.sum()
    return x / total if total != 0 else x.copy()


def _row_normalize(m: np.ndarray) -> np.ndarray:
    """Rows sum to 1; zero rows stay zero (math.rs::inplace_row_normalize_sparse)."""
    sums = m.sum(axis=1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)


def _col_normalize(m: np.ndarray) -> np.ndarray:
    """Columns sum to 1; zero columns stay zero (math.rs::inplace_col_normalize_sparse)."""
    sums = m.sum(axis=0, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums != 0)


def topk_nonzero(values: np.ndarray, k: int) -> np.ndarray:
    """math.rs::is_topk_nonzero: the k largest non-zero entries.

    Subtensor sorts ascending with a stable sort and drops the first n - k, so on a
    tie at the boundary the lower UID loses its permit and the higher UID keeps it.
    """
    n = values.shape[0]
    keep = values != 0
    if n > k:
        order = np.argsort(values, kind="stable")
        keep[order[: n - k]] = False
    return keep


def weighted_quantile_cols(stake: np.ndarray, scores: np.ndarray, kappa: float) -> np.ndarray:
    """Per column, the stake-weighted kappa-quantile over rows with positive stake.

    math.rs::weighted_median_col_sparse: rows with stake <= 0 are dropped, the rest
    renormalised; minority = sum(stake) - kappa; c_j is the smallest score with
    stake(score < c_j) <= minority < stake(score <= c_j). Rows that gave a column no
    weight take part with score 0. If no score satisfies it (kappa <= 0) subtensor's
    partition search ends at the largest score, which is returned here too.
    """
    rows = stake > 0
    n_cols = scores.shape[1]
    if not rows.any():
        return np.zeros(n_cols)
    use_stake = _normalize(stake[rows])
    minority = use_stake.sum() - kappa
    sub = scores[rows]
    order = np.argsort(sub, axis=0, kind="stable")
    sorted_scores = np.take_along_axis(sub, order, axis=0)
    cum = np.cumsum(use_stake[order], axis=0)
    above = cum > minority
    first = np.where(above.any(axis=0), above.argmax(axis=0), sub.shape[0] - 1)
    return sorted_scores[first, np.arange(n_cols)]


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
# the epoch
# ----------------------------------------------------------------------------------


def _interpolate(a: np.ndarray, b: np.ndarray, ratio: float) -> np.ndarray:
    """a + ratio * (b - a), exact at the ends (math.rs::interpolate_sparse)."""
    if ratio == 0:
        return a
    if ratio == 1:
        return b
    return a + ratio * (b - a)


def _filtered_stake(inp: EpochInput, params: YumaParams) -> np.ndarray:
    """Step 2: stake below StakeThreshold zeroed, owner exempt, then normalised.

    Subtensor compares the integer part of the stake weight with the threshold.
    """
    stake = np.asarray(inp.stake, dtype=np.float64).copy()
    below = np.floor(stake) < params.stake_threshold
    if inp.owner_uid is not None and 0 <= inp.owner_uid < stake.shape[0]:
        below[inp.owner_uid] = False
    stake[below] = 0.0
    return _normalize(stake)


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
    return _row_normalize(w)


def _ema_bonds(
    inp: EpochInput, params: YumaParams, weights_for_bonds: np.ndarray, consensus: np.ndarray
) -> np.ndarray:
    """Step 7: Yuma3 bonds EMA on fixed proportions (run_epoch.rs::compute_bonds)."""
    bonds = np.asarray(inp.bonds, dtype=np.float64) / U16_MAX
    # Bonds towards UIDs registered since the last epoch belong to the UID's previous
    # holder: reset (scalar_vec_mask_sparse_matrix with last_tempo <= registered).
    reg = np.asarray(inp.block_at_registration, dtype=np.int64)
    bonds = np.where((reg > inp.last_epoch_block)[None, :], 0.0, bonds)
    if params.liquid_alpha_enabled and consensus.size and np.any(consensus != 0):
        alpha = liquid_alpha(weights_for_bonds, bonds, consensus, params)
        # math.rs::mat_ema_alpha: (1 - a) * b + max(a * w, 0), capped at 1.
        ema = (1.0 - alpha) * bonds + np.maximum(alpha * weights_for_bonds, 0.0)
        return np.minimum(ema, 1.0)
    a = params.ema_alpha
    return a * weights_for_bonds + (1.0 - a) * bonds


def run_epoch(inp: EpochInput, params: YumaParams) -> EpochOutput:
    """One Yuma3 epoch (run_epoch.rs::epoch_mechanism with Yuma3On), vectorised."""
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
    active_stake = _normalize(np.where(active & old_permit, stake, 0.0))

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
    incentive = _normalize(ranks)

    # 7. Bonds and dividends.
    weights_for_bonds = _interpolate(weights, clipped, params.bonds_penalty)
    ema = _ema_bonds(inp, params, weights_for_bonds, consensus)
    bonds_per_validator = _col_normalize(ema) @ incentive
    dividends = _normalize(bonds_per_validator * active_stake)

    # Pruning scores: normalised combined emission, stake when nothing was earned.
    combined = incentive + dividends
    if combined.sum() == 0:
        pruning = active_stake.copy() if active_stake.sum() != 0 else stake.copy()
    else:
        pruning = _normalize(combined)

    # Stored bonds: u16-truncated EMA rows of UIDs holding a new permit; every other
    # row is cleared (epoch_mechanism writes an empty bond row for them).
    stored = to_u16(ema)
    stored[~new_permit, :] = 0

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


# ----------------------------------------------------------------------------------
# emission
# ----------------------------------------------------------------------------------


def _proportional_rao(amount: int, shares: np.ndarray) -> np.ndarray:
    """Split `amount` rao by non-negative `shares`, each part floored, in exact integers.

    Shares are quantised to 53-bit integers so the split is done with Python ints:
    floor(amount * q_i / sum(q)) never adds up to more than `amount`. The dust left
    (< number of UIDs) is not assigned; subtensor also truncates each UID's emission
    (saturating_to_num::<u64>) and drops the fractions.
    """
    n = shares.shape[0]
    out = np.zeros(n, dtype=np.int64)
    s = np.clip(np.asarray(shares, dtype=np.float64), 0.0, None)
    total = s.sum()
    if amount <= 0 or total <= 0 or not np.isfinite(total):
        return out
    q = [int(v) for v in np.floor(s / total * float(2**53))]
    q_sum = sum(q)
    if q_sum == 0:
        return out
    for i, qi in enumerate(q):
        if qi:
            out[i] = amount * qi // q_sum
    return out


def split_emission(
    out: EpochOutput,
    miner_rao: int,
    validator_rao: int,
    active_stake: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-UID (server_emission, validator_emission) in integer rao (int64).

    The miners' part (`miner_rao`) goes by incentive, the validators' part
    (`validator_rao`) by dividends. With no dividends at all (no weights, or only
    masked ones) the validators' part follows `active_stake` (default
    `out.active_stake`), or `out.stake` when no stake is active, as subtensor does
    when the epoch's emission sum is zero. With zero incentive nothing goes to miners.

    Rounding: each UID's share is floored, so sum(server) <= miner_rao and
    sum(validator) <= validator_rao; what is left (the undistributed rao, at most one
    per UID, or a whole part with no one to pay) is for the caller to recycle.
    """
    if miner_rao < 0 or validator_rao < 0:
        raise ValueError("emission amounts must be non-negative")
    server = _proportional_rao(int(miner_rao), out.incentive)
    shares = out.dividends
    if not np.any(shares > 0):
        shares = out.active_stake if active_stake is None else np.asarray(active_stake, float)
        if not np.any(shares > 0):
            shares = out.stake
    validator = _proportional_rao(int(validator_rao), shares)
    return server, validator
