"""Persistence: a restart resumes at the same block; a crash mid-block loses
nothing committed and leaves nothing half-written."""

from __future__ import annotations

import sqlite3

import pytest

from wmnet.localnet.chain import Chain
from wmnet.localnet.codec import ComposedCall, SignedExtrinsic
from wmnet.localnet.keys import dev_keypair


def _transfer(chain: Chain, value: int) -> SignedExtrinsic:
    alice, bob = dev_keypair("//Alice"), dev_keypair("//Bob")
    call = ComposedCall(
        "Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": value}
    )
    nonce = chain.next_nonce(alice.ss58_address)
    payload = SignedExtrinsic.payload(call, alice.ss58_address, nonce, chain.state.genesis_hash)
    return SignedExtrinsic(
        call, alice.ss58_address, nonce, alice.sign(payload), chain.state.genesis_hash
    )


def test_restart_resumes_state_and_block(tmp_path):
    path = tmp_path / "chain.db"
    chain = Chain(path)
    assert chain.submit(_transfer(chain, 5 * 10**9)).success
    chain.advance(7)
    head, balances = chain.head, {a: v.free for a, v in chain.state.accounts.items()}
    chain.close()

    again = Chain(path)
    assert again.head == head
    assert {a: v.free for a, v in again.state.accounts.items()} == balances
    assert again.block(head)["hash"] == again.block_hash(head)
    again.close()


def test_crash_mid_block_keeps_the_last_committed_block(tmp_path, monkeypatch):
    path = tmp_path / "chain.db"
    chain = Chain(path)
    assert chain.submit(_transfer(chain, 10**9)).success
    committed_head = chain.head
    bob = dev_keypair("//Bob").ss58_address
    committed_bob = chain.state.account(bob).free

    # Die in the middle of the block's transaction: after its block row and
    # journal are written, before the snapshot that block is due to write.
    chain.snapshot_every = 1
    original = sqlite3.Connection.execute

    def crash_on_state_write(self, sql, *args):
        if sql.startswith("INSERT OR REPLACE INTO snapshots"):
            raise OSError("power cut")
        return original(self, sql, *args)

    monkeypatch.setattr(chain.store, "_db", _Proxy(chain.store._db, crash_on_state_write))
    with pytest.raises(OSError, match="power cut"):
        chain.submit(_transfer(chain, 3 * 10**9))
    # The live chain rolled back with the database.
    assert chain.head == committed_head
    assert chain.state.account(bob).free == committed_bob
    chain.store._db = chain.store._db.inner  # type: ignore[attr-defined]
    chain.close()

    reopened = Chain(path)
    assert reopened.head == committed_head  # the half-written block is gone
    assert reopened.block(committed_head + 1) is None
    assert reopened.state.account(bob).free == committed_bob
    # And the chain carries on from there.
    assert reopened.submit(_transfer(reopened, 10**9)).success
    assert reopened.head == committed_head + 1
    reopened.close()


class _Proxy:
    """Wraps a sqlite3 connection so one statement can be made to fail."""

    def __init__(self, inner: sqlite3.Connection, execute):
        self.inner = inner
        self._execute = execute

    def execute(self, sql, *args):
        return self._execute(self.inner, sql, *args)

    def __getattr__(self, name):
        return getattr(self.inner, name)
