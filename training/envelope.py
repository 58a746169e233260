"""The signed envelope of a training-shard update: who made it, for which task.

An update in the object store is not bare ``wmnet-sparseloco-v1`` bytes but an envelope
(format ``wmnet-update-v1``, specified in ``wmnet.protocol.shard``) whose header names
the miner's hotkey and the task, signed by that hotkey. So an update cannot change
hands: a miner that copies another's object, byte for byte, sends an update signed by
someone else (refused as a copy); one that re-signs the copied payload must store a new
object, which can only land in the store after the original (the author of a copy
group is its earliest stored object, ``wmnet.validator.shards``).

Templar binds each miner's bucket to its hotkey for the same reason; here the binding
travels with the object, so it holds in a shared store too.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Protocol

from bittensor_core import Keypair

from wmnet.protocol.shard import (
    ENVELOPE_DOMAIN,
    ENVELOPE_HEADER_BYTES,
    ENVELOPE_MAGIC,
    ENVELOPE_SR25519,
    ENVELOPE_VERSION,
)

_SIGNED = struct.Struct("<4sBBH32s32s32s")  # magic .. payload digest: what is signed
_SIGNATURE_BYTES = 64
assert _SIGNED.size + _SIGNATURE_BYTES == ENVELOPE_HEADER_BYTES


class EnvelopeError(ValueError):
    """Bytes that are not a well-formed envelope for this task by this author."""


class ForeignEnvelope(EnvelopeError):
    """A valid envelope signed by another hotkey (``author``): a copied object."""

    def __init__(self, author: str) -> None:
        super().__init__(f"signed by {author}")
        self.author = author


class Signer(Protocol):
    """A hotkey that signs (``bittensor_core.Keypair``, a wallet's ``hotkey``)."""

    public_key: bytes

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class Envelope:
    author: str  # ss58 of the signing hotkey
    task_digest: bytes
    payload: bytes


def task_digest(task_id: str) -> bytes:
    return hashlib.sha256(task_id.encode("ascii")).digest()


def _message(signed: bytes) -> bytes:
    return ENVELOPE_DOMAIN + b"|" + signed


def seal(payload: bytes, task_id: str, signer: Signer) -> bytes:
    """``payload`` in an envelope naming ``signer`` and ``task_id``, signed."""
    signed = _SIGNED.pack(
        ENVELOPE_MAGIC,
        ENVELOPE_VERSION,
        ENVELOPE_SR25519,
        0,
        bytes(signer.public_key),
        task_digest(task_id),
        hashlib.sha256(payload).digest(),
    )
    signature = bytes(signer.sign(_message(signed)))
    if len(signature) != _SIGNATURE_BYTES:
        raise EnvelopeError(f"an sr25519 signature is 64 bytes, the signer gave {len(signature)}")
    return signed + signature + payload


def read(data: bytes) -> Envelope:
    """Parse and check the signature; EnvelopeError for anything malformed."""
    if len(data) < ENVELOPE_HEADER_BYTES:
        raise EnvelopeError(f"{len(data)} bytes is shorter than an envelope header")
    magic, version, scheme, reserved, public, digest, payload_sha = _SIGNED.unpack_from(data)
    if magic != ENVELOPE_MAGIC or version != ENVELOPE_VERSION:
        raise EnvelopeError("not a wmnet-update-v1 envelope")
    if scheme != ENVELOPE_SR25519 or reserved != 0:
        raise EnvelopeError("unknown signature scheme or reserved bits set")
    payload = bytes(data[ENVELOPE_HEADER_BYTES:])
    if hashlib.sha256(payload).digest() != payload_sha:
        raise EnvelopeError("the payload does not match its digest")
    try:
        key = Keypair(public_key=public)
        ok = key.verify(
            _message(bytes(data[: _SIGNED.size])), bytes(data[_SIGNED.size : ENVELOPE_HEADER_BYTES])
        )
    except Exception as error:  # noqa: BLE001 - a malformed key or signature is just invalid
        raise EnvelopeError(f"unreadable key or signature ({type(error).__name__})") from None
    if not ok:
        raise EnvelopeError("the signature does not verify")
    return Envelope(key.ss58_address, digest, payload)


def open_for(data: bytes, author: str, task_id: str) -> bytes:
    """The payload of an envelope ``author`` signed for ``task_id``.

    ForeignEnvelope when another hotkey signed it (a copy), EnvelopeError when it is
    malformed, forged, or made for another task."""
    envelope = read(data)
    if envelope.author != author:
        raise ForeignEnvelope(envelope.author)
    if envelope.task_digest != task_digest(task_id):
        raise EnvelopeError("made for another task")
    return envelope.payload
