"""The local chain: a transaction pool and a block producer over :class:`ChainState`.

It validates signed extrinsics like a transaction pool (signature, call
decoding, nonce, fees), builds blocks with :func:`localnet.block.execute_block`
(epochs in on_initialize, then extrinsics) and commits each block to the
store in one transaction.

Two clocks: *manual* (instant seal: every submission seals its own block,
``advance(n)`` produces n blocks at once, deterministic, for tests) and
*real time* (a thread seals a block every ``block_time`` seconds with
whatever the pool holds, like a fast-runtime node).

No input stops the producer: a handler or an epoch that raises is isolated
(its extrinsic applied as failed, or its epoch skipped, and the block rebuilt
from the last committed state), block numbers never skip, and each block's
parent hash is the previous block's hash.
"""

from __future__ import annotations

import hashlib
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wmnet.localnet.block import (
    FEE_FREE,
    BlockFault,
    BlockOutcome,
    BlockRow,
    Journal,
    Receipt,
    block_hash,
    execute_block,
    fee_for,
    validate,
)
from wmnet.localnet.calls.schema import decode_call
from wmnet.localnet.codec import Extrinsic
from wmnet.localnet.errors import InvalidTransaction
from wmnet.localnet.keys import dev_keypair, verify_signature
from wmnet.localnet.params import (
    BASE_FEE_RAO,
    DEV_ACCOUNTS,
    DEV_BALANCE_RAO,
    FAST_BLOCK_TIME,
    SUDO_URI,
)
from wmnet.localnet.pool import TxPool
from wmnet.localnet.replay import HistoryUnavailable, rebuild
from wmnet.localnet.state import ChainState
from wmnet.localnet.store import ChainStore

__all__ = ["FEE_FREE", "Chain", "HistoryUnavailable", "Receipt", "fee_for", "genesis_state"]

# A snapshot of the whole state bounds replay on restart and for past reads: taken
# once SNAPSHOT_EVERY blocks have passed and the time spent producing them is at
# least SNAPSHOT_COST_FACTOR times what the last snapshot took (so snapshots of a
# large state stay a small share of block production), and always by
# SNAPSHOT_MAX_EVERY blocks.
SNAPSHOT_EVERY = 512
SNAPSHOT_MAX_EVERY = 4096
SNAPSHOT_COST_FACTOR = 10.0
# Reads at a past block are answered this far back (≥ one tempo at subtensor's 360).
HISTORY_BLOCKS = 1024
# One advance() call produces at most this many blocks (and takes the lock per block).
MAX_ADVANCE_BLOCKS = 1000
# Receipts nobody collected (wait=False, shielded inner extrinsics) are kept this many.
MAX_RECEIPTS = 4096
# Past states rebuilt for reads, kept for the next read at the same block.
HISTORY_CACHE = 2  # each is a whole state: large for a 4,096-UID subnet


def genesis_state() -> ChainState:
    """Dev accounts and sudo as on subtensor's localnet, under a genesis hash
    unique to this chain (random seed), so a transaction signed for one local
    chain is refused by every other."""
    seed = secrets.token_bytes(32)
    digest = hashlib.blake2b(b"wmnet-localnet genesis:" + seed, digest_size=32)
    state = ChainState(genesis_hash="0x" + digest.hexdigest())
    for name in DEV_ACCOUNTS:
        state.account(dev_keypair(f"//{name}").ss58_address).free = DEV_BALANCE_RAO
    state.sudo_key = dev_keypair(SUDO_URI).ss58_address
    state.total_issuance = DEV_BALANCE_RAO * len(DEV_ACCOUNTS)
    return state


