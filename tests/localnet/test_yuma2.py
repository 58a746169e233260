"""The pre-Yuma3 bonds branch (`Yuma3On` off), worked out by hand from subtensor's
`epoch_mechanism` ("original Yuma - liquid alpha disabled") and checked on the chain.

Layout: UIDs 0 and 1 are validators with 70 / 30 stake, 2..4 are miners.
"""

from __future__ import annotations

import math

import bittensor as bt
import numpy as np
import pytest

from tests.localnet.conftest import make_subnet, register_raw, wallet
from tests.localnet.epoch_inputs import BLOCK, make_input
from wmnet.localnet.yuma import U16_MAX, YumaParams, run_epoch

N = 5
PRE = YumaParams(yuma3=False)


# V0 splits evenly between miners 2 and 3; V1 puts 0.8 on miner 3, above consensus 0.5.
SPLIT = {0: {2: 1, 3: 1}, 1: {2: 1, 3: 4}}


def test_first_epoch_bonds_and_dividends_by_hand() -> None:
    out = run_epoch(make_input(SPLIT), PRE)
    # Consensus 0.5 on both miners; V1's 0.8 on miner 3 is clipped to 0.5.
    ranks = np.array([0.7 * 0.5 + 0.3 * 0.2, 0.7 * 0.5 + 0.3 * 0.5])  # miners 2, 3
    incentive = ranks / ranks.sum()
    np.testing.assert_allclose(out.incentive[2:4], incentive, atol=1e-12)
    # ΔB = colnorm(W̄ ∘ S) (bonds penalty 1); no old bonds, so B = ΔB.
    delta = np.array([[0.35, 0.35], [0.06, 0.15]])
    b = delta / delta.sum(axis=0)
    np.testing.assert_allclose(out.ema_bonds[:2, 2:4], b, atol=1e-9)
    # Dividends: B · I, normalised; stake is already inside ΔB.
    d = b @ incentive
    np.testing.assert_allclose(out.dividends[:2], d / d.sum(), atol=1e-9)
    # Stored max-upscaled per column, truncated: the column's largest bond is 65535.
    assert out.bonds[0, 2:4].tolist() == [U16_MAX, U16_MAX]
    assert out.bonds[1, 2:4].tolist() == [
        math.floor(0.06 / 0.35 * U16_MAX),
        math.floor(0.15 / 0.35 * U16_MAX),
    ]
    assert not out.bonds[2:].any()  # rows without a permit are cleared


def test_bonds_penalty_zero_lets_the_outlier_bond() -> None:
    """BondsPenalty reaches the pre-Yuma3 branch too: W_b = interpolate(W, W̄, penalty)."""
    clipped = run_epoch(make_input(SPLIT), PRE)
    raw = run_epoch(make_input(SPLIT), YumaParams(yuma3=False, bonds_penalty=0.0))
    delta3 = np.array([0.7 * 0.5, 0.3 * 0.8])  # unclipped weights on miner 3
    np.testing.assert_allclose(raw.ema_bonds[:2, 3], delta3 / delta3.sum(), atol=1e-9)
    assert raw.dividends[1] > clipped.dividends[1]
    half = run_epoch(make_input(SPLIT), YumaParams(yuma3=False, bonds_penalty=0.5))
    delta3 = np.array([0.7 * 0.5, 0.3 * 0.65])  # halfway between 0.5 and 0.8
    np.testing.assert_allclose(half.ema_bonds[:2, 3], delta3 / delta3.sum(), atol=1e-9)


def test_second_epoch_ema_over_column_normalised_stored_bonds() -> None:
    first = run_epoch(make_input(SPLIT), PRE)
    # Weights move: both validators now put everything on miner 4.
    moved = {0: {4: 1}, 1: {4: 1}}
    second = run_epoch(make_input(moved, bonds=first.bonds.astype(float)), PRE)
    old = first.bonds.astype(float)[:2, 2:5]
    old = np.divide(old, old.sum(axis=0), out=np.zeros_like(old), where=old.sum(axis=0) > 0)
    delta = np.array([[0, 0, 0.7], [0, 0, 0.3]])
    ema = 0.1 * delta + 0.9 * old
    ema = ema / ema.sum(axis=0)
    np.testing.assert_allclose(second.ema_bonds[:2, 2:5], ema, atol=1e-8)
    # Miner 4 alone has incentive: dividends are the bonds on it.
    np.testing.assert_allclose(second.dividends[:2], [0.7, 0.3], atol=1e-8)


