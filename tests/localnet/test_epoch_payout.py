"""Every epoch pays what subtensor would, to the rao: the per-block split, the epoch's
fixed-point shares and the payout's truncations (`localnet/payout.py`).

Checked three ways: against an independent model of substrate_fixed's arithmetic in
exact rationals (`Fraction`, floors where the crate truncates), by conservation (what
is minted is what lands as stake, never more than accrued, less only by bounded
truncation dust and the owner's burned incentive), and through the SDK on a chain.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.localnet.epoch_paths import Hyper, assert_dust_only, dust_bound, open_path
from wmnet.localnet.emission import pending_emission
from wmnet.localnet.epoch import run_subnet_epoch
from wmnet.localnet.params import (
    DEFAULT_DELEGATE_TAKE_U16,
    MAX_ACTIVITY_CUTOFF_FACTOR_MILLI,
    MIN_ACTIVITY_CUTOFF_FACTOR_MILLI,
    SUBNET_OWNER_CUT_U16,
    U16_MAX,
)
from wmnet.localnet.payout import (
    PendingEmission,
    block_split,
    distribute,
    epoch_emission,
)
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
        # As the chain leaves them: the validators' half is the server half plus at most
        # a rao per block (each block's halves are truncated separately).
        pending_server=(server := draw(st.integers(0, 10**13))),
        pending_validator=server + draw(st.integers(0, 1_000)),
        pending_owner_cut=draw(st.integers(0, 10**12)),
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


# --- an independent model of substrate_fixed (32 fraction bits), in exact rationals ---

SCALE = 2**32


def _q(x: Fraction) -> Fraction:
    """A value as the type holds it: floored to a multiple of 2^-32 (x >= 0)."""
    return Fraction(int(x * SCALE), SCALE)


def _rao(x: Fraction) -> int:
    return int(x)  # saturating_to_num::<u64>() of a non-negative value


def _model_epoch(out, rao_emission: int) -> tuple[list[int], list[int], list[int]]:
    """epoch_mechanism's "Emission and Pruning scores" over Fractions."""
    inc = [_q(Fraction(float(x)) + Fraction(1, 10_000 * SCALE)) for x in out.incentive]
    div = [_q(Fraction(float(x)) + Fraction(1, 10_000 * SCALE)) for x in out.dividends]
    total = sum(inc) + sum(div)
    if total:
        server = [_q(i / total) for i in inc]
        validator = [_q(d / total) for d in div]
        combined = [_q((i + d) / total) for i, d in zip(inc, div, strict=True)]
    else:
        active = [_q(Fraction(float(x)) + Fraction(1, 10_000 * SCALE)) for x in out.active_stake]
        stake = [_q(Fraction(float(x)) + Fraction(1, 10_000 * SCALE)) for x in out.stake]
        fallback = active if sum(active) else stake
        server, validator, combined = inc, fallback, fallback

    def rao(shares: list[Fraction]) -> list[int]:
        return [_rao(_q(s * rao_emission)) for s in shares]

    return rao(server), rao(validator), rao(combined)


def test_block_split_matches_the_model() -> None:
    for alpha_out in (0, 1, 7, 999_999_999, 1_000_000_000, 500_000_000, 333_333_333):
        for cut in (0, 1, SUBNET_OWNER_CUT_U16, U16_MAX):
            split = block_split(alpha_out, cut)
            percent = _q(Fraction(cut, U16_MAX))
            owner = _q(alpha_out * percent)
            server = _q((alpha_out - owner) / 2)
            validator = alpha_out - owner - server
            assert split == PendingEmission(_rao(server), _rao(validator), _rao(owner))
            assert alpha_out - 3 < split.total <= alpha_out
    # The 18 % cut of 1 TAO a block, as the fast-blocks localnet accrues it.
    assert block_split(10**9, SUBNET_OWNER_CUT_U16) == PendingEmission(
        server=410_002_288, validator=410_002_288, owner_cut=179_995_422
    )


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=subnets())
def test_every_epoch_pays_as_subtensor_does(case: tuple[ChainState, Subnet]) -> None:
    state, subnet = case
    pending = pending_emission(state, subnet, BLOCK)
    issuance, staked = state.total_issuance, _subnet_stake(state)

    records = run_subnet_epoch(state, subnet, BLOCK)

    minted = state.total_issuance - issuance
    # What is minted lands as stake on this subnet. Never more than was pending, but
    # for one way subtensor over-pays: miners get their share of server + validator
    # pending, so half the validators' extra rao (`imbalance`) can go to miners too.
    imbalance = (pending.validator - pending.server + 1) // 2
    assert _subnet_stake(state) - staked == minted <= pending.total + imbalance
    assert subnet.pending_server == subnet.pending_validator == subnet.pending_owner_cut == 0
    if not records:  # an empty subnet: only the owner cut has a taker
        assert minted == pending.owner_cut
        return
    miners = sum(r.server_emission for r in records)
    validators = sum(r.validator_emission for r in records)
    assert minted == pending.owner_cut + miners + validators
    n = len(records)
    dust = dust_bound(n, pending.server + pending.validator)
    incentive = any(r.incentive > 0 for r in records)
    dividends = any(r.dividends > 0 for r in records)
    if incentive and dividends:
        # Incentive and dividends each normalise to one half of the epoch's emission:
        # miners about the server half, validators theirs, less dust.
        assert miners <= pending.server + imbalance and validators <= pending.validator
        assert pending.validator - validators <= dust
    elif incentive:
        # No dividends anywhere: nobody takes the validators' pool (not minted).
        assert validators == 0 and miners <= pending.server + pending.validator
    elif validators:
        # No incentive at all: validators take both halves.
        assert pending.server + pending.validator - validators <= dust


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=subnets(), rao_emission=st.integers(0, 10**14))
def test_epoch_emission_matches_the_model(case: tuple[ChainState, Subnet], rao_emission: int):
    state, subnet = case
    if not subnet.neurons:
        return
    from wmnet.localnet.epoch import _matrix, stake_vector, yuma_params

    n = len(subnet.neurons)
    out = run_epoch(
        EpochInput(
            block=BLOCK,
            stake=stake_vector(state, subnet),
            last_update=np.array([x.last_update for x in subnet.neurons]),
            block_at_registration=np.array([x.registered_at for x in subnet.neurons]),
            validator_permit=np.array([x.validator_permit for x in subnet.neurons]),
            weights=_matrix(subnet.weights, n),
            bonds=_matrix(subnet.bonds, n),
            owner_uid=0,
            last_epoch_block=subnet.last_epoch_block,
        ),
        yuma_params(state, subnet),
    )
    got = epoch_emission(out, rao_emission)
    server, validator, combined = _model_epoch(out, rao_emission)
    assert got.server.tolist() == server
    assert got.validator.tolist() == validator
    assert got.combined.tolist() == combined


