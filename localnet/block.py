"""Executing one block over a :class:`ChainState`, live or in replay.

A block is a function of the state before it and its *journal*: its
timestamp, the signed extrinsics it included in order, and the faults
recorded while it was built (extrinsics whose handler raised, epochs that
raised). The live producer (localnet/chain.py) and the replay that rebuilds
state from the store (localnet/replay.py) both run :func:`execute_block`, so
a restarted chain reaches exactly the state the live one had.

No exception other than :class:`BlockFault` leaves this module: a handler or
an epoch that raises anything but a :class:`DispatchError` is reported as a
fault naming its culprit, and the producer rebuilds the block with that
extrinsic applied as failed (fee and nonce only) or that epoch skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wmnet.localnet.calls import HANDLERS, CallContext, load_all
from wmnet.localnet.calls.schema import decode_call
from wmnet.localnet.codec import ComposedCall, Extrinsic, extrinsic_from_json
from wmnet.localnet.epoch import EpochRecord, run_subnet_epoch, should_run_epoch
from wmnet.localnet.error_codes import docs_for, module_error_payload
from wmnet.localnet.errors import DispatchError, InvalidTransaction
from wmnet.localnet.keys import verify_signature
from wmnet.localnet.params import BASE_FEE_RAO, MAX_EPOCHS_PER_BLOCK
from wmnet.localnet.state import ChainState

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


class BlockRow(dict):
    """A stored block: number, hash, parent_hash, timestamp_ms, extrinsics, events."""


@dataclass
class Journal:
    """What replay needs to re-execute a block (stored with its row)."""

    extrinsics: list[Extrinsic] = field(default_factory=list)
    poisoned: set[str] = field(default_factory=set)  # hashes applied as failed, not dispatched
    skipped_epochs: set[int] = field(default_factory=set)  # netuids whose epoch raised

    def to_json(self) -> dict[str, Any]:
        return {
            "extrinsics": [xt.to_json() for xt in self.extrinsics],
            "poisoned": sorted(self.poisoned),
            "skipped_epochs": sorted(self.skipped_epochs),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Journal:
        return cls(
            [extrinsic_from_json(x) for x in data.get("extrinsics", [])],
            set(data.get("poisoned", [])),
            set(data.get("skipped_epochs", [])),
        )


@dataclass
class BlockOutcome:
    row: BlockRow
    journal: Journal
    receipts: dict[str, Receipt]
    epochs: list[EpochRecord]
    released: list[tuple[str, int]]  # shielded deposits this block consumed


class BlockFault(Exception):
    """A handler or an epoch raised something other than a DispatchError."""

    def __init__(
        self, cause: BaseException, *, xt_hash: str | None = None, netuid: int | None = None
    ):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause
        self.xt_hash = xt_hash
        self.netuid = netuid


ShieldedLookup = Callable[[str, int], Extrinsic | None]


def fee_for(call: ComposedCall) -> int:
    return 0 if (call.module, call.function) in FEE_FREE else BASE_FEE_RAO


def block_hash(genesis_hash: str, number: int) -> str:
    import hashlib

    digest = hashlib.blake2b(f"{genesis_hash}:{number}".encode(), digest_size=32)
    return "0x" + digest.hexdigest()


def validate(state: ChainState, xt: Extrinsic, expected_nonce: int | None = None) -> None:
    """The transaction pool's checks, in substrate's order; raises InvalidTransaction.

    Creates nothing: an unknown signer is read as an empty account.
    """
    if xt.genesis_hash != state.genesis_hash:
        raise InvalidTransaction("Invalid Transaction: BadProof (signed for another chain)")
    if not verify_signature(xt.signer, xt.signing_payload(), xt.signature, xt.crypto):
        raise InvalidTransaction("Invalid Transaction: BadProof (signature does not verify)")
    if xt.mortal_until is not None and state.block >= xt.mortal_until:
        raise InvalidTransaction("Invalid Transaction: AncientBirthBlock (its mortal era ended)")
    decode_call(xt.call)
    account = state.find_account(xt.signer)
    nonce = account.nonce if account else 0
    expected = nonce if expected_nonce is None else expected_nonce
    if xt.nonce < expected:
        raise InvalidTransaction("Invalid Transaction: Stale (nonce already used)")
    if xt.nonce > expected:
        raise InvalidTransaction("Invalid Transaction: Future (nonce too high)")
    fee = fee_for(xt.call) + xt.tip
    if (account.free if account else 0) < fee:
        raise InvalidTransaction(
            "Invalid Transaction: Inability to pay some fees (e.g. account balance too low)"
        )
    if account is None and xt.signer not in state.hotkey_owner:
        # A fee-free call is the only way in for an empty account; only a
        # hotkey the chain knows may use it, so junk signers create nothing.
        raise InvalidTransaction(
            "Invalid Transaction: Payment (no account; only a registered hotkey may "
            "send fee-free calls from an empty account)"
        )


def dispatch(ctx: CallContext, module: str, function: str, params: dict[str, Any]) -> None:
    """Run a call's handler with decoded parameters (Sudo.sudo re-enters here)."""
    decoded = decode_call(ComposedCall(module, function, params))
    handler = HANDLERS.get((module, function))
    if handler is None:  # decode_call already refuses calls with no schema
        raise InvalidTransaction(f"the local chain does not implement {module}.{function}")
    ctx.function = function
    handler(ctx, **decoded.params)


