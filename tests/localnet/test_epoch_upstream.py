"""Subtensor's classic epoch tests, ported: the numbers are upstream's, run on both paths.

Source: subtensor `pallets/subtensor/src/tests/epoch.rs`, whose mock leaves `Yuma3On`
off, so these exercise the pre-Yuma3 bonds branch (its `epoch_logs.rs` tests are in
`test_epoch_upstream_logs.py`, its Yuma3 scenarios in `test_epoch_upstream_yuma3.py`). Each test
names the upstream test it ports and runs twice (`tests/localnet/epoch_paths.py`):
`run_epoch` directly, and the chain through the SDK. Upstream asserts exact u16 values
and rao; the u16 values are asserted exactly here too, emission as a share of the
epoch's emission within 1e-8 on both paths, and to the rao upstream pins (e.g.
274_999_999 where 0.275 · 1e9 is exact: I32F32 truncation) where the epoch pays
upstream's 1e9.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.localnet.epoch_paths import (
    PATHS,
    SHARE,
    DirectPath,
    Hyper,
    assert_dust_only,
    assert_upstream_rao,
    open_path,
    shares,
)
from wmnet.localnet.params import U16_MAX


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
        assert_upstream_rao(s, list(range(10)), [99_999_999] * 10)
        assert_dust_only(s)


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


def distribute_nodes(validators: int, n: int, interleave: int) -> tuple[list[int], list[int]]:
    """epoch.rs::distribute_nodes: validators blockwise first (0), every n/validators-th
    UID (1), or a random permutation (2; seeded here, thread_rng upstream)."""
    if interleave == 0:
        return list(range(validators)), list(range(validators, n))
    if interleave == 1:
        step = n // validators
        return [i for i in range(n) if i % step == 0], [i for i in range(n) if i % step]
    order = np.random.default_rng(interleave).permutation(n).tolist()
    return sorted(order[:validators]), sorted(order[validators:])


async def run_graph(
    net, validators: list[int], servers: list[int], epochs: int, server_self: bool, weights
) -> None:
    """epoch.rs::init_run_epochs: stake on validators only, a permit epoch, one block,
    validators weight every server (servers self-weight when `server_self`), epochs."""
    n = len(validators) + len(servers)
    members = set(validators)
    await net.add_neurons([1 if uid in members else 0 for uid in range(n)])
    await net.epoch()  # permits
    await net.next_block()
    for uid in validators:
        await net.set_weights(uid, servers, weights(uid))
    if server_self:
        for uid in servers:
            await net.set_weights(uid, [uid], [U16_MAX])
    for _ in range(epochs):
        s = await net.epoch()
    return s


def check_512(s, validators: list[int], servers: list[int]) -> None:
    """test_512_graph's expectations: validators split dividends evenly, servers rank
    evenly, the first validator's bond on the first server max-upscaled to 65535."""
    v0, s0 = validators[0], servers[0]
    for uid in validators:
        assert (s.rank[uid], s.trust[uid], s.consensus[uid], s.incentive[uid]) == (0, 0, 0, 0)
        assert s.dividends[uid] == 1023  # floor(1 / 64 * 65_535)
        assert s.emission[uid] == pytest.approx(0.007_812_5, abs=SHARE)  # 0.5 / 64
        assert_upstream_rao(s, [uid], [7_812_500])
        assert (s.bonds[uid][v0], s.bonds[uid][s0]) == (0, U16_MAX)
    for uid in servers:
        assert (s.rank[uid], s.trust[uid], s.consensus[uid]) == (146, U16_MAX, 146)
        assert (s.incentive[uid], s.dividends[uid]) == (146, 0)  # floor(65_535 / 448)
        assert s.emission[uid] == pytest.approx(0.001_116_071, abs=SHARE)  # 0.5 / 448
        assert_upstream_rao(s, [uid], [1_116_071])
        assert (s.bonds[uid][v0], s.bonds[uid][s0]) == (0, 0)


# A 512-UID graph on the chain is 640 extrinsics and 2,000+ blocks (7-20 s on the shared
# 2-core machine): slow, and run for one case of each interleaving rather than all six.
GRAPH_CASES = [("direct", i, self_weights) for i in range(3) for self_weights in (False, True)]
GRAPH_CASES += [
    pytest.param("chain", i, self_weights, marks=pytest.mark.slow)
    for i, self_weights in ((0, False), (1, True), (2, True))
]
# Room for 512 registrations and weights between two of the chain's epochs.
GRAPH_TEMPO = 700


