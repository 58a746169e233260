"""A real kill: the indexer SIGKILLed mid-epoch in a child process, then restarted."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import bittensor as bt

from tests.ledger.conftest import open_sessions, set_weights, subnet_with_miners
from tests.ledger.test_indexer import chain_miner_emission, ledger_totals
from wmnet.ledger.indexer import ChainIndexer
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.chain import Chain
from wmnet.localnet.substrate import LocalnetSubstrate

REPO = Path(__file__).resolve().parents[2]


async def _client(chain: Chain) -> bt.Client:
    return await bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain))).connect()


async def test_sigkill_mid_epoch_then_restart(tmp_path: Path, db_url: str) -> None:
    chain_path = tmp_path / "chain.db"
    chain = Chain(chain_path)
    client = await _client(chain)
    subnet = await subnet_with_miners(client, chain)
    await set_weights(client, subnet, [0.5, 0.4, 0.1])
    chain.advance(5 * (subnet.tempo + 1))
    expected = chain_miner_emission(chain, subnet.netuid)
    await client.close()
    chain.close()

    child = subprocess.run(
        [sys.executable, str(REPO / "tests/ledger/kill_target.py"), str(chain_path), db_url,
         str(subnet.netuid), "3"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]

    sessions = open_sessions(db_url)
    partial = ledger_totals(sessions, subnet.netuid)
    assert len(partial) == 2, partial  # the killed epoch left nothing behind
    assert all(m == rows == s for m, rows, s in partial.values())

    chain = Chain(chain_path)
    client = await _client(chain)
    try:
        indexer = ChainIndexer(sessions, client, subnet.netuid, network="test")
        assert len(await indexer.sync()) == len(expected) - 2
        assert await indexer.sync() == []
    finally:
        await client.close()
        chain.close()
    totals = ledger_totals(sessions, subnet.netuid)
    assert {b: t[0] for b, t in totals.items()} == expected
    assert all(m == rows == s for m, rows, s in totals.values())
    sessions.kw["bind"].dispose()
