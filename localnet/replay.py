"""Rebuild the state at a block from the store: the newest snapshot at or
before it, then each later block's journal re-executed (localnet/block.py)."""

from __future__ import annotations

from wmnet.localnet.block import BlockFault, execute_block
from wmnet.localnet.state import ChainState
from wmnet.localnet.store import ChainStore


class HistoryUnavailable(LookupError):
    """The chain no longer keeps (or never had) the state of the block asked for."""


def rebuild(store: ChainStore, number: int) -> ChainState:
    """The state after block ``number``, rebuilt from the store."""
    state = store.snapshot_at_or_before(number)
    if state is None:
        raise HistoryUnavailable(
            f"block {number} is older than the oldest state this chain keeps "
            f"(block {store.oldest_snapshot()})"
        )
    for block, timestamp_ms, journal in store.journal(state.block, number):
        try:
            execute_block(state, block, timestamp_ms, journal.extrinsics, journal)
        except BlockFault as fault:  # replay of a sealed block must not fault
            raise HistoryUnavailable(f"block {block} does not replay: {fault}") from fault
    return state
