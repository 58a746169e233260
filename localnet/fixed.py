"""substrate_fixed's 32-fraction-bit types (I32F32, I96F32, U96F32) on exact integers.

Subtensor computes rao in fixed point and truncates: a product or quotient keeps 32
fraction bits (the rest is dropped), and `saturating_to_num::<u64>()` drops the fraction.
Held here as the raw integer (value · 2^32) in Python ints, so nothing overflows and
every step rounds exactly where subtensor's does. All values this chain feeds in are
non-negative, where the crate's truncation and flooring agree.

`from_proportion` is the one inexact step: the epoch's incentive, dividends and stake
come from the float64 Yuma (`localnet.yuma`), and an I32F32 holds them floored to a
multiple of 2^-32, as subtensor's own truncating arithmetic leaves them.
"""

from __future__ import annotations

from fractions import Fraction

FRAC_BITS = 32
ONE = 1 << FRAC_BITS
HALF = ONE >> 1  # U96F32::from_num(0.5), exact
U64_MAX = (1 << 64) - 1

# A float proportion that lands within this many raw units below a multiple of 2^-32 is
# taken as that multiple: float64 rounding can leave an exact 0.25 at 0.2499999999999999.
_SNAP = Fraction(1, 10_000)


def from_int(n: int) -> int:
    """``saturating_from_num(n)`` of an integer (exact)."""
    return int(n) << FRAC_BITS


def from_proportion(x: float) -> int:
    """A float in [0, 1] (or any x >= 0) as I32F32 raw bits, floored (see module doc)."""
    if not x > 0:  # also NaN
        return 0
    return int(Fraction(x) * ONE + _SNAP)  # int() floors a positive Fraction


def div(a: int, b: int) -> int:
    """``a.safe_div(b)``: the quotient truncated to 32 fraction bits; 0 when b is 0."""
    return (a << FRAC_BITS) // b if b else 0


def mul(a: int, b: int) -> int:
    """``a.saturating_mul(b)``: the product truncated to 32 fraction bits."""
    return (a * b) >> FRAC_BITS


def to_u64(a: int) -> int:
    """``saturating_to_num::<u64>()``: the fraction dropped, saturated to [0, u64::MAX]."""
    return min(max(a >> FRAC_BITS, 0), U64_MAX)


def normalize_with_sum(values: list[int], total: int) -> list[int]:
    """math.rs `inplace_normalize_i32f32_with_sum`: each value / total; unchanged if 0."""
    return [div(v, total) for v in values] if total else list(values)
