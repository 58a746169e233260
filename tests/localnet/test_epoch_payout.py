"""Every epoch pays exactly what its subnet accrued: owner + miners + validators, to the rao.

Subtensor's coinbase (`run_coinbase.rs`) gives validators the whole non-owner emission
when every incentive is zero, and truncates per UID; wmnet's chain pays the same split
and hands the truncation dust out by largest remainder (`localnet/payout.py`), so the
ledger can reconcile epochs against block emission exactly.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.localnet.epoch_paths import Hyper, open_path
from wmnet.localnet.emission import pending_emission
from wmnet.localnet.epoch import run_subnet_epoch
from wmnet.localnet.params import (
    MAX_ACTIVITY_CUTOFF_FACTOR_MILLI,
    MIN_ACTIVITY_CUTOFF_FACTOR_MILLI,
    SUBNET_OWNER_CUT_U16,
    U16_MAX,
)
from wmnet.localnet.payout import largest_remainder, pay_epoch
from wmnet.localnet.state import ChainState, Neuron, Subnet, stake_key
from wmnet.localnet.yuma import EpochInput, YumaParams, run_epoch

BLOCK = 10_000
# Subnet shapes the property must cover besides arbitrary ones.
MODES = ("random", "no_weights", "no_stake", "one_staker", "self_weights_only", "empty")


@st.composite
def subnets(draw: st.DrawFn) -> tuple[ChainState, Subnet]:
    """A started subnet in any state an epoch can meet: UID 0 is the owner's hotkey, as
    register_network makes it (an `empty` subnet has no neuron at all). Hypothesis picks
    the shape and the hyperparameters; a drawn seed fills the per-UID arrays (fast)."""
    mode = draw(st.sampled_from(MODES))
    n = 0 if mode == "empty" else draw(st.integers(1, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    state = ChainState(block=BLOCK, stake_threshold=draw(st.sampled_from([0, 0, 10**9])))
    subnet = Subnet(
        netuid=1,
        owner_coldkey="owner-cold",
        owner_hotkey="hot0",
        registered_at=0,
        locked=0,
        first_emission_block=1,
        last_epoch_block=draw(st.integers(0, BLOCK - 1)),
        accrued_since=draw(st.integers(1, BLOCK)),
        pending_emission=draw(st.integers(0, 10**13)),
    )
    subnet.hyperparams.update(
        {
            "Tempo": draw(st.integers(1, 400)),
            "Kappa": draw(st.sampled_from([0, 16_384, 32_767, U16_MAX])),
            "MaxAllowedValidators": draw(st.integers(1, 8)),
            "BondsMovingAverage": draw(st.sampled_from([0, 900_000, 975_000])),
            "BondsPenalty": draw(st.sampled_from([0, U16_MAX // 2, U16_MAX])),
            "LiquidAlphaOn": draw(st.integers(0, 1)),
            "Yuma3On": draw(st.integers(0, 1)),
            "ActivityCutoffFactorMilli": draw(
                st.integers(MIN_ACTIVITY_CUTOFF_FACTOR_MILLI, MAX_ACTIVITY_CUTOFF_FACTOR_MILLI)
            ),
        }
    )
    staked = rng.uniform(size=n) < 0.6
    if mode == "no_stake":
        staked[:] = False
    elif mode == "one_staker" and n:
        staked[:] = False
        staked[rng.integers(n)] = True
    for uid in range(n):
        hotkey, coldkey = f"hot{uid}", f"cold{uid}"
        subnet.neurons.append(
            Neuron(
                uid=uid,
                hotkey=hotkey,
                coldkey=coldkey,
                registered_at=int(rng.integers(0, BLOCK + 1)),
                last_update=int(rng.integers(0, BLOCK + 1)),
                validator_permit=bool(rng.integers(2)),
            )
        )
        state.hotkey_owner[hotkey] = coldkey
        amount = int(rng.integers(1, 10**13)) if staked[uid] else 0
        state.stakes[stake_key(hotkey, coldkey, 1)] = amount
        if mode == "self_weights_only":
            subnet.weights[uid] = [(uid, U16_MAX)]
        elif mode != "no_weights" and rng.uniform() < 0.7:
            targets = np.flatnonzero(rng.uniform(size=n) < 0.6)
            subnet.weights[uid] = [(int(j), int(rng.integers(0, U16_MAX + 1))) for j in targets]
        if rng.uniform() < 0.5:
            subnet.bonds[uid] = [(j, int(rng.integers(0, U16_MAX + 1))) for j in range(n)]
    state.subnets[1] = subnet
    return state, subnet


def _subnet_stake(state: ChainState) -> int:
    return sum(v for k, v in state.stakes.items() if k.endswith("|1"))


def _owner_stake(state: ChainState) -> int:
    return sum(v for k, v in state.stakes.items() if k.startswith("hot0|"))


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=subnets())
def test_every_epoch_pays_what_accrued_to_the_rao(case: tuple[ChainState, Subnet]) -> None:
    state, subnet = case
    accrued = pending_emission(state, subnet, BLOCK)
    issuance, staked = state.total_issuance, _subnet_stake(state)
    owner_before = _owner_stake(state)

    records = run_subnet_epoch(state, subnet, BLOCK)

    # Every rao accrued is issued, and lands as stake on this subnet.
    assert state.total_issuance - issuance == accrued
    assert _subnet_stake(state) - staked == accrued
    owner_cut = accrued * SUBNET_OWNER_CUT_U16 // U16_MAX
    rest = accrued - owner_cut
    miners = sum(r.server_emission for r in records)
    validators = sum(r.validator_emission for r in records)
    if any(r.incentive > 0 for r in records):
        assert (miners, validators) == (rest // 2, rest - rest // 2)
    else:
        # No incentive: the validators take the whole non-owner emission, unless no UID
        # holds (threshold-passing) stake, when it goes to the owner with the owner cut.
        assert miners == 0 and validators in (0, rest)
        if validators == 0:
            assert _owner_stake(state) - owner_before == accrued


def test_zero_incentive_pays_the_whole_rest_to_validators() -> None:
    """The issue's case: ten stakers weighting only themselves (every incentive zero).
    The chain used to pay the validators' half only and leave the rest unissued."""
    out = run_epoch(
        EpochInput(
            block=1,
            stake=np.ones(10),
            last_update=np.ones(10, dtype=int),
            block_at_registration=np.zeros(10, dtype=int),
            validator_permit=np.zeros(10, dtype=bool),
            weights=np.eye(10) * U16_MAX,
            bonds=np.zeros((10, 10)),
            owner_uid=None,
            last_epoch_block=0,
        ),
        YumaParams(yuma3=False),
    )
    payout = pay_epoch(out, 820_004_578, SUBNET_OWNER_CUT_U16)
    owner_cut = 820_004_578 * SUBNET_OWNER_CUT_U16 // U16_MAX
    assert not payout.server.any()
    assert int(payout.validator.sum()) == 820_004_578 - owner_cut
    assert payout.total == 820_004_578
    # Largest remainder: the ten equal shares differ by at most one rao.
    assert payout.validator.max() - payout.validator.min() <= 1


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(0, 2**62),
    shares=st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=50),
)
def test_largest_remainder_is_exact_and_fair(amount: int, shares: list[float]) -> None:
    s = np.array(shares)
    out = largest_remainder(amount, s)
    if s.sum() <= 0:
        assert not out.any()
        return
    assert sum(int(x) for x in out) == amount
    assert (out[s == 0] == 0).all()
    exact = [amount * x / s.sum() for x in shares]
    assert all(abs(int(o) - e) < 1 + 1e-6 * max(1.0, e) for o, e in zip(out, exact, strict=True))