def dispatch_info(fee: int) -> dict[str, Any]:
    """frame_system ``DispatchEventInfo``: the chain charges a flat fee, not weight."""
    return {
        "weight": {"ref_time": 0, "proof_size": 0},
        "class": "Normal",
        "pays_fee": "Yes" if fee else "No",
    }


def system_event(module: str, event: str, attributes: Any) -> dict[str, Any]:
    return {
        "phase": "Initialization",
        "extrinsic_idx": None,
        "event": {"module_id": module, "event_id": event, "attributes": attributes},
        "topics": [],
    }


def jsonable(value: Any) -> Any:
    """Events and calls as plain JSON (bytes as 0x-hex, nested calls as dicts)."""
    if isinstance(value, ComposedCall):
        return value.value | {"call_args": jsonable(value.params)}
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def execute_block(
    state: ChainState,
    number: int,
    timestamp_ms: int,
    queue: list[Extrinsic],
    faults: Journal,
    shielded: ShieldedLookup | None = None,
) -> BlockOutcome:
    """Build block ``number`` on ``state`` (mutated in place).

    ``queue`` is the pool's extrinsics (live) or the journal's (replay, with
    ``shielded`` None: released inner extrinsics are already in the journal).
    ``faults`` carries the poisoned extrinsics and skipped epochs found by
    earlier attempts at this block. Raises only :class:`BlockFault`.
    """
    state.block = number
    this_hash = block_hash(state.genesis_hash, number)
    extrinsics: list[dict[str, Any]] = [_timestamp_inherent(timestamp_ms)]
    events: list[dict[str, Any]] = []
    epochs = _run_epochs(state, number, faults.skipped_epochs, events)
    journal = Journal(poisoned=set(faults.poisoned), skipped_epochs=set(faults.skipped_epochs))
    receipts: dict[str, Receipt] = {}
    released: list[tuple[str, int]] = []
    pending = list(queue)
    while pending:
        xt = pending.pop(0)
        index = len(extrinsics)
        receipt, releases = apply_extrinsic(
            state, xt, number, this_hash, index, events, xt.hash in faults.poisoned
        )
        receipts[xt.hash] = receipt
        if not receipt.included:
            continue
        journal.extrinsics.append(xt)
        extrinsics.append({"hash": xt.hash, "signer": xt.signer, "call": jsonable(xt.call)})
        for signer in releases if shielded is not None else []:
            inner = shielded(signer, xt.nonce + 1)
            if inner is not None and inner.hash not in receipts:
                released.append((signer, xt.nonce + 1))
                pending.insert(0, inner)
    row = BlockRow(
        number=number,
        hash=this_hash,
        parent_hash=block_hash(state.genesis_hash, number - 1) if number else "0x" + "00" * 32,
        timestamp_ms=timestamp_ms,
        extrinsics=extrinsics,
        events=jsonable(events),
    )
    return BlockOutcome(row, journal, receipts, epochs, released)