def equal_row(uid: int) -> list[int]:
    return [U16_MAX // 512] * 448


@pytest.mark.parametrize(("kind", "interleave", "server_self"), GRAPH_CASES)
async def test_512_graph(kind: str, interleave: int, server_self: bool) -> None:
    """epoch.rs::test_512_graph: 64 equal validators weight all 448 servers equally
    (servers self-weighting or not) for three epochs, every interleaving of UIDs."""
    validators, servers = distribute_nodes(64, 512, interleave)
    hyper = Hyper(max_validators=64, tempo=U16_MAX - 1)
    # Equal validators stay equal as the chain stakes their dividends: no unstaking.
    async with open_path(kind, hyper, tempo=GRAPH_TEMPO, keep_stakes=False) as net:
        s = await run_graph(net, validators, servers, 3, server_self, equal_row)
        check_512(s, validators, servers)


def random_rows(seed: int, servers: int):
    """init_run_epochs' random weights: uniform u16 per server, then normalize_weights
    (each scaled to sum to u16::MAX, integer division), a fresh draw per validator."""
    rng = np.random.default_rng(seed)

    def row(uid: int) -> list[int]:
        w = rng.integers(0, U16_MAX, servers)
        return [int(x) * U16_MAX // int(w.sum()) for x in w]

    return row


@pytest.mark.slow
@pytest.mark.parametrize("bonds_penalty", [0, U16_MAX // 2, U16_MAX])
async def test_512_graph_random_weights(bonds_penalty: int) -> None:
    """epoch.rs::test_512_graph_random_weights: upstream runs one random graph through its
    dense and its sparse epoch and asserts every stored value equal; here the two
    implementations compared are run_epoch directly and the chain through the SDK."""
    validators, servers = distribute_nodes(64, 512, 2)
    hyper = Hyper(max_validators=64, bonds_penalty=bonds_penalty, tempo=U16_MAX - 1)
    snaps = []
    for kind in PATHS:
        async with open_path(kind, hyper, tempo=GRAPH_TEMPO) as net:
            rows = random_rows(bonds_penalty, len(servers))
            snaps.append(await run_graph(net, validators, servers, 1, True, rows))
    direct, chain = snaps
    v0, s0 = validators[0], servers[0]
    for key in ("rank", "incentive", "dividends", "consensus", "trust", "pruning_score"):
        assert getattr(direct, key) == getattr(chain, key), key
    assert chain.emission == shares(direct.emission)
    assert [r[v0] for r in direct.bonds] == [r[v0] for r in chain.bonds]
    assert [r[s0] for r in direct.bonds] == [r[s0] for r in chain.bonds]
    assert any(direct.dividends) and any(direct.incentive)


async def test_active_stake(kind: str) -> None:
    """epoch.rs::test_active_stake: validators whose weights are older than the activity
    cutoff lose their stake for the epoch; the one that updates takes the bonds lead."""
    async with open_path(kind, Hyper(max_validators=4, tempo=1)) as net:
        await net.add_neurons([1, 1, 1, 1])
        await net.epoch()  # permits
        await net.next_block()
        half = [U16_MAX // 2, U16_MAX // 2]
        for uid in (0, 1):
            await net.set_weights(uid, [2, 3], half)
        s = await net.epoch()
        assert s.dividends[:2] == [32767, 32767]  # floor(0.5 * 65_535)
        assert s.emission == shares([0.25] * 4)
        assert_upstream_rao(s, [0, 1, 2, 3], [250_000_000] * 4)
        for row in s.bonds[:2]:
            assert row == [0, 0, U16_MAX, U16_MAX]

        # Past the cutoff both validators are inactive; validator 0 updates.
        await net.next_block(await net.activity_cutoff() + 1)
        await net.set_weights(0, [2, 3], half)
        s = await net.epoch()
        assert s.dividends[:2] == [36044, 29490]  # floor(0.55 · 65_535), floor(0.45 · …)
        assert s.emission[:2] == shares([0.275, 0.225])
        assert_upstream_rao(s, [0, 1], [274_999_999, 224_999_999])
        assert s.bonds[0][2:] == [U16_MAX, U16_MAX]
        assert s.bonds[1][2:] == [53619, 53619]  # floor(0.45 / 0.55 · 65_535)

        # Validator 1 updates too.
        await net.set_weights(1, [2, 3], half)
        await net.next_block()
        s = await net.epoch()
        assert s.dividends[:2] == [35716, 29818]
        assert s.emission[:2] == shares([0.272_501_132, 0.227_498_866])
        assert_upstream_rao(s, [0, 1], [272_501_132, 227_498_866])
        assert s.bonds[0][2:] == [U16_MAX, U16_MAX]
        assert s.bonds[1][2:] == [54712, 54712]


async def test_outdated_weights(kind: str) -> None:
    """epoch.rs::test_outdated_weights: a server deregistered and replaced; weights to it
    set before the new registration no longer count, bonds on it no longer pay."""
    third = U16_MAX // 3
    async with open_path(kind, Hyper(max_validators=4, tempo=0)) as net:
        await net.add_neurons([1, 1, 1, 1])
        await net.epoch()  # permits
        await net.next_block()
        for uid in (0, 1):
            await net.set_weights(uid, [2, 3], [2 * third, third])
        for uid in (2, 3):
            await net.set_weights(uid, [uid], [U16_MAX])  # servers' self-weights
        s = await net.epoch()
        assert min(range(4), key=s.pruning_score.__getitem__) == 3  # a third of the weight

        assert await net.register_new() == 3  # the least pruning score goes
        await net.next_block()
        await net.set_weights(0, [2, 3], [2 * third, third])
        s = await net.epoch()
        assert s.dividends[0] == 32767  # floor(0.5 · 65_535)
        assert s.emission[0] == pytest.approx(0.25, abs=SHARE)
        assert_upstream_rao(s, [0], [250_000_000])
        assert s.bonds[0][2] == U16_MAX
        # Upstream runs this at tempo 0, where `last_tempo = block - tempo` is the current
        # block, so the bond column of a UID registered a block earlier survives: 65_535.
        # The chain runs epochs (tempo >= 1) and resets bonds to UIDs registered since its
        # last epoch, as subtensor does whenever an epoch can run at all: 0.
        assert s.bonds[0][3] == (U16_MAX if kind == "direct" else 0)


async def test_zero_weights(kind: str) -> None:
    """epoch.rs::test_zero_weights: with no weights, self-weights only or outdated weights,
    all incentive is zero and the validator is paid the whole emission."""
    async with open_path(kind, Hyper(max_validators=2, tempo=U16_MAX - 1)) as net:
        await net.add_neurons([1, 0])
        s = await net.epoch()  # no weights: everything to the staker
        assert s.emission == shares([1.0, 0.0])
        assert_upstream_rao(s, [0, 1], [1_000_000_000, 0])
        assert_dust_only(s)
        await net.next_block()

        await net.set_weights(1, [1], [U16_MAX])  # the server's self-weight only
        s = await net.epoch()
        assert s.emission == shares([1.0, 0.0])
        assert_upstream_rao(s, [0, 1], [1_000_000_000, 0])
        await net.next_block()

        await net.set_weights(0, [1], [U16_MAX])
        assert await net.register_new() == 1  # weights now point at a previous holder
        s = await net.epoch()
        assert s.emission == shares([1.0, 0.0])
        assert_upstream_rao(s, [0, 1], [1_000_000_000, 0])
        assert s.incentive == [0, 0]
        await net.next_block()

        await net.set_weights(0, [1], [U16_MAX])  # fresh weights earn incentive again
        s = await net.epoch()
        assert s.emission == shares([0.5, 0.5])
        assert_upstream_rao(s, [0, 1], [500_000_000, 500_000_000])
        assert_dust_only(s)


async def test_deregistered_miner_bonds(kind: str) -> None:
    """epoch.rs::test_deregistered_miner_bonds: bonds on a UID re-registered since the
    last epoch are cleared before the EMA; the other server's bond does not fall."""
    third = U16_MAX // 3
    high = U16_MAX - 1
    async with open_path(kind, Hyper(max_validators=4, tempo=high)) as net:
        await net.add_neurons([1, 1, 1, 1])
        await net.epoch()  # permits
        await net.next_block()
        for uid in (0, 1):
            await net.set_weights(uid, [2, 3], [2 * third, third])
        await net.next_block(2)
        await net.mask_tempo(2)
        s = await net.epoch()
        before = s.bonds[0][2], s.bonds[0][3]
        assert min(before) > 0

        await net.mask_tempo(high)
        await net.next_block()
        # Upstream sets these weights in the block of the registration (so they are
        # outdated towards UID 3); on the chain each call has its own block, so they
        # are sent first: either way they are not newer than the registration.
        for uid in (0, 1):
            await net.set_weights(uid, [2, 3], [2 * third, third])
        assert await net.register_new() == 3
        await net.next_block()
        await net.mask_tempo(2)
        s = await net.epoch()
        assert s.bonds[0][2] >= before[0]
        assert s.bonds[0][3] <= before[1]


VALIDATOR_PERMIT_CASES = [
    (interleave, n, v, assignment)
    for interleave in range(3)
    for n, v in ((2, 1), (4, 2), (8, 4))
    for assignment in (0, 1)
]


@pytest.mark.parametrize(("interleave", "n", "v", "assignment"), VALIDATOR_PERMIT_CASES)
async def test_validator_permits(kind: str, interleave: int, n: int, v: int, assignment: int):
    """epoch.rs::test_validator_permits: permits go to the top-k stakes at or above the
    stake threshold, and move to the servers once they out-stake the validators."""
    validators, servers = distribute_nodes(v, n, interleave)
    stake = [0] * n
    for uid in validators:
        stake[uid] = uid + n if assignment else 1
    for uid in servers:
        stake[uid] = uid if assignment else 0
    hyper = Hyper(max_validators=v, stake_threshold=v, tempo=U16_MAX - 1)
    async with open_path(kind, hyper) as net:
        await net.add_neurons(stake)
        s = await net.epoch()
        for uid in validators:
            assert s.validator_permit[uid] == (stake[uid] >= v)
        assert not any(s.validator_permit[uid] for uid in servers)

        for uid in servers:
            await net.add_stake(uid, 2 * n)
        await net.next_block()
        s = await net.epoch()
        assert not any(s.validator_permit[uid] for uid in validators)
        for uid in servers:
            assert s.validator_permit[uid] == (stake[uid] + 2 * n >= v)


async def test_epoch_outputs_single_staker_registered_no_weights(kind: str) -> None:
    """epoch.rs::test_epoch_outputs_single_staker_registered_no_weights: a lone staker
    with no weights; upstream allows 1,000 rao lost of 1e9 (I32F32 truncation)."""
    async with open_path(kind, Hyper(tempo=U16_MAX - 1)) as net:
        await net.add_neurons([1])
        s = await net.epoch()
        assert s.emission == shares([1.0])
        assert_upstream_rao(s, [0], [1_000_000_000])  # within upstream's 1,000: exact
        assert_dust_only(s)


async def test_can_set_self_weight_as_subnet_owner(kind: str) -> None:
    """epoch.rs::test_can_set_self_weight_as_subnet_owner: the owner's self-weight is not
    masked (mask_diag_sparse_except_index), so the owner and the other hotkey it weights
    equally earn equal, non-zero incentive. On the chain the owner is UID 0 by nature."""
    half = U16_MAX // 2
    if kind == "direct":
        net = DirectPath(Hyper(), owner_uid=0)
        await net.add_neurons([5_000, 0])
        net.permit = [True, False]
        await net.next_block()
        await net.set_weights(0, [0, 1], [half, half])
        s = await net.epoch()
        incentive, server = s.incentive, s.server_emission
    else:
        async with open_path(kind, Hyper()) as net:
            await net.add_neurons([0])  # the other hotkey: chain UID 1
            await net.stake_owner(5_000)
            await net.epoch()  # the owner's permit
            await net.set_owner_weights([0, 1], [half, half])
            await net.epoch()
            epoch_block = net.chain.state.subnets[net.netuid].last_epoch_block
            graph = await net.client.subnets.metagraph(net.netuid)
            incentive = [int(x) for x in graph.raw["incentives"][:2]]
            rows = net.chain.epoch_history(net.netuid, since_block=epoch_block)
            server = [row["server_emission"] for row in rows if row["block"] == epoch_block][:2]
    assert incentive[0] == incentive[1] > 0
    if kind == "direct":  # upstream's epoch() output: equal server emission
        assert server[0] == pytest.approx(server[1], abs=1e-9)
        assert server[0] > 0
    else:  # paid out: the owner's own incentive is burned (owner_immune_hotkeys_on_subnet)
        assert server[0] == 0 < server[1]
