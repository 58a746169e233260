"""Run by test_kill.py in a child process: index a persisted chain and SIGKILL itself
part-way through writing the third epoch (after its rows are flushed, before commit)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import bittensor as bt

from wmnet.ledger import indexer as indexer_module
from wmnet.ledger.db import open_ledger
from wmnet.ledger.indexer import ChainIndexer
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.chain import Chain
from wmnet.localnet.substrate import LocalnetSubstrate


async def main(chain_path: str, db_url: str, netuid: int, kill_at: int) -> None:
    calls = {"n": 0}
    real = indexer_module.attribute_epoch

    def attribute_then_die(session, epoch):  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] == kill_at:
            session.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        real(session, epoch)

    indexer_module.attribute_epoch = attribute_then_die
    chain = Chain(chain_path)
    async with bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain))) as client:
        await ChainIndexer(open_ledger(db_url), client, netuid, network="test").sync()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