def _timestamp_inherent(timestamp_ms: int) -> dict[str, Any]:
    return {
        "hash": None,
        "call": {
            "call_module": "Timestamp",
            "call_function": "set",
            "call_args": [{"name": "now", "value": timestamp_ms}],
        },
    }


def _run_epochs(
    state: ChainState, number: int, skipped: set[int], events: list[dict[str, Any]]
) -> list[EpochRecord]:
    """on_initialize: `drain_pending_subnet_emissions` then `distribute_emission`.

    Every subnet whose epoch is due runs it, in netuid order, at most
    `MAX_EPOCHS_PER_BLOCK` a block (the rest are deferred to the next block with
    `EpochDeferred`). A due slot is consumed whether or not the epoch runs: one that
    raised while this block was first built is skipped on replay (`EpochSkipped`), and
    its pending emission waits for the next epoch, as subtensor's skipped epochs do.
    """
    records: list[EpochRecord] = []
    ran = 0
    for netuid in sorted(state.subnets):
        subnet = state.subnets[netuid]
        if not should_run_epoch(subnet, number):
            continue
        if ran >= MAX_EPOCHS_PER_BLOCK:
            subnet.pending_epoch_at = number + 1
            events.append(
                system_event("SubtensorModule", "EpochDeferred", [netuid, number, number + 1])
            )
            continue
        if netuid in skipped:
            events.append(system_event("SubtensorModule", "EpochSkipped", [netuid, number]))
        else:
            try:
                records.extend(run_subnet_epoch(state, subnet, number))
            except Exception as error:  # any bug in an epoch: skip it, keep the chain
                raise BlockFault(error, netuid=netuid) from error
            ran += 1
            events.append(system_event("SubtensorModule", "EpochRun", [netuid, number]))
        subnet.last_epoch_block = number
        subnet.pending_epoch_at = 0
        subnet.epoch_index += 1
    return records


def apply_extrinsic(
    state: ChainState,
    xt: Extrinsic,
    number: int,
    this_hash: str,
    index: int,
    events: list[dict[str, Any]],
    poisoned: bool = False,
) -> tuple[Receipt, list[str]]:
    """Apply one extrinsic at ``index``; returns its receipt and the signers whose
    shielded inner extrinsic it releases (a successful MevShield carrier)."""
    try:
        validate(state, xt)
    except InvalidTransaction as error:
        return Receipt(xt.hash, included=False, error_message=error.reason), []
    fee = fee_for(xt.call) + xt.tip
    ctx = CallContext(state=state, block=number, origin=xt.signer, extrinsic_index=index)
    ctx.dispatch = dispatch
    error: DispatchError | None = None
    if poisoned:
        error = DispatchError("Other", "the local chain failed to apply this call", "System")
    else:
        try:
            dispatch(ctx, xt.call.module, xt.call.function, dict(xt.call.params))
        except DispatchError as failed:
            error = failed
        except Exception as bug:  # InvalidTransaction included: validate() already decoded
            raise BlockFault(bug, xt_hash=xt.hash) from bug
    if error is not None:
        # A failed dispatch keeps only the fee payment: its own events are dropped.
        ctx = CallContext(state=state, block=number, origin=xt.signer, extrinsic_index=index)
    # Included either way: the nonce is used and the fee is paid.
    account = state.account(xt.signer)
    account.nonce += 1
    account.free -= fee
    state.total_issuance -= fee
    fee_paid = {"who": xt.signer, "actual_fee": fee, "tip": xt.tip}
    ctx.emit("TransactionPayment", "TransactionFeePaid", fee_paid)
    info = dispatch_info(fee)
    if error is None:
        ctx.emit("System", "ExtrinsicSuccess", {"dispatch_info": info})
    else:
        outcome = {"dispatch_error": module_error_payload(error), "dispatch_info": info}
        ctx.emit("System", "ExtrinsicFailed", outcome)
    events.extend(ctx.events)
    receipt = Receipt(
        xt.hash,
        included=True,
        success=error is None,
        block_number=number,
        block_hash=this_hash,
        extrinsic_index=index,
        fee=fee,
        events=jsonable(ctx.events),
        error_name=error.name if error else None,
        error_pallet=error.pallet if error else None,
        error_message=docs_for(error) if error else None,
    )
    return receipt, [] if error else list(ctx.release_shielded)