def _ten_self_weighting_stakers():
    return run_epoch(
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


def test_zero_incentive_pays_the_whole_rest_to_validators() -> None:
    """Ten stakers weighting only themselves (every incentive zero): `Emission` is
    upstream's 99,999,999 of 1e9 each, and the validators are paid the server half
    too (`distribute_emission`: validators get 100 % when incentives sum to zero)."""
    out = _ten_self_weighting_stakers()
    emission = epoch_emission(out, 10**9)
    assert emission.combined.tolist() == [99_999_999] * 10
    pending = PendingEmission(server=410_002_288, validator=410_002_288, owner_cut=179_995_422)
    payout = distribute(emission, pending, np.zeros(10, dtype=bool), DEFAULT_DELEGATE_TAKE_U16)
    assert not payout.server.any() and payout.burned == 0
    assert payout.owner == 179_995_422
    assert len(set(payout.validator.tolist())) == 1  # equal stakes, equal pay
    paid = int(payout.validator.sum())
    assert 0 <= 820_004_576 - paid <= dust_bound(10, 820_004_576)


def test_the_owners_hotkeys_incentive_is_burned() -> None:
    """Incentive to a hotkey of the subnet owner's coldkey is burned, not paid; its
    dividends are paid as anyone's."""
    out = _ten_self_weighting_stakers()
    emission = epoch_emission(out, 10**9)
    emission = type(emission)(
        server=np.full(10, 1_000, dtype=np.int64),
        validator=emission.validator,
        combined=emission.combined,
    )
    owners = np.zeros(10, dtype=bool)
    owners[[0, 3]] = True
    payout = distribute(emission, PendingEmission(10_000, 10**9, 7), owners, 0)
    assert payout.server.tolist() == [0, 1_000, 1_000, 0, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000]
    assert payout.burned == 2_000
    assert payout.validator[0] == payout.validator[1] > 0


@pytest.mark.parametrize("yuma3", [False, True])
async def test_chain_mints_what_subtensor_pays(yuma3: bool) -> None:
    """Through the SDK: stakers with no weights (zero incentive), self-weights, then
    weights; each epoch raises TotalIssuance by what it paid, which is what was pending
    less truncation dust; with zero incentive the stakers take the server half too."""
    async with open_path("chain", Hyper(yuma3=yuma3)) as net:
        await net.add_neurons([3, 1, 1])
        total = ("Balances", "TotalIssuance")
        before = await net.client.query(total, [])
        s = await net.epoch()
        assert s.incentive == [0, 0, 0]
        assert sum(s.emission) == pytest.approx(1.0, abs=1e-9)
        assert s.emission == pytest.approx([0.6, 0.2, 0.2], abs=1e-9)
        assert (await net.client.query(total, [])) - before == s.paid
        assert_dust_only(s)

        await net.next_block()
        for uid in (0, 1, 2):
            await net.set_weights(uid, [uid], [U16_MAX])
        s = await net.epoch()
        assert s.incentive == [0, 0, 0] and sum(s.emission) == pytest.approx(1.0, abs=1e-9)
        assert_dust_only(s)

        await net.set_weights(0, [1, 2], [U16_MAX, U16_MAX])
        s = await net.epoch()
        assert s.incentive[1] > 0
        assert sum(s.server_emission) == pytest.approx(0.5, abs=1e-9)
        assert_dust_only(s)