@pytest.mark.parametrize("yuma3", [False, True])
async def test_chain_issues_exactly_what_accrued(yuma3: bool) -> None:
    """Through the SDK: stakers with self-weights only (zero incentive), then weights;
    each epoch raises TotalIssuance by exactly the subnet's accrued emission, and with
    zero incentive the stakers take all of it after the owner cut."""
    async with open_path("chain", Hyper(yuma3=yuma3)) as net:
        await net.add_neurons([3, 1, 1])
        total = ("Balances", "TotalIssuance")
        before = await net.client.query(total, [])
        s = await net.epoch()
        assert s.incentive == [0, 0, 0]
        assert sum(s.emission) == pytest.approx(1.0, abs=1e-12)
        assert s.emission == pytest.approx([0.6, 0.2, 0.2], abs=1e-9)
        assert (await net.client.query(total, [])) - before == s.accrued == s.paid

        await net.next_block()
        for uid in (0, 1, 2):
            await net.set_weights(uid, [uid], [U16_MAX])
        s = await net.epoch()
        assert s.incentive == [0, 0, 0] and sum(s.emission) == pytest.approx(1.0, abs=1e-12)
        assert s.paid == s.accrued

        await net.set_weights(0, [1, 2], [U16_MAX, U16_MAX])
        s = await net.epoch()
        assert s.incentive[1] > 0
        assert sum(s.server_emission) == pytest.approx(0.5, abs=1e-9)
        assert s.paid == s.accrued


def test_largest_remainder_is_exact_across_magnitudes():
    """A share 10^10 times smaller than another still gets its exact quota, to the rao
    (a 53-bit quantisation of the shares was off by 4 rao here)."""
    amount, shares = 34_427_913_326_481_854, np.array([380472364.0, 0.03125])
    out = largest_remainder(amount, shares)
    assert int(out.sum()) == amount
    small = Fraction(amount) * Fraction(0.03125) / Fraction(380472364.03125)
    assert abs(int(out[1]) - small) < 1
