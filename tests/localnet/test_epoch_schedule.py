"""Epochs run in the blocks subtensor's stateful scheduler picks, read through the SDK.

subtensor (`run_coinbase/drain_pending_emissions.rs`): a new subnet's `LastEpochBlock`
is its registration block less `netuid % tempo`; an epoch is due once `tempo` blocks
have passed since it (period `tempo`, not `tempo + 1`), at a `PendingEpochAt` block, or
when `BlocksSinceLastStep` passes the tempo; every subnet runs it, started or not; at
most `MaxEpochsPerBlock` run in one block and the rest wait a block; setting the tempo
restarts the cycle. `get_next_epoch_start_block` answers `LastEpochBlock + tempo`.
"""

from __future__ import annotations

import bittensor as bt
import pytest

from tests.localnet.conftest import make_subnet, register_raw, sudo, wallet
from wmnet.localnet.block import _run_epochs
from wmnet.localnet.chain import Chain
from wmnet.localnet.params import MAX_EPOCHS_PER_BLOCK
from wmnet.localnet.state import ChainState, Subnet


def epoch_blocks(chain: Chain, netuid: int) -> list[int]:
    return sorted({row["block"] for row in chain.epoch_history(netuid)})


async def test_epochs_follow_last_epoch_block_every_tempo(client: bt.Client, chain: Chain):
    owner = wallet("//Alice", "owner")
    result = await client.execute(bt.RegisterSubnet(), owner)
    assert result.success, result.message
    netuid, registered = result.data["netuid"], chain.head
    tempo = await client.query(("SubtensorModule", "Tempo"), [netuid])
    last = await client.query(("SubtensorModule", "LastEpochBlock"), [netuid])
    assert last == registered - netuid % tempo  # init_new_network's stagger

    status = await client.epochs.epoch_status(netuid)
    assert status["next_epoch_start_block"] == last + tempo
    chain.advance(4 * tempo)
    blocks = epoch_blocks(chain, netuid)
    # Not started yet, the subnet still runs its epochs (nothing to pay), every tempo.
    assert blocks[0] == last + tempo
    assert [b - a for a, b in zip(blocks, blocks[1:], strict=False)] == [tempo] * (len(blocks) - 1)
    status = await client.epochs.epoch_status(netuid)
    assert status["last_epoch_block"] == blocks[-1]
    assert status["next_epoch_start_block"] == blocks[-1] + tempo
    assert status["epoch_index"] == len(blocks)
    graph = await client.subnets.metagraph(netuid)
    assert graph.last_step == blocks[-1]
    assert graph.blocks_since_last_step == chain.head - blocks[-1]
    assert all(n.emission.rao == 0 for n in graph.neurons)  # nothing accrues before start


@pytest.mark.parametrize("tempo", [7, 20])
async def test_setting_the_tempo_restarts_the_cycle(client: bt.Client, chain: Chain, tempo: int):
    """`sudo_set_tempo` sets LastEpochBlock to its block, so `get_next_epoch_start_block`
    says `tempo` blocks on; BlocksSinceLastStep still counts from the last epoch that
    ran, and its safety net (`> tempo`) runs the epoch first when that comes sooner."""
    subnet = await make_subnet(client, chain)
    last_run = epoch_blocks(chain, subnet.netuid)[-1]
    chain.advance(last_run + 4 - chain.head)
    await sudo(client, "sudo_set_tempo", netuid=subnet.netuid, tempo=tempo)
    set_at = chain.head
    assert await client.query(("SubtensorModule", "LastEpochBlock"), [subnet.netuid]) == set_at
    assert await client.epochs.next_epoch_start_block(subnet.netuid) == set_at + tempo
    chain.advance(2 * tempo + 2)
    ran = [b for b in epoch_blocks(chain, subnet.netuid) if b > set_at]
    assert ran[0] == min(set_at + tempo, last_run + tempo + 1)
    assert ran[1] == ran[0] + tempo


async def test_epochs_pay_from_the_block_after_start(client: bt.Client, chain: Chain):
    subnet = await make_subnet(client, chain)
    assert (await register_raw(client, subnet.netuid, wallet("//Bob", "m"))).success
    chain.advance(2 * 10)
    rows = [r for r in chain.epoch_history(subnet.netuid) if r["emission"] > 0]
    assert rows, "a started subnet's epochs pay"


def _due_subnets(count: int, block: int) -> ChainState:
    state = ChainState(block=block)
    for netuid in range(1, count + 1):
        state.subnets[netuid] = Subnet(
            netuid=netuid,
            owner_coldkey="c",
            owner_hotkey=f"h{netuid}",
            registered_at=0,
            locked=0,
            last_epoch_block=block - 10,  # all due at `block` (tempo 10)
        )
    return state


def test_at_most_max_epochs_per_block_run_and_the_rest_wait_a_block():
    block = 100
    state = _due_subnets(MAX_EPOCHS_PER_BLOCK + 2, block)
    events: list = []
    _run_epochs(state, block, set(), events)
    ran = [n for n, s in state.subnets.items() if s.last_epoch_block == block]
    deferred = [e for e in events if e["event"]["event_id"] == "EpochDeferred"]
    assert ran == list(range(1, MAX_EPOCHS_PER_BLOCK + 1))  # netuid order
    assert [e["event"]["attributes"][0] for e in deferred] == [
        MAX_EPOCHS_PER_BLOCK + 1,
        MAX_EPOCHS_PER_BLOCK + 2,
    ]
    late = state.subnets[MAX_EPOCHS_PER_BLOCK + 1]
    assert late.pending_epoch_at == block + 1

    _run_epochs(state, block + 1, set(), [])
    assert late.last_epoch_block == block + 1 and late.pending_epoch_at == 0
    assert state.subnets[1].last_epoch_block == block  # not due again for a tempo


async def test_yuma3_is_on_for_new_subnets_and_off_where_never_initialised(
    client: bt.Client, chain: Chain
):
    """`init_new_network` writes `Yuma3On = true`; the item's own default is false."""
    subnet = await make_subnet(client, chain)
    yuma3 = ("SubtensorModule", "Yuma3On")
    assert await client.query(yuma3, [subnet.netuid]) in (True, 1)
    assert await client.query(yuma3, [99]) in (False, 0)
    validators = ("SubtensorModule", "MaxAllowedValidators")
    assert await client.query(validators, [subnet.netuid]) == 64
    assert await client.query(validators, [99]) == 128  # SubtensorInitialMaxAllowedValidators
