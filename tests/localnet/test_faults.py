"""No handler or epoch can stop the block producer: a call that raises is
included as a failed extrinsic, an epoch that raises is skipped, blocks stay
contiguous, and a restart replays to the same state."""

from __future__ import annotations

import pytest

from tests.localnet.helpers import assert_contiguous, sign, transfer
from wmnet.localnet import block as block_module
from wmnet.localnet.calls import HANDLERS
from wmnet.localnet.chain import Chain
from wmnet.localnet.keys import dev_keypair


@pytest.fixture
def broken_transfer(monkeypatch):
    """Make transfer_allow_death raise a bug (not a DispatchError) mid-mutation."""
    original = HANDLERS.get(("Balances", "transfer_allow_death"))

    def bug(ctx, dest, value):
        ctx.state.account(ctx.origin).free -= 1  # half-done mutation, then a crash
        raise ZeroDivisionError("a bug in a handler")

    monkeypatch.setitem(HANDLERS._entries, ("Balances", "transfer_allow_death"), bug)
    yield
    assert original is not None


def test_a_raising_handler_becomes_a_failed_extrinsic(tmp_path, broken_transfer):
    chain = Chain(tmp_path / "c.db")
    alice = dev_keypair("//Alice").ss58_address
    before = chain.state.account(alice).free
    bob = dev_keypair("//Bob").ss58_address
    bad = sign(chain, "//Alice", "Balances", "transfer_allow_death", {"dest": bob, "value": 5})
    receipt = chain.submit(bad)
    assert receipt.included and not receipt.success
    assert receipt.error_name == "Other"
    # Only the fee was taken: the handler's half-done change was rolled back.
    assert chain.state.account(alice).free == before - receipt.fee
    assert chain.submit(transfer(chain)).success
    chain.advance(3)
    assert_contiguous(chain)
    state = chain.state.model_dump()
    chain.store.close()  # as kill -9: no closing snapshot, the restart replays the journal
    again = Chain(tmp_path / "c.db")
    assert again.state.model_dump() == state
    again.close()


def test_a_raising_epoch_is_skipped_and_the_chain_goes_on(tmp_path, monkeypatch):
    from tests.localnet.test_bounds import started_subnet

    chain = Chain(tmp_path / "c.db")
    netuid = started_subnet(chain)

    healthy, since = block_module.run_subnet_epoch, chain.head

    def bug(state, subnet, number):
        if number <= since:  # epochs already sealed replay as they ran
            return healthy(state, subnet, number)
        subnet.pending_server = -1  # half-done, then a crash
        raise FloatingPointError("a bug in an epoch")

    monkeypatch.setattr(block_module, "run_subnet_epoch", bug)
    chain.advance(25)
    events = [e for n in range(1, chain.head + 1) for e in chain.block(n)["events"]]
    skipped = [e for e in events if e["event"]["event_id"] == "EpochSkipped"]
    assert skipped and all(e["event"]["attributes"][0] == netuid for e in skipped)
    assert chain.state.subnets[netuid].pending_server >= 0
    assert chain.submit(transfer(chain)).success
    assert_contiguous(chain)
    state = chain.state.model_dump()
    chain.store.close()  # as kill -9: no closing snapshot, the restart replays the journal
    again = Chain(tmp_path / "c.db")
    assert again.state.model_dump() == state
    again.close()