class Chain:
    def __init__(
        self,
        path: str | Path | None = None,
        *,
        block_time: float = FAST_BLOCK_TIME,
        realtime: bool = False,
    ):
        self.store = ChainStore(path)
        self.block_time = block_time
        self.realtime = realtime
        self.snapshot_every = SNAPSHOT_EVERY
        self._snapshot_seconds = 0.0  # what the last snapshot took to write
        self._producing_seconds = 0.0  # block production since the last snapshot
        self._lock = threading.RLock()
        self._included = threading.Condition(self._lock)
        self._pool = TxPool()
        self._receipts: OrderedDict[str, Receipt] = OrderedDict()
        self._history: OrderedDict[int, ChainState] = OrderedDict()
        self._clock: threading.Thread | None = None
        self._stop = threading.Event()
        # Called after each block is committed, under the lock: (number, its receipts).
        # A JSON-RPC server's subscriptions hang off this; listeners must be quick.
        self.listeners: list[Callable[[int, dict[str, Receipt]], None]] = []
        head = self.store.head()
        if head is None:
            self.state = genesis_state()
            self.store.set_meta("genesis_ms", str(int(time.time() * 1000)))
            self.genesis_ms = int(self.store.get_meta("genesis_ms") or 0)
            self.store.commit_block(self._genesis_row(), Journal(), [], snapshot=self.state)
        else:
            self.genesis_ms = int(self.store.get_meta("genesis_ms") or 0)
            self.state = rebuild(self.store, head)
        self._last_snapshot = self.head

    # --- reads ------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def head(self) -> int:
        return self.state.block

    def block_hash(self, number: int) -> str:
        return block_hash(self.state.genesis_hash, number)

    def block(self, number: int | None = None, block_hash: str | None = None) -> BlockRow | None:
        if number is None and block_hash is None:
            number = self.head
        return self.store.block(number, block_hash)

    def next_nonce(self, address: str) -> int:
        with self._lock:
            account = self.state.find_account(address)
            return (account.nonce if account else 0) + self._pool.pending_of(address)

    def epoch_history(self, netuid: int, since_block: int = 0) -> list[dict[str, Any]]:
        return self.store.epoch_history(netuid, since_block)

    def state_at(self, number: int | None) -> ChainState:
        """The state after block ``number`` (the head when None); read-only.

        Past states are rebuilt from the store (snapshot + journal replay) for
        the last ``HISTORY_BLOCKS`` blocks; older or unknown blocks raise
        :class:`HistoryUnavailable` naming the block.
        """
        head = self.head
        if number is None or number == head:
            return self.state
        if number > head or number < 0:
            raise HistoryUnavailable(f"block {number} has not been produced (head is {head})")
        if number < head - HISTORY_BLOCKS:
            raise HistoryUnavailable(
                f"block {number} is older than the {HISTORY_BLOCKS} blocks of state "
                f"history this chain keeps (head is {head})"
            )
        with self._lock:
            cached = self._history.get(number)
        if cached is not None:
            return cached
        state = rebuild(self.store, number)
        with self._lock:
            self._history[number] = state
            while len(self._history) > HISTORY_CACHE:
                self._history.popitem(last=False)
        return state

    # --- the transaction pool --------------------------------------------

    def submit(self, xt: Extrinsic, *, wait: bool = True, timeout: float = 60.0) -> Receipt:
        """Validate and include ``xt``; returns its receipt once included.

        A refused transaction returns ``Receipt(included=False)`` with the
        pool's reason, and changes nothing.
        """
        with self._lock:
            try:
                validate(self.state, xt, expected_nonce=self.next_nonce(xt.signer))
                self._pool.add(xt, self.head)
            except InvalidTransaction as error:
                return Receipt(xt.hash, included=False, error_message=error.reason)
            if not self.realtime:
                self._seal()
            if not wait:
                return Receipt(xt.hash, included=False, success=True, error_message="pending")
            deadline = time.monotonic() + timeout
            while xt.hash not in self._receipts:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Receipt(
                        xt.hash, included=False, error_message="timed out waiting for inclusion"
                    )
                self._included.wait(remaining)
            return self._receipts.pop(xt.hash)

    def take_receipt(self, extrinsic_hash: str) -> Receipt | None:
        """The receipt of an extrinsic submitted without waiting, once (None if none yet)."""
        with self._lock:
            return self._receipts.pop(extrinsic_hash, None)

    def announce_shielded(self, xt: Extrinsic) -> None:
        """Deposit the signed inner extrinsic of a shielded submission (see calls/mev.py)."""
        with self._lock:
            if xt.genesis_hash != self.state.genesis_hash or not verify_signature(
                xt.signer, xt.signing_payload(), xt.signature, xt.crypto
            ):
                raise InvalidTransaction("Invalid Transaction: BadProof")
            decode_call(xt.call)
            account = self.state.find_account(xt.signer)
            can_pay = account is not None and account.free >= BASE_FEE_RAO
            self._pool.deposit(xt, self.next_nonce(xt.signer), can_pay, self.head)

    # --- block production -------------------------------------------------

    def advance(self, blocks: int = 1) -> int:
        """Produce ``blocks`` blocks now (manual clock only); returns the new head."""
        if self.realtime:
            raise ValueError("this chain runs a real-time clock; blocks cannot be forced")
        if not 0 <= blocks <= MAX_ADVANCE_BLOCKS:
            raise ValueError(f"blocks must be between 0 and {MAX_ADVANCE_BLOCKS} per call")
        for _ in range(blocks):
            with self._lock:  # taken per block, so reads and submissions interleave
                self._seal()
        return self.head

    def snapshot(self) -> None:
        """Persist the whole state now (after changes made outside any block)."""
        with self._lock:
            self.store.write_snapshot(self.state)
            self._last_snapshot = self.head
            self._history.clear()

    def _snapshot_due(self, number: int) -> bool:
        since = number - self._last_snapshot
        if since >= SNAPSHOT_MAX_EVERY:
            return True
        cheap_enough = self._producing_seconds >= SNAPSHOT_COST_FACTOR * self._snapshot_seconds
        return since >= self.snapshot_every and cheap_enough

    def _seal(self) -> None:
        """Produce and commit the next block. Only a failing store raises."""
        started = time.perf_counter()
        number = self.head + 1
        timestamp = self._timestamp_ms(number)
        live, expired = self._pool.take(self.head)
        for xt in expired:
            self._remember(Receipt(xt.hash, False, error_message="Invalid Transaction: Stale"))
        outcome = self._build(number, timestamp, live)
        snapshot = self.state if self._snapshot_due(number) else None
        produced = time.perf_counter()
        try:
            self.store.commit_block(outcome.row, outcome.journal, outcome.epochs, snapshot)
        except BaseException:
            # The write failed as a whole: the live chain goes back to what is on disk.
            self.state = rebuild(self.store, number - 1)
            raise
        if snapshot is None:
            self._producing_seconds += time.perf_counter() - started
        else:
            self._snapshot_seconds = time.perf_counter() - produced
            self._producing_seconds = produced - started
            self._last_snapshot = number
            self.store.prune_snapshots(number - HISTORY_BLOCKS)
        self._pool.release(outcome.released)
        self._pool.prune_shielded(self._account_nonce, number)
        for receipt in outcome.receipts.values():
            self._remember(receipt)
        self._included.notify_all()
        for listener in list(self.listeners):
            try:
                listener(number, outcome.receipts)
            except Exception as error:  # a listener's bug never stops the producer
                _report(number, error)

    def _build(self, number: int, timestamp: int, live: list[Extrinsic]) -> BlockOutcome:
        """Execute the block, isolating faults: each retry starts from the committed state."""
        faults = Journal()
        for _ in range(len(live) + len(self.state.subnets) + 2):
            try:
                return execute_block(self.state, number, timestamp, live, faults, self._pool.lookup)
            except BlockFault as fault:
                _report(number, fault)
                self.state = rebuild(self.store, number - 1)
                if fault.xt_hash is not None:
                    faults.poisoned.add(fault.xt_hash)
                elif fault.netuid is not None:
                    faults.skipped_epochs.add(fault.netuid)
            except Exception as error:  # a fault with no culprit: seal an empty block
                _report(number, error)
                self.state = rebuild(self.store, number - 1)
                break
        return self._empty_block(number, timestamp, live)

    def _empty_block(self, number: int, timestamp: int, live: list[Extrinsic]) -> BlockOutcome:
        """The block of last resort: no extrinsics, every epoch skipped; cannot fail."""
        faults = Journal(skipped_epochs=set(self.state.subnets))
        outcome = execute_block(self.state, number, timestamp, [], faults)
        for xt in live:
            outcome.receipts[xt.hash] = Receipt(
                xt.hash, False, error_message="the block producer could not apply this extrinsic"
            )
        return outcome

    def _account_nonce(self, address: str) -> int:
        account = self.state.find_account(address)
        return account.nonce if account else 0

    def _remember(self, receipt: Receipt) -> None:
        self._receipts[receipt.extrinsic_hash] = receipt
        while len(self._receipts) > MAX_RECEIPTS:
            self._receipts.popitem(last=False)

    def _timestamp_ms(self, number: int) -> int:
        if self.realtime:
            return int(time.time() * 1000)
        return self.genesis_ms + int(number * self.block_time * 1000)

    def _genesis_row(self) -> BlockRow:
        return BlockRow(
            number=0,
            hash=self.block_hash(0),
            parent_hash="0x" + "00" * 32,
            timestamp_ms=self.genesis_ms,
            extrinsics=[],
            events=[],
        )

    # --- the real-time clock ----------------------------------------------

    def start_clock(self) -> None:
        """Seal a block every ``block_time`` seconds in a background thread."""
        if self._clock is not None:
            return
        self.realtime = True
        self._stop.clear()

        def run() -> None:
            next_tick = time.monotonic() + self.block_time
            while not self._stop.wait(max(0.0, next_tick - time.monotonic())):
                try:
                    with self._lock:
                        self._seal()
                except Exception as error:  # a failing disk: keep ticking, retry next slot
                    _report(self.head + 1, error)
                next_tick += self.block_time
                # After a stall (debugger, suspended laptop) do not burst-produce.
                next_tick = max(next_tick, time.monotonic())

        self._clock = threading.Thread(target=run, name="localnet-clock", daemon=True)
        self._clock.start()

    def stop_clock(self) -> None:
        self._stop.set()
        if self._clock is not None:
            self._clock.join(timeout=5)
            self._clock = None

    def close(self) -> None:
        self.stop_clock()
        with self._lock:
            if self.head > self._last_snapshot:
                self.store.write_snapshot(self.state)  # a clean stop restarts without replay
        self.store.close()


def _report(number: int, error: BaseException) -> None:
    print(f"localnet: block {number}: {type(error).__name__}: {error}", file=sys.stderr)
