"""Subtensor's `epoch_logs.rs` tests, ported: upstream reads these off the epoch's trace
log; here the same quantities are asserted as values. Most write storage by hand
(last-update blocks, permits), which only `run_epoch` directly can take; the two weight
pipelines also run on the chain through the SDK (`tests/localnet/epoch_paths.py`).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.localnet.epoch_paths import Hyper, open_path, shares
from wmnet.localnet.params import U16_MAX
from wmnet.localnet.payout import EpochEmission, epoch_emission
from wmnet.localnet.yuma import EpochInput, EpochOutput, YumaParams, run_epoch


def logged_epoch(
    stakes: list[int],
    permits: list[bool],
    last_update: list[int],
    block: int,
    *,
    max_validators: int = 64,
) -> tuple[EpochOutput, EpochEmission]:
    """epoch_logs.rs::setup_epoch: storage written by hand (ActivityCutoff 10, tempo
    10, everyone registered at block 0, no weights), then epoch_mechanism(1e9)."""
    n = len(stakes)
    inp = EpochInput(
        block=block,
        stake=np.array(stakes, dtype=float),
        last_update=np.array(last_update),
        block_at_registration=np.zeros(n, dtype=int),
        validator_permit=np.array(permits),
        weights=np.zeros((n, n)),
        bonds=np.zeros((n, n)),
        owner_uid=None,
        last_epoch_block=block - 11,
    )
    params = YumaParams(activity_cutoff=10, max_allowed_validators=max_validators, yuma3=False)
    out = run_epoch(inp, params)
    return out, epoch_emission(out, 1_000_000_000)


def test_logs_simple() -> None:
    """epoch_logs.rs::test_simple: two active, permitted, equal stakers and no weights."""
    out, pay = logged_epoch([10**9, 10**9], [True, True], [1, 1], block=1)
    assert out.active.tolist() == [True, True]
    assert out.stake.tolist() == out.active_stake.tolist() == [0.5, 0.5]
    assert out.validator_permit.tolist() == [True, True]
    assert out.consensus.tolist() == [0, 0]
    assert pay.validator.tolist() == [500_000_000, 500_000_000]  # 0.5 is exact in I32F32
    assert out.pruning_score.tolist() == [0.5, 0.5]


def test_logs_inactive_mask_and_emergency_mode() -> None:
    """epoch_logs.rs::test_inactive_mask_zeroes_active_stake and ::yuma_emergency_mode:
    everyone inactive, so active stake is zero and emission falls back to stake."""
    out, pay = logged_epoch([10**9, 10**9], [True, True], [0, 0], block=1_000_000)
    assert out.active.tolist() == [False, False]
    assert out.active_stake.tolist() == [0, 0]
    assert out.pruning_score.tolist() == [0.5, 0.5]
    assert pay.validator.tolist() == pay.combined.tolist() == [500_000_000, 500_000_000]


def test_logs_active_stake_when_nonzero() -> None:
    """epoch_logs.rs::epoch_uses_active_stake_when_nonzero_active: one active staker
    takes the emission fallback alone."""
    out, pay = logged_epoch([10**9, 10**9], [True, True], [999, 1], block=1000)
    assert out.active.tolist() == [True, False]
    assert out.active_stake.tolist() == [1, 0]
    assert out.pruning_score.tolist() == [1, 0]
    assert pay.validator.tolist() == [10**9, 0]  # upstream's logged Validator Emission


def test_logs_topk_and_permit_mask() -> None:
    """epoch_logs.rs::epoch_topk_validator_permits and
    ::test_validator_permit_masks_active_stake."""
    out, _ = logged_epoch([2 * 10**9, 10**9], [True, True], [1, 1], 1, max_validators=1)
    assert out.stake[0] == pytest.approx(2 / 3)
    assert out.validator_permit.tolist() == [True, False]
    out, _ = logged_epoch([10**9, 10**9], [True, False], [1, 1], block=1)
    assert out.active_stake.tolist() == [1, 0]


async def three_validators_two_servers(kind: str, rows: list[list[int]]):
    """epoch_logs.rs: three equal validators (UIDs 0-2) weight servers 3 and 4."""
    async with open_path(kind, Hyper(max_validators=5, tempo=10)) as net:
        await net.add_neurons([1, 1, 1, 0, 0])
        await net.epoch()  # permits
        await net.next_block()
        for uid, row in enumerate(rows):
            await net.set_weights(uid, [3, 4], row)
        return await net.epoch()


async def test_logs_validators_weight_two_distinct_servers(kind: str) -> None:
    """epoch_logs.rs::test_validators_weight_two_distinct_servers: the minority server
    is clipped to zero; its lone backer earns no dividends."""
    s = await three_validators_two_servers(kind, [[U16_MAX, 0], [0, U16_MAX], [U16_MAX, 0]])
    assert s.consensus == [0, 0, 0, U16_MAX, 0]
    assert s.trust == [0, 0, 0, U16_MAX, 0]
    assert s.incentive == s.rank == [0, 0, 0, U16_MAX, 0]
    assert s.dividends == [32767, 0, 32767, 0, 0]
    assert s.emission == shares([0.25, 0, 0.25, 0.5, 0])


async def test_logs_validator_splits_weight_across_two_servers(kind: str) -> None:
    """epoch_logs.rs::test_validator_splits_weight_across_two_servers."""
    s = await three_validators_two_servers(kind, [[U16_MAX, 0], [0, U16_MAX], [U16_MAX, U16_MAX]])
    assert s.incentive == [0, 0, 0, 32767, 32767]
    assert s.dividends == [16383, 16383, 32767, 0, 0]
    assert s.emission == shares([0.125, 0.125, 0.25, 0.25, 0.25])
