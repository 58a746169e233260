"""Subtensor's classic epoch tests, ported: the numbers are upstream's, run on both paths.

Source: subtensor `pallets/subtensor/src/tests/epoch.rs` (and `epoch_logs.rs`), whose
mock leaves `Yuma3On` off, so these exercise the pre-Yuma3 bonds branch. Each test
names the upstream test it ports and runs twice (`tests/localnet/epoch_paths.py`):
`run_epoch` directly, and the chain through the SDK. Upstream asserts exact u16 values
and rao; the u16 values are asserted exactly here too, emission as a share of the
epoch's emission within 1e-8 (upstream's I32F32 products lose up to ~1e-9 of it, e.g.
274_999_999 rao where 0.275 · 1e9 is exact).
"""

from __future__ import annotations

import pytest

from tests.localnet.epoch_paths import PATHS, Hyper, open_path
from wmnet.localnet.params import U16_MAX

SHARE = 1e-8


@pytest.fixture(params=PATHS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def shares(values: list[float]) -> list[object]:
    return [pytest.approx(v, abs=SHARE) for v in values]


async def test_1_graph(kind: str) -> None:
    """epoch.rs::test_1_graph: one neuron with stake and a self-weight earns no score."""
    async with open_path(kind, Hyper()) as net:
        await net.add_neurons([1])
        await net.next_block()
        await net.set_weights(0, [0], [U16_MAX])
        s = await net.epoch()
        assert (s.rank, s.trust, s.consensus, s.incentive, s.dividends) == ([0],) * 5


async def test_10_graph(kind: str) -> None:
    """epoch.rs::test_10_graph: ten equal stakers with self-weights only; nothing is
    ranked and the emission follows stake (99_999_999 rao of 1e9 each upstream)."""
    async with open_path(kind, Hyper()) as net:
        await net.add_neurons([1] * 10)
        await net.next_block()
        for i in range(10):
            await net.set_weights(i, [i], [U16_MAX])
        s = await net.epoch()
        for key in ("rank", "trust", "consensus", "incentive", "dividends"):
            assert getattr(s, key) == [0] * 10, key
        assert s.emission == shares([0.099_999_999] * 10)
        assert s.paid == s.accrued


async def test_bonds(kind: str) -> None:
    """epoch.rs::test_bonds: the pre-Yuma3 bonds EMA over eight epochs, as validators
    move to self-weights one by one (bonds stored max-upscaled per column)."""
    stakes = [1, 2, 3, 4, 0, 0, 0, 0]
    async with open_path(kind, Hyper(max_validators=8, tempo=1)) as net:
        await net.add_neurons(stakes)
        await net.epoch()  # permits
        await net.next_block()
        ramp = [U16_MAX // 4, U16_MAX // 2, (U16_MAX // 4) * 3, U16_MAX]
        for uid in range(4):
            await net.set_weights(uid, [4, 5, 6, 7], ramp)
        s = await net.epoch()
        assert [row[4] for row in s.bonds[:4]] == [16383, 32767, 49151, 65535]

        await net.set_weights(0, [0], [U16_MAX])  # val1 self-weight only
        await net.next_block()
        s = await net.epoch()
        assert [row[4] for row in s.bonds[:4]] == [14582, 32767, 49151, 65535]

        await net.set_weights(1, [1], [U16_MAX])  # val2 self-weight only
        await net.next_block()
        s = await net.epoch()
        assert [row[4] for row in s.bonds[:4]] == [12603, 28321, 49151, 65535]

        await net.set_weights(2, [2], [U16_MAX])  # val3 self-weight only
        await net.next_block()
        s = await net.epoch()
        assert [row[7] for row in s.bonds[:4]] == [12602, 28320, 49150, 65535]

        await net.set_weights(2, [7], [U16_MAX])  # val3 -> srv4: 1
        await net.next_block()
        s = await net.epoch()
        assert [row[7] for row in s.bonds[:4]] == [10951, 24609, 49150, 65535]

        await net.next_block()
        s = await net.epoch()
        assert [row[7] for row in s.bonds[:4]] == [9559, 21482, 49150, 65535]

        await net.next_block()
        s = await net.epoch()
        assert [row[7] for row in s.bonds[:4]] == [8376, 18824, 49150, 65535]
