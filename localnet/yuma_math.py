"""Vector and matrix helpers of the Yuma epoch, one per subtensor `epoch/math.rs` function.

Subtensor computes in I32F32 fixed point; these compute in float64 and keep the
fixed-point *conventions* that change results: zero sums leave a vector unchanged,
conversions to u16 truncate and saturate, top-k drops the lower UID on a tie. Each
function names the math.rs function it mirrors. Only numpy is imported.
"""

from __future__ import annotations

import numpy as np

U16_MAX = 65_535

# I32F32 keeps 32 fractional bits.
_FIXED32_SCALE = 2.0**32


# ----------------------------------------------------------------------------------
# u16 conversions
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


def fixed32(x: np.ndarray) -> np.ndarray:
    """`x` as an I32F32 holds it: floored to a multiple of 2^-32 (x >= 0).

    substrate_fixed truncates every product and quotient to the type's last bit. Where
    a stored u16 is the truncation of a ratio of such values (the pre-Yuma3 bonds,
    max-upscaled per column) the truncated operands decide it: 49151/155610 divided by
    65535/155610 is exactly 49151/65535 in real numbers but 49150.99… in I32F32,
    stored as 49150. Applying this after each such step reproduces those values.
    """
    out = np.multiply(x, _FIXED32_SCALE, dtype=np.float64)
    np.floor(out, out=out)
    out *= 1.0 / _FIXED32_SCALE  # a power of two: exact, same as dividing
    return out


# ----------------------------------------------------------------------------------
# normalisation
# ----------------------------------------------------------------------------------


def normalize(x: np.ndarray) -> np.ndarray:
    """Sum to 1; a zero-sum vector is returned unchanged (math.rs::inplace_normalize)."""
    total = x.sum()
    return x / total if total != 0 else x.copy()


def _divide_unless_zero(m: np.ndarray, by: np.ndarray) -> np.ndarray:
    """m / by, leaving lines whose divisor is zero unchanged, as math.rs's in-place
    normalisations skip them (one pass: dividing those by 1 instead)."""
    return m / np.where(by == 0, 1.0, by)


def row_normalize(m: np.ndarray) -> np.ndarray:
    """Rows sum to 1; zero rows stay zero (math.rs::inplace_row_normalize_sparse)."""
    return _divide_unless_zero(m, m.sum(axis=1, keepdims=True))


def col_normalize(m: np.ndarray) -> np.ndarray:
    """Columns sum to 1; zero columns stay zero (math.rs::inplace_col_normalize_sparse)."""
    return _divide_unless_zero(m, m.sum(axis=0, keepdims=True))


def col_max_upscale(m: np.ndarray) -> np.ndarray:
    """Each column divided by its maximum; zero columns stay zero
    (math.rs::inplace_col_max_upscale_sparse). The pre-Yuma3 bonds are stored so."""
    if m.size == 0:
        return m.copy()
    return _divide_unless_zero(m, m.max(axis=0, keepdims=True))


# ----------------------------------------------------------------------------------
# permits and consensus
# ----------------------------------------------------------------------------------


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
    use_stake = normalize(stake[rows])
    minority = use_stake.sum() - kappa
    sub = scores[rows]
    order = np.argsort(sub, axis=0, kind="stable")
    sorted_scores = np.take_along_axis(sub, order, axis=0)
    cum = np.cumsum(use_stake[order], axis=0)
    above = cum > minority
    first = np.where(above.any(axis=0), above.argmax(axis=0), sub.shape[0] - 1)
    return sorted_scores[first, np.arange(n_cols)]


def interpolate(a: np.ndarray, b: np.ndarray, ratio: float) -> np.ndarray:
    """a + ratio * (b - a), exact at the ends (math.rs::interpolate_sparse)."""
    if ratio == 0:
        return a
    if ratio == 1:
        return b
    return a + ratio * (b - a)
