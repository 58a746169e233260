"""Subtensor's Yuma3 scenario tests, ported: bonds and dividends epoch by epoch, on both paths.

Source: subtensor `pallets/subtensor/src/tests/epoch.rs`, `setup_yuma_3_scenario` and
the `test_yuma_3_*` tests: three validators and two or three servers, liquid alpha on
with alpha (0.1, 0.3), bonds moving average 975,000, bonds penalty 0, kappa 0.5,
Yuma3 on. Upstream checks dividends within 1e-3 after each epoch; its bond check
zips each stored row with the target row `.skip(3)`, which leaves nothing of a 2- or
3-entry target, so its bond targets are never compared. Here they are: every bond
(a u16 proportion) of each validator on each server within 1e-3, as upstream
intends. On the chain the alpha values are stored as u16 (0.1 → 6,554 / 65,535),
within 1e-5 of upstream's I32F32 values.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.localnet.epoch_paths import PATHS, Hyper, open_path
from wmnet.localnet.params import U16_MAX
from wmnet.localnet.yuma import YumaParams, liquid_alpha

EPS = 1e-3
M = U16_MAX
H = U16_MAX // 2


@pytest.fixture(params=PATHS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


async def run_scenario(
    kind: str,
    stakes: list[int],
    weights_by_epoch: dict[int, list[list[int]]],
    bonds: list[list[list[float]]],
    dividends: list[list[float]],
    *,
    liquid_alpha: bool = True,
) -> None:
    """setup_yuma_3_scenario, then per epoch: the epoch's weights (or the last ones
    again), next block, epoch, and run_epoch_and_check_bonds_dividends."""
    hyper = Hyper(
        max_validators=3,
        bonds_penalty=0,
        kappa=U16_MAX // 2,
        yuma3=True,
        liquid_alpha=True,
        alpha=(0.1, 0.3),
        bonds_moving_average=975_000,
        tempo=1,
    )
    n = len(stakes)
    servers = list(range(3, n))
    async with open_path(kind, hyper) as net:
        await net.add_neurons(stakes)
        await net.next_block()
        await net.epoch()  # permits
        if not liquid_alpha:
            await net.set_liquid_alpha(False)
        rows = weights_by_epoch[0]
        for epoch, (target_bonds, target_dividends) in enumerate(
            zip(bonds, dividends, strict=True)
        ):
            rows = weights_by_epoch.get(epoch, rows)
            for uid, row in enumerate(rows):
                await net.set_weights(uid, servers, row)
            await net.next_block()
            s = await net.epoch()
            for i, target_row in enumerate(target_bonds):
                got = [s.bonds[i][j] / U16_MAX for j in servers]
                assert got == pytest.approx(target_row[-len(servers) :], abs=EPS), (epoch, i)
            got = [d / U16_MAX for d in s.dividends]
            assert got == pytest.approx(target_dividends, abs=EPS), epoch


async def test_yuma_3_kappa_moves_first(kind: str) -> None:
    """Validator A (0.8, kappa) moves first, B (0.1) second, C (0.1) last."""
    await run_scenario(
        kind,
        [8, 1, 1, 0, 0],
        {
            0: [[M, 0]] * 3,
            1: [[0, M], [M, 0], [M, 0]],
            2: [[0, M], [0, M], [M, 0]],
            3: [[0, M]] * 3,
        },
        [
            [[0.1013, 0.0000], [0.1013, 0.0000], [0.1013, 0.0000]],
            [[0.0908, 0.1013], [0.3697, 0.0000], [0.3697, 0.0000]],
            [[0.0815, 0.1924], [0.3170, 0.1013], [0.5580, 0.0000]],
            [[0.0731, 0.2742], [0.2765, 0.1924], [0.4306, 0.1013]],
            [[0.0656, 0.3478], [0.2435, 0.2742], [0.3589, 0.1924]],
            [[0.0588, 0.4139], [0.2157, 0.3478], [0.3089, 0.2742]],
        ],
        [
            [0.8000, 0.1000, 0.1000, 0.0000, 0.0000],
            [1.0000, 0.0000, 0.0000, 0.0000, 0.0000],
            [0.9382, 0.0618, 0.0000, 0.0000, 0.0000],
            [0.8819, 0.0773, 0.0407, 0.0000, 0.0000],
            [0.8564, 0.0844, 0.0592, 0.0000, 0.0000],
            [0.8418, 0.0884, 0.0697, 0.0000, 0.0000],
        ],
    )


async def test_yuma_3_kappa_moves_second(kind: str) -> None:
    """B moves first, A (kappa) second, C last."""
    await run_scenario(
        kind,
        [8, 1, 1, 0, 0],
        {
            0: [[M, 0]] * 3,
            1: [[M, 0], [0, M], [M, 0]],
            2: [[0, M], [0, M], [M, 0]],
            3: [[0, M]] * 3,
        },
        [
            [[0.1013, 0.0000], [0.1013, 0.0000], [0.1013, 0.0000]],
            [[0.1924, 0.0000], [0.0908, 0.2987], [0.1924, 0.0000]],
            [[0.1715, 0.1013], [0.0815, 0.3697], [0.4336, 0.0000]],
            [[0.1531, 0.1924], [0.0731, 0.4336], [0.3608, 0.1013]],
            [[0.1369, 0.2742], [0.0656, 0.4910], [0.3103, 0.1924]],
            [[0.1225, 0.3478], [0.0588, 0.5426], [0.2712, 0.2742]],
        ],
        [
            [0.8000, 0.1000, 0.1000, 0.0000, 0.0000],
            [0.8446, 0.0498, 0.1056, 0.0000, 0.0000],
            [0.6868, 0.3132, 0.0000, 0.0000, 0.0000],
            [0.7421, 0.2090, 0.0489, 0.0000, 0.0000],
            [0.7625, 0.1706, 0.0669, 0.0000, 0.0000],
            [0.7730, 0.1508, 0.0762, 0.0000, 0.0000],
        ],
    )


async def test_yuma_3_kappa_moves_last(kind: str) -> None:
    """B moves first, C second, A (kappa) last."""
    await run_scenario(
        kind,
        [8, 1, 1, 0, 0],
        {
            0: [[M, 0]] * 3,
            1: [[M, 0], [0, M], [M, 0]],
            2: [[M, 0], [0, M], [0, M]],
            3: [[0, M]] * 3,
        },
        [
            [[0.1013, 0.0000], [0.1013, 0.0000], [0.1013, 0.0000]],
            [[0.1924, 0.0000], [0.0908, 0.2987], [0.1924, 0.0000]],
            [[0.2742, 0.0000], [0.0815, 0.5081], [0.1715, 0.2987]],
            [[0.2416, 0.1013], [0.0731, 0.5580], [0.1531, 0.3697]],
            [[0.2141, 0.1924], [0.0656, 0.6028], [0.1369, 0.4336]],
            [[0.1903, 0.2742], [0.0588, 0.6430], [0.1225, 0.4910]],
        ],
        [
            [0.8000, 0.1000, 0.1000, 0.0000, 0.0000],
            [0.8446, 0.0498, 0.1056, 0.0000, 0.0000],
            [0.8966, 0.0333, 0.0701, 0.0000, 0.0000],
            [0.4663, 0.3210, 0.2127, 0.0000, 0.0000],
            [0.5976, 0.2340, 0.1683, 0.0000, 0.0000],
            [0.6592, 0.1932, 0.1475, 0.0000, 0.0000],
        ],
    )


ONE_EPOCH_SWITCH = {0: [[M, 0]] * 3, 2: [[M, 0], [M, 0], [0, M]], 3: [[M, 0]] * 3}


async def test_yuma_3_one_epoch_switch(kind: str) -> None:
    """Equal validators; C switches to server 2 for one epoch."""
    await run_scenario(
        kind,
        [33, 33, 34, 0, 0],
        ONE_EPOCH_SWITCH,
        [
            [[0.1013, 0.0000], [0.1013, 0.0000], [0.1013, 0.0000]],
            [[0.1924, 0.0000], [0.1924, 0.0000], [0.1924, 0.0000]],
            [[0.2742, 0.0000], [0.2742, 0.0000], [0.1715, 0.2987]],
            [[0.3478, 0.0000], [0.3478, 0.0000], [0.2554, 0.2618]],
            [[0.4139, 0.0000], [0.4139, 0.0000], [0.3309, 0.2312]],
            [[0.4733, 0.0000], [0.4733, 0.0000], [0.3987, 0.2051]],
        ],
        [
            [0.3300, 0.3300, 0.3400, 0.0000, 0.0000],
            [0.3300, 0.3300, 0.3400, 0.0000, 0.0000],
            [0.3782, 0.3782, 0.2436, 0.0000, 0.0000],
            [0.3628, 0.3628, 0.2745, 0.0000, 0.0000],
            [0.3541, 0.3541, 0.2917, 0.0000, 0.0000],
            [0.3487, 0.3487, 0.3026, 0.0000, 0.0000],
        ],
    )


async def test_yuma_3_liquid_alpha_disabled(kind: str) -> None:
    """The one-epoch switch with liquid alpha off: alpha = 1 - 0.975."""
    await run_scenario(
        kind,
        [33, 33, 34, 0, 0],
        ONE_EPOCH_SWITCH,
        [
            [[0.0000, 0.0250, 0.0000], [0.0000, 0.0250, 0.0000], [0.0000, 0.0250, 0.0000]],
            [[0.0000, 0.0494, 0.0000], [0.0000, 0.0494, 0.0000], [0.0000, 0.0494, 0.0000]],
            [[0.0000, 0.0731, 0.0000], [0.0000, 0.0731, 0.0000], [0.0000, 0.0481, 0.0250]],
            [[0.0000, 0.0963, 0.0000], [0.0000, 0.0963, 0.0000], [0.0000, 0.0719, 0.0244]],
            [[0.0000, 0.1189, 0.0000], [0.0000, 0.1189, 0.0000], [0.0000, 0.0951, 0.0238]],
            [[0.0000, 0.1409, 0.0000], [0.0000, 0.1409, 0.0000], [0.0000, 0.1178, 0.0232]],
        ],
        [
            [0.3300, 0.3300, 0.3400, 0.0000, 0.0000],
            [0.3300, 0.3300, 0.3400, 0.0000, 0.0000],
            [0.3734, 0.3734, 0.2532, 0.0000, 0.0000],
            [0.3611, 0.3611, 0.2779, 0.0000, 0.0000],
            [0.3541, 0.3541, 0.2919, 0.0000, 0.0000],
            [0.3495, 0.3495, 0.3009, 0.0000, 0.0000],
        ],
        liquid_alpha=False,
    )


async def test_yuma_3_stable_miner(kind: str) -> None:
    """Three servers; the third keeps half of every validator's weight throughout."""
    await run_scenario(
        kind,
        [8, 1, 1, 0, 0, 0],
        {
            0: [[H, 0, H]] * 3,
            1: [[H, 0, H], [0, H, H], [H, 0, H]],
            2: [[0, H, H], [0, H, H], [H, 0, H]],
            3: [[0, H, H]] * 3,
        },
        [
            [[0.0507, 0.0000, 0.0507], [0.0507, 0.0000, 0.0507], [0.0507, 0.0000, 0.0507]],
            [[0.0962, 0.0000, 0.0962], [0.0455, 0.1000, 0.0962], [0.0962, 0.0000, 0.0962]],
            [[0.0863, 0.0507, 0.1371], [0.0408, 0.1405, 0.1371], [0.1770, 0.0000, 0.1371]],
            [[0.0774, 0.0962, 0.1739], [0.0367, 0.1770, 0.1739], [0.1579, 0.0507, 0.1739]],
            [[0.0694, 0.1371, 0.2069], [0.0329, 0.2097, 0.2069], [0.1411, 0.0962, 0.2069]],
            [[0.0623, 0.1739, 0.2366], [0.0296, 0.2391, 0.2366], [0.1263, 0.1371, 0.2366]],
        ],
        [
            [0.8000, 0.1000, 0.1000, 0.0000, 0.0000, 0.0000],
            [0.8226, 0.0745, 0.1028, 0.0000, 0.0000, 0.0000],
            [0.7750, 0.1685, 0.0565, 0.0000, 0.0000, 0.0000],
            [0.7864, 0.1372, 0.0764, 0.0000, 0.0000, 0.0000],
            [0.7912, 0.1241, 0.0847, 0.0000, 0.0000, 0.0000],
            [0.7937, 0.1173, 0.0890, 0.0000, 0.0000, 0.0000],
        ],
    )


def test_liquid_alpha_equal_values_against_itself() -> None:
    """epoch.rs::test_liquid_alpha_equal_values_against_itself: liquid alpha with
    alpha_low == alpha_high == u16::MAX / 10 gives the bonds the plain EMA with
    BondsMovingAverage 900,000 gives (upstream's inputs, within 1e-3)."""
    weights = np.array([[0, 0.1, 0, 0], [0.2, 0.4, 0, 0.3], [0.1, 0, 0.4, 0.5]])
    bonds = np.array([[0.1, 0.1, 0.5, 0], [0, 0.4, 0.5, 0.1], [0.1, 0, 0.4, 0.2]])
    consensus = np.array([0.3, 0.2, 0.1, 0.4])
    a = (U16_MAX // 10) / U16_MAX
    params = YumaParams(liquid_alpha_enabled=True, alpha_low=a, alpha_high=a)
    alpha = liquid_alpha(weights, bonds, consensus, params)
    on = np.minimum((1 - alpha) * bonds + alpha * weights, 1.0)  # mat_ema_alpha
    off = 0.1 * weights + 0.9 * bonds  # mat_ema, alpha = 1 - 900_000 / 1e6
    np.testing.assert_allclose(on, off, atol=1e-3)