def test_liquid_alpha_is_not_read_without_yuma3() -> None:
    """epoch_mechanism's pre-Yuma3 branch always uses 1 - BondsMovingAverage / 1e6."""
    rng = np.random.default_rng(7)
    bonds = np.floor(rng.uniform(0, U16_MAX, (N, N)))
    inp = make_input(SPLIT, bonds=bonds)
    off = run_epoch(inp, PRE)
    on = run_epoch(inp, YumaParams(yuma3=False, liquid_alpha_enabled=True, alpha_low=0.01))
    np.testing.assert_array_equal(off.bonds, on.bonds)
    np.testing.assert_array_equal(off.dividends, on.dividends)
    # With Yuma3 on, the same switch changes the bonds.
    y3 = YumaParams(liquid_alpha_enabled=True, alpha_low=0.01)
    assert not np.array_equal(run_epoch(inp, YumaParams()).bonds, run_epoch(inp, y3).bonds)


def test_bonds_to_a_uid_registered_since_the_last_epoch_are_dropped() -> None:
    bonds = np.zeros((N, N))
    bonds[0, 4] = U16_MAX  # held on UID 4's previous owner
    bonds[1, 4] = U16_MAX // 2
    bonds[:2, 2] = U16_MAX
    fresh = run_epoch(
        make_input({0: {2: 1}, 1: {2: 1}}, bonds=bonds, registered=[0, 0, 0, 0, BLOCK - 5]), PRE
    )
    assert fresh.ema_bonds[:2, 4].tolist() == [0, 0]
    kept = run_epoch(make_input({0: {2: 1}, 1: {2: 1}}, bonds=bonds), PRE)
    held = np.array([U16_MAX, U16_MAX // 2])  # no new weight: the EMA keeps the old mix
    np.testing.assert_allclose(kept.ema_bonds[:2, 4], held / held.sum(), atol=1e-9)


@pytest.mark.parametrize("yuma3", [False, True])
async def test_chain_runs_the_branch_yuma3on_selects(client, chain, yuma3: bool) -> None:
    """Yuma3On set through the SDK picks the bonds branch the chain runs and the
    yuma_version it reports: pre-Yuma3 stores bonds max-upscaled per column, Yuma3
    stores the EMA as a proportion."""
    subnet = await make_subnet(client, chain)
    n = subnet.netuid
    result = await client.execute(
        bt.SetHyperparameter(netuid=n, name="yuma3_enabled", value=yuma3), subnet.owner
    )
    assert result.success, result.message
    hp = await client.subnets.subnet_hyperparameters(n)
    assert hp["yuma_version"] == (3 if yuma3 else 2)

    validator = wallet("//Bob", "y-validator")
    miners = [wallet("//Bob", f"y-miner{i}") for i in range(2)]
    for w in (validator, *miners):
        assert (await register_raw(client, n, w)).success
    stake = bt.AddStake(netuid=n, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=100)
    assert (await client.execute(stake, validator)).success
    tempo = (await client.subnets.metagraph(n)).tempo
    chain.advance(tempo + 1)  # a permit for the validator
    graph = await client.subnets.metagraph(n)
    uids = [graph.by_hotkey(m.hotkey.ss58_address).uid for m in miners]
    result = await client.execute(
        bt.SetWeights(netuid=n, uids=uids, weights=[0.75, 0.25]), validator
    )
    assert result.success, result.message
    chain.advance(tempo + 1)
    v_uid = (await client.subnets.metagraph(n)).by_hotkey(validator.hotkey.ss58_address).uid
    row = (await client.weights.bonds(n))[v_uid]
    stored = [round(row[u] * U16_MAX) for u in uids]
    if yuma3:
        # One epoch of EMA from zero: 0.1 · w, truncated (the stored weights are
        # max-upscaled u16, so w is 65535 / 87380 and 21845 / 87380).
        w = np.array([65535, 21845]) / 87380
        assert stored == [math.floor(0.1 * x * U16_MAX) for x in w]
    else:
        assert stored == [U16_MAX, U16_MAX]  # each column's only bond, max-upscaled
