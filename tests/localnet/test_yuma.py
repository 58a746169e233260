"""Yuma3 epoch: small cases worked out by hand from subtensor's semantics.

Layout used by most tests: UIDs 0 and 1 are validators, 2..4 are miners. Expected
values are derived in each test from the rules of subtensor's `epoch_mechanism` (run_epoch.rs),
never copied from the implementation's output.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.localnet.epoch_inputs import BLOCK, TAO, make_input
from tests.localnet.epoch_paths import dust_bound
from wmnet.localnet.payout import epoch_emission
from wmnet.localnet.yuma import (
    U16_MAX,
    EpochInput,
    EpochOutput,
    YumaParams,
    max_upscale_u16,
    run_epoch,
    to_u16,
    topk_nonzero,
)

N = 5
KAPPA = 32_767 / U16_MAX


def quantile(stakes: list[float], scores: list[float], kappa: float = KAPPA) -> float:
    """Smallest c with stake(score < c) <= 1 - kappa < stake(score <= c), by brute force."""
    total = sum(stakes)
    s = [x / total for x in stakes]
    minority = 1.0 - kappa
    for c in sorted(set(scores)):
        below = sum(si for si, x in zip(s, scores, strict=True) if x < c)
        upto = sum(si for si, x in zip(s, scores, strict=True) if x <= c)
        if below <= minority < upto:
            return c
    raise AssertionError("no quantile")


# --------------------------------------------------------------------------- kappa


def test_kappa_clips_minority_validator_to_majority_consensus() -> None:
    # V0 (70 %) splits evenly between miners 2 and 3; V1 (30 %) overweights miner 3.
    inp = make_input({0: {2: 1, 3: 1}, 1: {2: 1, 3: 4}})
    out = run_epoch(inp, YumaParams())

    w0 = [0.0, 0.0, 0.5, 0.5, 0.0]
    w1 = [0.0, 0.0, 0.2, 0.8, 0.0]
    c = [quantile([0.7, 0.3], [w0[j], w1[j]]) for j in range(N)]
    assert c[3] == pytest.approx(0.5)  # the majority's value, not V1's 0.8
    assert c[2] == pytest.approx(0.5)  # V1's lower 0.2 holds only 30 % < minority
    np.testing.assert_allclose(out.consensus, c, atol=1e-12)

    clipped1 = [min(w1[j], c[j]) for j in range(N)]  # V1 clipped to 0.5 on miner 3
    assert out.validator_trust[0] == pytest.approx(1.0)
    assert out.validator_trust[1] == pytest.approx(sum(clipped1))  # 0.7

    ranks = [0.7 * min(w0[j], c[j]) + 0.3 * clipped1[j] for j in range(N)]
    incentive = [r / sum(ranks) for r in ranks]
    np.testing.assert_allclose(out.incentive, incentive, atol=1e-12)
    np.testing.assert_allclose(out.rank, incentive, atol=1e-12)
    prerank3 = 0.7 * 0.5 + 0.3 * 0.8
    assert out.trust[3] == pytest.approx(ranks[3] / prerank3)

    # First-epoch bonds: B = 0.1 * clipped weights (bonds_penalty 1, alpha 0.1).
    b = np.array([[0.1 * min(w0[j], c[j]) for j in range(N)], [0.1 * x for x in clipped1]])
    col = b.sum(axis=0)
    norm = np.divide(b, col, out=np.zeros_like(b), where=col > 0)
    per_val = norm @ np.array(incentive)
    div = per_val * np.array([0.7, 0.3])
    np.testing.assert_allclose(out.dividends[:2], div / div.sum(), atol=1e-12)
    assert out.bonds[1, 2] == math.floor(0.02 * U16_MAX)  # 1310
    assert out.bonds[1, 3] == math.floor(0.05 * U16_MAX)  # 3276, clipped from 0.08


def test_consensus_follows_stake_not_headcount() -> None:
    # Three validators: two small ones agree on 1.0, the big one says 0.2 for miner 3.
    stake = [60 * TAO, 20 * TAO, 20 * TAO, 0, 0]
    inp = make_input(
        {0: {3: 1, 4: 4}, 1: {3: 1}, 2: {3: 1}},
        stake,
        permit=[True, True, True, False, False],
        last_update=[BLOCK] * 3 + [0, 0],
    )
    out = run_epoch(inp, YumaParams())
    assert out.consensus[3] == pytest.approx(quantile([0.6, 0.2, 0.2], [0.2, 1.0, 1.0]))
    assert out.consensus[3] == pytest.approx(0.2)


def test_quantile_boundary_is_strict() -> None:
    # kappa 0.5 and a 50/50 split: stake(score <= 0.2) = 0.5 is not > minority 0.5,
    # so consensus is the upper score.
    stake = [50 * TAO, 50 * TAO, 0, 0, 0]
    inp = make_input({0: {2: 1, 3: 4}, 1: {2: 4, 3: 1}}, stake)
    out = run_epoch(inp, YumaParams(kappa=0.5))
    expected = quantile([0.5, 0.5], [0.2, 0.8], kappa=0.5)
    assert expected == pytest.approx(0.8)
    np.testing.assert_allclose(out.consensus[2:4], [expected, expected], atol=1e-12)


# -------------------------------------------------------------------------- permit


def test_validator_without_permit_is_ignored_but_gets_a_new_permit() -> None:
    inp = make_input({0: {2: 1}, 1: {3: 1}}, permit=[True, False, False, False, False])
    out = run_epoch(inp, YumaParams())
    # Only V0 votes: consensus and incentive are V0's weights.
    np.testing.assert_allclose(out.consensus, [0, 0, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(out.incentive, [0, 0, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(out.active_stake, [1, 0, 0, 0, 0], atol=1e-12)
    assert out.dividends[1] == 0.0
    assert out.dividends[0] == pytest.approx(1.0)
    assert out.validator_trust[1] == 0.0
    # Its stake still earns it a permit for the next epoch.
    assert out.validator_permit.tolist() == [True, True, False, False, False]


# --------------------------------------------------------------------------- bonds


def test_bonds_carry_over_two_epochs_with_alpha_point_one() -> None:
    params = YumaParams(bonds_penalty=0.0)  # W_b = W, so bonds follow raw weights
    w_a = {0: {2: 3, 3: 1}, 1: {2: 3, 3: 1}}  # both (0.75, 0.25)
    out1 = run_epoch(make_input(w_a), params)
    b1 = [math.floor(0.1 * 0.75 * U16_MAX), math.floor(0.1 * 0.25 * U16_MAX)]
    assert out1.bonds[0, 2:4].tolist() == b1  # [4915, 1638]
    assert out1.bonds[1, 2:4].tolist() == b1

    # Second tempo: weights move to (0.25, 0.75); old bonds come back as u16.
    w_b = {0: {2: 1, 3: 3}, 1: {2: 1, 3: 3}}
    out2 = run_epoch(make_input(w_b, bonds=out1.bonds), params)
    ema2 = 0.1 * 0.25 + 0.9 * b1[0] / U16_MAX
    ema3 = 0.1 * 0.75 + 0.9 * b1[1] / U16_MAX
    assert out2.ema_bonds[0, 2] == pytest.approx(ema2)
    assert out2.ema_bonds[0, 3] == pytest.approx(ema3)
    assert out2.bonds[0, 2:4].tolist() == [math.floor(ema2 * U16_MAX), math.floor(ema3 * U16_MAX)]
    # Equal bonds per column -> dividends split by active stake 70 / 30.
    np.testing.assert_allclose(out2.dividends[:2], [0.7, 0.3], atol=1e-12)


def test_bonds_to_newly_registered_uid_are_reset() -> None:
    old = np.zeros((N, N))
    old[0, 4] = old[1, 4] = U16_MAX  # bonds held on the previous owner of UID 4
    old[0, 2] = old[1, 2] = U16_MAX
    reg = [0, 0, 0, 0, BLOCK - 5]  # UID 4 re-registered after the last epoch
    inp = make_input({0: {2: 1}, 1: {2: 1}}, bonds=old, registered=reg)
    out = run_epoch(inp, YumaParams())
    assert out.ema_bonds[0, 4] == 0.0  # reset, and no new weight
    assert out.ema_bonds[0, 2] == pytest.approx(0.1 * 1.0 + 0.9 * 1.0)
    # Registered before the last epoch: kept and decayed.
    inp = make_input({0: {2: 1}, 1: {2: 1}}, bonds=old, registered=[0, 0, 0, 0, BLOCK - 20])
    assert run_epoch(inp, YumaParams()).ema_bonds[0, 4] == pytest.approx(0.9)


def test_liquid_alpha_changes_bonds_and_matches_sigmoid() -> None:
    # bonds_penalty 0 so V1's over-consensus weight reaches the bonds.
    w = {0: {2: 1, 3: 1}, 1: {2: 1, 3: 4}}
    off = run_epoch(make_input(w), YumaParams(bonds_penalty=0.0))
    on = run_epoch(make_input(w), YumaParams(bonds_penalty=0.0, liquid_alpha_enabled=True))
    assert not np.allclose(off.ema_bonds, on.ema_bonds)
    assert off.ema_bonds[1, 3] == pytest.approx(0.1 * 0.8)

    low, high, k = 45_875 / U16_MAX, 58_982 / U16_MAX, 1_000 / 100
    # V1 -> miner 3: w = 0.8 >= b = 0, consensus 0.5: diff = 0.3.
    sigma = 1.0 / (1.0 + math.exp(-k * (0.3 - 0.5)))
    alpha = low + sigma * (high - low)
    assert on.ema_bonds[1, 3] == pytest.approx(alpha * 0.8, rel=1e-12)
    # V0 -> miner 3: w = 0.5 equals consensus: diff = 0, alpha near alpha_low.
    alpha0 = low + (high - low) / (1.0 + math.exp(k * 0.5))
    assert on.ema_bonds[0, 3] == pytest.approx(alpha0 * 0.5, rel=1e-12)
    assert on.bonds[1, 3] == math.floor(alpha * 0.8 * U16_MAX)


def test_liquid_alpha_selling_side_uses_bond_minus_weight() -> None:
    old = np.zeros((N, N))
    old[0, 2] = old[1, 2] = U16_MAX  # full bonds, weights move away from miner 2
    w = {0: {2: 1, 3: 9}, 1: {2: 1, 3: 9}}
    out = run_epoch(make_input(w, bonds=old), YumaParams(liquid_alpha_enabled=True))
    low, high = 45_875 / U16_MAX, 58_982 / U16_MAX
    diff = 1.0 - 0.1  # b - w
    alpha = low + (high - low) / (1.0 + math.exp(-10 * (diff - 0.5)))
    assert out.ema_bonds[0, 2] == pytest.approx((1 - alpha) * 1.0 + alpha * 0.1, rel=1e-9)


# ------------------------------------------------------------------------ activity


def test_inactive_validator_is_masked() -> None:
    cutoff = YumaParams().activity_cutoff
    w = {0: {2: 1}, 1: {3: 1}}
    stale = make_input(w, last_update=[BLOCK - 1, BLOCK - cutoff - 1, 0, 0, 0])
    out = run_epoch(stale, YumaParams())
    assert out.active[:2].tolist() == [True, False]
    np.testing.assert_allclose(out.active_stake[:2], [1.0, 0.0])
    np.testing.assert_allclose(out.incentive, [0, 0, 1, 0, 0], atol=1e-12)
    assert out.dividends[1] == 0.0
    # Inactive stake keeps its permit (permits follow stake only).
    assert out.validator_permit[1]

    # last_update + cutoff == block is still active.
    edge = make_input(w, last_update=[BLOCK - 1, BLOCK - cutoff, 0, 0, 0])
    out = run_epoch(edge, YumaParams())
    assert out.active[1]
    assert out.incentive[3] == pytest.approx(0.0)  # V1's 30 % is a minority: clipped
    np.testing.assert_allclose(out.active_stake[:2], [0.7, 0.3])


# ------------------------------------------------------------------------ no weights


def test_no_weights_pays_validators_by_active_stake() -> None:
    out = run_epoch(make_input({}), YumaParams())
    assert not out.incentive.any()
    assert not out.dividends.any()
    emission = epoch_emission(out, 2_000 * TAO)
    server, validator = emission.server, emission.validator
    assert not server.any()
    # An I32F32 share of 2,000 TAO loses up to 2e12 / 2^32 < 500 rao to truncation.
    assert validator[0] == pytest.approx(1_400 * TAO, abs=500)
    assert validator[1] == pytest.approx(600 * TAO, abs=500)
    assert validator.sum() <= 2_000 * TAO
    np.testing.assert_allclose(out.pruning_score[:2], [0.7, 0.3])

    # With V1 inactive, its stake is not active: V0 takes the whole validator part.
    cutoff = YumaParams().activity_cutoff
    idle = make_input({}, last_update=[BLOCK, BLOCK - cutoff - 1, 0, 0, 0])
    validator = epoch_emission(run_epoch(idle, YumaParams()), 10**9).validator
    assert validator.tolist() == [10**9, 0, 0, 0, 0]


# --------------------------------------------------------------- self / outdated


def test_self_weights_dropped_but_owner_exempt() -> None:
    stake = [100 * TAO, 0, 0, 0, 0]
    w = {0: {0: 1, 2: 1}}
    out = run_epoch(make_input(w, stake), YumaParams())
    np.testing.assert_allclose(out.incentive, [0, 0, 1, 0, 0], atol=1e-12)

    out = run_epoch(make_input(w, stake, owner_uid=0), YumaParams())
    np.testing.assert_allclose(out.incentive, [0.5, 0, 0.5, 0, 0], atol=1e-12)


def test_owner_votes_without_stored_permit() -> None:
    stake = [100 * TAO, 0, 0, 0, 0]
    permits = [False] * N
    out = run_epoch(make_input({0: {3: 1}}, stake, permit=permits, owner_uid=0), YumaParams())
    np.testing.assert_allclose(out.incentive, [0, 0, 0, 1, 0], atol=1e-12)
    out = run_epoch(make_input({0: {3: 1}}, stake, permit=permits), YumaParams())
    assert not out.incentive.any()


def test_weights_set_before_target_registered_are_dropped() -> None:
    stake = [100 * TAO, 0, 0, 0, 0]
    w = {0: {2: 1, 4: 1}}
    reg = [0, 0, 0, 0, BLOCK - 5]  # UID 4 re-registered 5 blocks ago
    for last_update, expected in (
        (BLOCK - 10, [0, 0, 1, 0, 0]),  # weights older than the registration
        (BLOCK - 5, [0, 0, 1, 0, 0]),  # same block still counts as outdated (<=)
        (BLOCK - 4, [0, 0, 0.5, 0, 0.5]),  # set after it: kept
    ):
        inp = make_input(w, stake, last_update=[last_update, 0, 0, 0, 0], registered=reg)
        out = run_epoch(inp, YumaParams())
        np.testing.assert_allclose(out.incentive, expected, atol=1e-12)


# ------------------------------------------------------------------ stake threshold


def test_stake_threshold_zeroes_small_stake_except_owner() -> None:
    stake = [100 * TAO, 40 * TAO, 10 * TAO, 0, 0]
    params = YumaParams(stake_threshold=50 * TAO)
    out = run_epoch(make_input({}, stake, owner_uid=2), params)
    np.testing.assert_allclose(out.stake, [100 / 110, 0, 10 / 110, 0, 0])
    assert out.validator_permit.tolist() == [True, False, True, False, False]

    out = run_epoch(make_input({}, stake), params)
    np.testing.assert_allclose(out.stake, [1, 0, 0, 0, 0])
    assert out.validator_permit.tolist() == [True, False, False, False, False]


# -------------------------------------------------------------------------- top-k


def test_topk_permits() -> None:
    stake = [10 * TAO, 40 * TAO, 30 * TAO, 40 * TAO, 20 * TAO, 0]
    inp = make_input({}, stake, permit=[True] * 6, last_update=[BLOCK] * 6)
    out = run_epoch(inp, YumaParams(max_allowed_validators=2))
    assert out.validator_permit.tolist() == [False, True, False, True, False, False]
    out = run_epoch(inp, YumaParams(max_allowed_validators=3))
    assert out.validator_permit.tolist() == [False, True, True, True, False, False]
    # k above n: every non-zero stake, never the zero one.
    out = run_epoch(inp, YumaParams(max_allowed_validators=64))
    assert out.validator_permit.tolist() == [True] * 5 + [False]
    # Owner always gets one, even with no stake.
    inp = make_input({}, stake, permit=[True] * 6, last_update=[BLOCK] * 6, owner_uid=5)
    out = run_epoch(inp, YumaParams(max_allowed_validators=2))
    assert out.validator_permit.tolist() == [False, True, False, True, False, True]


def test_topk_ties_keep_the_higher_uid() -> None:
    # Stable ascending sort drops the first n - k: among equals, lower UIDs go first.
    assert topk_nonzero(np.array([2.0, 2.0, 1.0]), 1).tolist() == [False, True, False]
    assert topk_nonzero(np.array([1.0, 2.0, 2.0]), 2).tolist() == [False, True, True]


# ------------------------------------------------------------------------- u16


def test_u16_conversions_truncate_like_fixed_point() -> None:
    assert to_u16(np.array([0.0, 0.5, 1.0, 1.5, -0.1])).tolist() == [0, 32767, 65535, 65535, 0]
    assert max_upscale_u16(np.array([0.25, 0.5, 0.0])).tolist() == [32768, 65535, 0]
    assert max_upscale_u16(np.zeros(3)).tolist() == [0, 0, 0]
    out = run_epoch(make_input({0: {2: 1}, 1: {2: 1}}), YumaParams())
    stored = out.as_u16()
    assert stored["Incentive"][2] == U16_MAX
    assert stored["PruningScores"].max() == U16_MAX


def test_bond_rows_cleared_without_new_permit() -> None:
    old = np.full((N, N), 1000.0)
    stake = [70 * TAO, 0, 0, 0, 0]  # V1 lost its stake: no new permit
    out = run_epoch(make_input({0: {2: 1}, 1: {2: 1}}, stake, bonds=old), YumaParams())
    assert not out.validator_permit[1]
    assert not out.bonds[1].any()
    assert out.bonds[0, 2] == math.floor((0.1 + 0.9 * 1000 / U16_MAX) * U16_MAX)


# ------------------------------------------------------------------------ emission


def _output(incentive: np.ndarray, dividends: np.ndarray, stake: np.ndarray) -> EpochOutput:
    n = incentive.shape[0]
    z = np.zeros(n)
    return EpochOutput(
        active=np.ones(n, bool),
        validator_permit=np.ones(n, bool),
        stake=stake,
        active_stake=stake,
        rank=incentive,
        trust=z,
        consensus=z,
        incentive=incentive,
        dividends=dividends,
        validator_trust=z,
        pruning_score=z,
        bonds=np.zeros((n, n), np.uint16),
        ema_bonds=np.zeros((n, n)),
    )


def _norm(xs: list[float]) -> np.ndarray:
    a = np.array(xs)
    return a / a.sum() if a.sum() > 0 else a


shares = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), rao_emission=st.integers(0, 2**62))
def test_epoch_emission_never_creates_rao(data, rao_emission: int) -> None:
    inc = data.draw(shares)
    n = len(inc)
    div = data.draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=n, max_size=n))
    stk = data.draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=n, max_size=n))
    out = _output(_norm(inc), _norm(div), _norm(stk))
    emission = epoch_emission(out, rao_emission)
    server, validator = emission.server, emission.validator
    assert (server >= 0).all() and (validator >= 0).all()
    assert sum(int(x) for x in server) + sum(int(x) for x in validator) <= rao_emission
    # Only truncation dust is left when someone can be paid.
    dust = dust_bound(n, rao_emission)
    if sum(inc) + sum(div) > 0 or sum(stk) > 0:
        assert sum(int(x) for x in server) + sum(int(x) for x in validator) >= rao_emission - dust


# ------------------------------------------------------- loop reference cross-check


@pytest.mark.parametrize("seed", range(6))
def test_matches_loop_reference_with_partition_search_median(seed: int) -> None:
    """The vectorised epoch equals bench/epoch.py's loop transcription of subtensor
    (recursive mid-pivot weighted median) on random subnets with every mask in play."""
    from wmnet.bench.epoch import random_epoch_input, reference_epoch

    rng = np.random.default_rng(seed)
    base = random_epoch_input(24, 8, seed=seed)
    weights = base.weights.copy()
    weights[rng.uniform(size=weights.shape) < 0.5] = 0  # sparse rows, many score ties
    last_update = base.last_update.copy()
    last_update[rng.integers(0, 8)] = 0  # an inactive validator
    permit = base.validator_permit.copy()
    permit[rng.integers(0, 8)] = False
    inp = EpochInput(
        block=base.block,
        stake=base.stake,
        last_update=last_update,
        block_at_registration=np.where(rng.uniform(size=24) < 0.2, base.block - 60, 0),
        validator_permit=permit,
        weights=weights,
        bonds=base.bonds,
        owner_uid=int(rng.integers(0, 24)),
        last_epoch_block=base.last_epoch_block,
    )
    params = YumaParams(
        kappa=float(rng.choice([KAPPA, 0.3, 0.7])),
        bonds_penalty=float(rng.choice([0.0, 0.5, 1.0])),
        stake_threshold=float(np.median(base.stake[:8])),
    )
    out = run_epoch(inp, params)
    ref = reference_epoch(inp, params)
    np.testing.assert_allclose(out.consensus, ref["consensus"], atol=1e-12)
    np.testing.assert_allclose(out.incentive, ref["incentive"], atol=1e-12)
    np.testing.assert_allclose(out.dividends, ref["dividends"], atol=1e-12)
    np.testing.assert_allclose(out.ema_bonds, ref["ema_bonds"], atol=1e-12)
