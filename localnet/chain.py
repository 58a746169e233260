"""The local chain: a block producer over :class:`ChainState`.

It validates signed extrinsics like a transaction pool (signature, nonce,
fees), builds blocks (epochs in on_initialize, then extrinsics), and commits
each batch of blocks to SQLite in one transaction.

Two clocks: *manual* (instant seal: every submission seals its own block,
``advance(n)`` produces n blocks at once — deterministic, for tests) and
*real time* (a thread seals a block every ``block_time`` seconds with
whatever the pool holds, like a fast-runtime node).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wmnet.localnet.calls import HANDLERS, CallContext, load_all
from wmnet.localnet.codec import ComposedCall, SignedExtrinsic
from wmnet.localnet.epoch import EpochRecord, is_epoch_block, run_subnet_epoch
from wmnet.localnet.error_codes import docs_for, module_error_payload
from wmnet.localnet.errors import DispatchError, InvalidTransaction
from wmnet.localnet.keys import dev_keypair, verify_signature
from wmnet.localnet.params import (
    BASE_FEE_RAO,
    DEV_ACCOUNTS,
    DEV_BALANCE_RAO,
    FAST_BLOCK_TIME,
    SUDO_URI,
)
from wmnet.localnet.state import ChainState
from wmnet.localnet.store import BlockRow, ChainStore

load_all()

# Calls that pay no fee on subtensor (Pays::No): a hotkey holds no TAO.
FEE_FREE: frozenset[tuple[str, str]] = frozenset(
    {
        ("SubtensorModule", "set_weights"),
        ("SubtensorModule", "set_mechanism_weights"),
        ("SubtensorModule", "commit_timelocked_mechanism_weights"),
        ("SubtensorModule", "commit_timelocked_weights"),
        ("SubtensorModule", "commit_crv3_weights"),
        ("SubtensorModule", "commit_crv3_mechanism_weights"),
        ("SubtensorModule", "serve_axon"),
        ("SubtensorModule", "serve_axon_tls"),
        ("Sudo", "sudo"),
    }
)


@dataclass
class Receipt:
    """What happened to one extrinsic: included (ok or failed) or refused."""

    extrinsic_hash: str
    included: bool
    success: bool = False
    block_number: int | None = None
    block_hash: str | None = None
    extrinsic_index: int | None = None
    fee: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    error_name: str | None = None
    error_pallet: str | None = None
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fee_for(call: ComposedCall) -> int:
    return 0 if (call.module, call.function) in FEE_FREE else BASE_FEE_RAO


def genesis_state(seed: str = "wmnet-localnet") -> ChainState:
    state = ChainState(
        genesis_hash="0x" + hashlib.blake2b(seed.encode(), digest_size=32).hexdigest()
    )
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
        self._lock = threading.RLock()
        self._included = threading.Condition(self._lock)
        self._pool: list[SignedExtrinsic] = []
        self._shielded: dict[tuple[str, int], SignedExtrinsic] = {}
        self._receipts: dict[str, Receipt] = {}
        self._clock: threading.Thread | None = None
        self._stop = threading.Event()
        state = self.store.load_state()
        if state is None:
            state = genesis_state()
            self.state = state
            self.store.set_meta("genesis_ms", str(int(time.time() * 1000)))
            self.genesis_ms = int(self.store.get_meta("genesis_ms") or 0)
            self.store.commit_blocks([self._block_row(0, [], [])], state, [])
        self.state = state
        self.genesis_ms = int(self.store.get_meta("genesis_ms") or 0)

    # --- reads ------------------------------------------------------------

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def head(self) -> int:
        return self.state.block

    def block_hash(self, number: int) -> str:
        parent = hashlib.blake2b(f"{self.state.genesis_hash}:{number}".encode(), digest_size=32)
        return "0x" + parent.hexdigest()

    def block(self, number: int | None = None, block_hash: str | None = None) -> BlockRow | None:
        if number is None and block_hash is None:
            number = self.head
        return self.store.block(number, block_hash)

    def next_nonce(self, address: str) -> int:
        with self._lock:
            pooled = sum(1 for xt in self._pool if xt.signer == address)
            return self.state.account(address).nonce + pooled

    def epoch_history(self, netuid: int, since_block: int = 0) -> list[dict[str, Any]]:
        return self.store.epoch_history(netuid, since_block)

    # --- the transaction pool --------------------------------------------

    def _validate(self, xt: SignedExtrinsic, *, pooled_nonce: int | None = None) -> None:
        if xt.genesis_hash != self.state.genesis_hash:
            raise InvalidTransaction("Invalid Transaction: BadProof (signed for another chain)")
        if not verify_signature(xt.signer, xt.signing_payload(), xt.signature):
            raise InvalidTransaction("Invalid Transaction: BadProof (signature does not verify)")
        if (xt.call.module, xt.call.function) not in HANDLERS:
            raise InvalidTransaction(
                f"Invalid Transaction: the local chain does not implement "
                f"{xt.call.module}.{xt.call.function}"
            )
        expected = self.state.account(xt.signer).nonce if pooled_nonce is None else pooled_nonce
        if xt.nonce < expected:
            raise InvalidTransaction("Invalid Transaction: Stale (nonce already used)")
        if xt.nonce > expected:
            raise InvalidTransaction("Invalid Transaction: Future (nonce too high)")
        if self.state.account(xt.signer).free < fee_for(xt.call):
            raise InvalidTransaction(
                "Invalid Transaction: Inability to pay some fees (e.g. account balance too low)"
            )

    def submit(self, xt: SignedExtrinsic, *, wait: bool = True, timeout: float = 60.0) -> Receipt:
        """Validate and include ``xt``; returns its receipt once included.

        A refused transaction returns ``Receipt(included=False)`` with the
        pool's reason, and changes nothing.
        """
        with self._lock:
            try:
                self._validate(xt, pooled_nonce=self.next_nonce(xt.signer))
            except InvalidTransaction as error:
                return Receipt(xt.hash, included=False, error_message=error.reason)
            self._pool.append(xt)
            if not self.realtime:
                self._produce(1)
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

    def announce_shielded(self, xt: SignedExtrinsic) -> None:
        """Deposit the signed inner extrinsic of a shielded submission (see calls/mev.py)."""
        if xt.genesis_hash != self.state.genesis_hash or not verify_signature(
            xt.signer, xt.signing_payload(), xt.signature
        ):
            raise InvalidTransaction("Invalid Transaction: BadProof")
        with self._lock:
            self._shielded[(xt.signer, xt.nonce)] = xt

    # --- block production -------------------------------------------------

    def advance(self, blocks: int = 1) -> int:
        """Produce ``blocks`` blocks now (manual clock); returns the new head."""
        if blocks < 0:
            raise ValueError("blocks must be non-negative")
        with self._lock:
            self._produce(blocks)
            return self.head

    def _produce(self, count: int) -> None:
        rows: list[BlockRow] = []
        epochs: list[EpochRecord] = []
        dirty = False
        for _ in range(count):
            row, produced_epochs, changed = self._build_block()
            rows.append(row)
            epochs.extend(produced_epochs)
            dirty = dirty or changed
        if rows:
            try:
                self.store.commit_blocks(rows, self.state if dirty else None, epochs)
            except BaseException:
                # The write failed as a whole: forget the blocks in memory too,
                # so the live chain never runs ahead of what is on disk.
                for row in rows:
                    for extrinsic in row["extrinsics"]:
                        self._receipts.pop(extrinsic.get("hash") or "", None)
                self.state = self.store.load_state() or self.state
                raise
            self._included.notify_all()

    def _timestamp_ms(self, number: int) -> int:
        if self.realtime:
            return int(time.time() * 1000)
        return self.genesis_ms + int(number * self.block_time * 1000)

    def _block_row(self, number: int, extrinsics: list[dict], events: list[dict]) -> BlockRow:
        return BlockRow(
            number=number,
            hash=self.block_hash(number),
            parent_hash=self.block_hash(number - 1) if number else "0x" + "00" * 32,
            timestamp_ms=self._timestamp_ms(number),
            extrinsics=extrinsics,
            events=events,
        )

    def _build_block(self) -> tuple[BlockRow, list[EpochRecord], bool]:
        state = self.state
        number = state.block + 1
        state.block = number
        timestamp = self._timestamp_ms(number)
        extrinsics: list[dict[str, Any]] = [
            {
                "hash": None,
                "call": {
                    "call_module": "Timestamp",
                    "call_function": "set",
                    "call_args": [{"name": "now", "value": timestamp}],
                },
            }
        ]
        events: list[dict[str, Any]] = []
        epochs: list[EpochRecord] = []
        changed = False
        for subnet in list(state.subnets.values()):
            if subnet.first_emission_block is not None and is_epoch_block(subnet, number):
                epochs.extend(run_subnet_epoch(state, subnet, number))
                changed = True
                events.append(_system_event("SubtensorModule", "EpochRun", [subnet.netuid, number]))

        pool, self._pool = self._pool, []
        queue = list(pool)
        while queue:
            xt = queue.pop(0)
            index = len(extrinsics)
            receipt, released = self._apply(xt, number, index, events)
            if receipt.included:
                changed = True
                extrinsics.append({"hash": xt.hash, "signer": xt.signer, "call": xt.call.value})
                for signer in released:
                    inner = self._shielded.pop((signer, xt.nonce + 1), None)
                    if inner is not None:
                        queue.insert(0, inner)
            self._receipts[xt.hash] = receipt
        row = self._block_row(number, _jsonable(extrinsics), _jsonable(events))
        return row, epochs, changed

    def _apply(
        self, xt: SignedExtrinsic, number: int, index: int, events: list[dict]
    ) -> tuple[Receipt, list[str]]:
        """Apply one extrinsic at ``index`` of block ``number``.

        Returns its receipt and the signers whose shielded inner extrinsic it
        releases (a successful MevShield carrier; see calls/mev.py).
        """
        block_hash = self.block_hash(number)
        try:
            self._validate(xt)
        except InvalidTransaction as error:
            return Receipt(xt.hash, included=False, error_message=error.reason), []
        account = self.state.account(xt.signer)
        fee = fee_for(xt.call)
        ctx = CallContext(
            state=self.state,
            block=number,
            origin=xt.signer,
            extrinsic_index=index,
            dispatch=_dispatch,
            function=xt.call.function,
        )
        error: DispatchError | None = None
        try:
            _dispatch(ctx, xt.call.module, xt.call.function, dict(xt.call.params))
        except InvalidTransaction as refused:
            # A call that does not decode never makes it into a block.
            return Receipt(xt.hash, included=False, error_message=refused.reason), []
        except DispatchError as failed:
            error = failed
            # A failed dispatch keeps only the fee payment: its own events are dropped.
            ctx = CallContext(
                state=self.state, block=number, origin=xt.signer, extrinsic_index=index
            )
        # Included either way: the nonce is used and the fee is paid.
        account.nonce += 1
        account.free -= fee
        self.state.total_issuance -= fee
        ctx.emit("TransactionPayment", "TransactionFeePaid", {"who": xt.signer, "actual_fee": fee})
        if error is None:
            ctx.emit("System", "ExtrinsicSuccess", {"dispatch_info": {}})
        else:
            outcome = {"dispatch_error": module_error_payload(error), "dispatch_info": {}}
            ctx.emit("System", "ExtrinsicFailed", outcome)
        events.extend(ctx.events)
        receipt = Receipt(
            xt.hash,
            included=True,
            success=error is None,
            block_number=number,
            block_hash=block_hash,
            extrinsic_index=index,
            fee=fee,
            events=_jsonable(ctx.events),
            error_name=error.name if error else None,
            error_pallet=error.pallet if error else None,
            error_message=docs_for(error) if error else None,
        )
        return receipt, [] if error else list(ctx.release_shielded)

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
                with self._lock:
                    self._produce(1)
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
        self.store.close()


def _dispatch(ctx: CallContext, module: str, function: str, params: dict[str, Any]) -> None:
    handler = HANDLERS.get((module, function))
    if handler is None:
        raise InvalidTransaction(f"the local chain does not implement {module}.{function}")
    ctx.function = function
    try:
        handler(ctx, **params)
    except TypeError as error:
        # Wrong or missing keyword arguments: the call does not decode.
        raise InvalidTransaction(
            f"invalid call parameters for {module}.{function}: {error}"
        ) from error


def _system_event(module: str, event: str, attributes: Any) -> dict[str, Any]:
    return {
        "phase": "Initialization",
        "extrinsic_idx": None,
        "event": {"module_id": module, "event_id": event, "attributes": attributes},
        "topics": [],
    }


def _jsonable(value: Any) -> Any:
    """Events and calls as plain JSON (bytes as 0x-hex, nested calls as dicts)."""
    if isinstance(value, ComposedCall):
        return value.value | {"call_args": _jsonable(value.params)}
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
