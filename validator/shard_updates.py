"""Receiving a miner's training-shard update: pin it when the answer arrives, check
who made it, decode it.

A miner answers with the id of an object under its own prefix of the store
(``wmnet.training.store``). The moment its answer arrives, the validator reads that
object (the one copy it will score: a later overwrite, deletion or swap changes
nothing) and checks, cheap before expensive, failing closed:

1. the answer is for this task, round and base;
2. the object is the size the task's layout makes (known before reading: nothing else
   is read), under the answering miner's prefix, a regular file, its bytes its name;
3. its envelope (``wmnet.training.envelope``) is signed by the answering miner's hotkey
   for this task: signed by anyone else it is a copy;
4. the payload decodes as an update of this model.

What comes out keeps the store's time of the object (``stored_at``), which no writer can
set back: among updates that overlap (copies), the earliest stored is the author,
whoever's answer arrived first (``wmnet.validator.shards``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from wmnet.protocol.shard import ENVELOPE_HEADER_BYTES, ShardResult, ShardTask
from wmnet.training import envelope
from wmnet.training.compress import Compressed, UpdateFormatError, layout_for
from wmnet.training.store import ObjectMissing, ObjectStore, StoreError
from wmnet.validator.miner_client import QueryOutcome


class ShardCode(StrEnum):
    """Why an update scored what it did (code branches on these, not on text)."""

    OK = "ok"
    NO_ANSWER = "no answer"  # timeout, transport, HTTP error, malformed answer
    MISMATCH = "malformed"  # answers another task, round or base
    STORE = "update refused"  # missing, not a regular file, corrupt, wrong size
    ENVELOPE = "unsigned"  # not a valid envelope by anyone for this task
    FORMAT = "malformed update"  # does not decode as an update of this model
    COPY = "copy"  # another miner's work: signed by it, or overlapping an earlier one
    NO_GAIN = "no gain"  # decoded, but does not help its own shard


@dataclass(frozen=True)
class Received:
    """One miner's update as pinned when its answer arrived (or why there is none)."""

    code: ShardCode
    detail: str = ""
    update: Compressed | None = None
    stored_at: float = float("inf")  # the store's time of the object
    update_id: str | None = None  # the object the answer named
    signer: str | None = None  # who signed it, when that was someone else

    @property
    def reason(self) -> str:
        return self.code.value if not self.detail else f"{self.code.value}: {self.detail}"


def expected_bytes(task: ShardTask, n: int) -> int:
    """The exact size of an honest sealed update for ``task`` on a model of ``n``
    trainable values (the layout follows from ``n`` and the task's density and chunk)."""
    return ENVELOPE_HEADER_BYTES + layout_for(n, task.hyper.density, task.hyper.chunk).nbytes()


def receive(
    store: ObjectStore, hotkey: str, task: ShardTask, outcome: QueryOutcome, n: int
) -> Received:
    """Pin and check the update ``outcome`` names (run it as the answer arrives)."""
    result = outcome.result
    if result is None or not isinstance(result, ShardResult):
        return Received(ShardCode.NO_ANSWER, outcome.reason)
    if (result.task_id, result.round_id, result.base_id) != (
        task.task_id,
        task.round_id,
        task.base_id,
    ):
        return Received(ShardCode.MISMATCH, "answers another task, round or base")
    size = expected_bytes(task, n)
    oid = result.update_id
    if result.update_bytes != size:
        return Received(ShardCode.FORMAT, f"{result.update_bytes} bytes, a sealed update is {size}")
    try:
        stored = store.get_update(hotkey, oid, size)
    except ObjectMissing:
        return Received(ShardCode.STORE, "not under this miner's prefix", update_id=oid)
    except StoreError as error:
        return Received(
            ShardCode.STORE, f"{type(error).__name__}: {str(error)[:120]}", update_id=oid
        )
    if len(stored.data) != size:
        return Received(ShardCode.FORMAT, f"object of {len(stored.data)} bytes, expected {size}")
    try:
        payload = envelope.open_for(stored.data, hotkey, task.task_id)
    except envelope.ForeignEnvelope as foreign:
        return Received(
            ShardCode.COPY, f"signed by {foreign.author}", update_id=oid, signer=foreign.author
        )
    except envelope.EnvelopeError as error:
        return Received(ShardCode.ENVELOPE, str(error)[:150], update_id=oid)
    try:
        update = Compressed.from_bytes(payload, expect_n=n)
    except UpdateFormatError as error:
        return Received(ShardCode.FORMAT, str(error)[:150], update_id=oid)
    return Received(ShardCode.OK, "", update, stored.stored_at, oid)
