"""Reaching a served chain from the SDK in one call; opening an older state file."""

from __future__ import annotations

import json
import sqlite3

import bittensor as bt
import pytest

import wmnet.localnet
from tests.localnet.helpers import transfer
from tests.localnet.served_thread import served
from wmnet.localnet.chain import Chain, genesis_state
from wmnet.localnet.keys import dev_keypair


@pytest.mark.asyncio
async def test_connect_returns_an_sdk_client_for_a_served_chain():
    chain = Chain()
    try:
        assert chain.submit(transfer(chain)).success
        with served(chain) as url:
            client = wmnet.localnet.connect(url)
            assert isinstance(client, bt.Client)
            async with client:
                assert await client.block() == chain.head
                bob = dev_keypair("//Bob").ss58_address
                account = await client.query(("System", "Account"), [bob])
                assert account["data"]["free"] == chain.state.accounts[bob].free
            assert isinstance(wmnet.localnet.connect("ws://127.0.0.1:9944"), bt.Client)
            with pytest.raises(ValueError, match="ws://"):
                wmnet.localnet.connect("finney")
    finally:
        chain.close()


def test_connect_sync_returns_a_sync_client():
    chain = Chain()
    try:
        with served(chain) as url:
            client = wmnet.localnet.connect_sync(url)
            assert isinstance(client, bt.SyncClient)
            with client:
                assert client.block == chain.head  # a property on SyncClient
    finally:
        chain.close()


def test_a_state_file_from_before_the_journal_opens_at_its_block(tmp_path):
    """The old store kept one state document; it becomes the first snapshot."""
    path = tmp_path / "old.db"
    state = genesis_state()
    state.block = 7
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), block INTEGER NOT NULL,
            document TEXT NOT NULL);
        CREATE TABLE blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,
            parent_hash TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, extrinsics TEXT NOT NULL,
            events TEXT NOT NULL);
        """
    )
    db.execute("INSERT INTO state VALUES (1, 5, ?)", (state.model_dump_json(),))
    for number in range(8):
        db.execute(
            "INSERT INTO blocks VALUES (?, ?, ?, 0, ?, ?)",
            (number, f"0x{number:064x}", "0x", json.dumps([]), json.dumps([])),
        )
    db.commit()
    db.close()
    chain = Chain(path)
    assert chain.head == 7 and chain.state.genesis_hash == state.genesis_hash
    assert chain.submit(transfer(chain)).success and chain.head == 8
    chain.close()
