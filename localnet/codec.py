"""Composed calls and signed extrinsics, and their canonical JSON encoding.

The SDK tells a composed call from a builder by its ``.data`` attribute; here
``data`` is the canonical JSON of (module, function, params), which is also
what travels to a served chain and what a signature covers.

Two kinds of signed extrinsic reach the chain: :class:`SignedExtrinsic`, signed
over wmnet's canonical JSON by ``LocalnetSubstrate`` (in-process and over the
private HTTP API), and :class:`ScaleExtrinsic`, a Substrate extrinsic as any
client sends it over JSON-RPC, already decoded and its signature payload
rebuilt by ``localnet/scale.py``. The pool, the block producer and replay treat
both alike; the journal stores each with what replay needs to check it again
without a codec.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ComposedCall:
    module: str
    function: str
    params: dict[str, Any]

    @property
    def data(self) -> bytes:
        return canonical_json(encode_value(self)).encode()

    # Transport-style aliases some SDK helpers read.
    @property
    def call_module(self) -> str:
        return self.module

    @property
    def call_function(self) -> str:
        return self.function

    @property
    def value(self) -> dict[str, Any]:
        return {
            "call_module": self.module,
            "call_function": self.function,
            "call_args": self.params,
        }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def encode_value(value: Any) -> Any:
    """Plain JSON for call parameters: bytes and nested calls get tagged."""
    if isinstance(value, ComposedCall):
        return {
            "__call__": {
                "module": value.module,
                "function": value.function,
                "params": encode_value(value.params),
            }
        }
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"__bytes__": bytes(value).hex()}
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "rao"):  # a Balance passed as an amount
        return int(value.rao)
    raise TypeError(f"cannot encode call parameter of type {type(value).__name__}")


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`; ValueError on a malformed tag."""
    if isinstance(value, dict):
        if set(value) == {"__call__"}:
            inner = value["__call__"]
            if not isinstance(inner, dict) or set(inner) != {"module", "function", "params"}:
                raise ValueError("a __call__ needs exactly module, function and params")
            module, function, params = inner["module"], inner["function"], inner["params"]
            if not all(isinstance(x, str) and 0 < len(x) <= 64 for x in (module, function)):
                raise ValueError("a call's module and function must be short strings")
            if not isinstance(params, dict):
                raise ValueError("a call's params must be a map")
            return ComposedCall(module, function, decode_value(params))
        if set(value) == {"__bytes__"}:
            hex_text = value["__bytes__"]
            if not isinstance(hex_text, str):
                raise ValueError("__bytes__ must be a hex string")
            return bytes.fromhex(hex_text)
        return {k: decode_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


def call_from_json(data: Any) -> ComposedCall:
    decoded = decode_value(data)
    if not isinstance(decoded, ComposedCall) or not isinstance(decoded.params, dict):
        raise ValueError("not an encoded call")
    return decoded


@dataclass(frozen=True)
class SignedExtrinsic:
    """A call signed by an account for one nonce on one chain."""

    call: ComposedCall
    signer: str
    nonce: int
    signature: bytes
    genesis_hash: str
    # What a SCALE extrinsic carries and this one does not: sr25519, no tip, immortal.
    crypto = 1
    tip = 0
    mortal_until = None

    @staticmethod
    def payload(call: ComposedCall, signer: str, nonce: int, genesis_hash: str) -> bytes:
        body = {
            "call": encode_value(call),
            "genesis": genesis_hash,
            "nonce": nonce,
            "signer": signer,
        }
        return b"wmnet-localnet/1\n" + canonical_json(body).encode()

    def signing_payload(self) -> bytes:
        return self.payload(self.call, self.signer, self.nonce, self.genesis_hash)

    @property
    def hash(self) -> str:
        digest = hashlib.blake2b(self.signing_payload() + self.signature, digest_size=32)
        return "0x" + digest.hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "call": encode_value(self.call),
            "signer": self.signer,
            "nonce": self.nonce,
            "signature": self.signature.hex(),
            "genesis_hash": self.genesis_hash,
        }

    @classmethod
    def from_json(cls, data: Any) -> SignedExtrinsic:
        """Parse strictly: ValueError names the first field that is malformed."""
        if not isinstance(data, dict):
            raise ValueError("extrinsic must be a JSON object")
        fields = {"call", "signer", "nonce", "signature", "genesis_hash"}
        if set(data) != fields:
            raise ValueError(f"extrinsic must have exactly the fields {sorted(fields)}")
        signer, nonce = data["signer"], data["nonce"]
        signature, genesis = data["signature"], data["genesis_hash"]
        if not isinstance(signer, str) or not 0 < len(signer) <= 64:
            raise ValueError("signer must be an ss58 address")
        # Substrate's account index (nonce) is a u32.
        if isinstance(nonce, bool) or not isinstance(nonce, int) or not 0 <= nonce < 2**32:
            raise ValueError("nonce must be an integer in u32")
        if not isinstance(signature, str) or not re.fullmatch(r"[0-9a-fA-F]{128}", signature):
            raise ValueError("signature must be 64 hex-encoded bytes")
        if not isinstance(genesis, str) or not re.fullmatch(r"0x[0-9a-f]{64}", genesis):
            raise ValueError("genesis_hash must be a 0x-prefixed 32-byte hex string")
        return cls(call_from_json(data["call"]), signer, nonce, bytes.fromhex(signature), genesis)

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json()).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> SignedExtrinsic:
        return cls.from_json(json.loads(raw))


CRYPTO_ED25519, CRYPTO_SR25519 = 0, 1


@dataclass(frozen=True)
class ScaleExtrinsic:
    """A SCALE-encoded signed extrinsic (Substrate's ``UncheckedExtrinsic`` v4).

    ``payload`` is the exact message its signature covers, rebuilt by the chain
    with *its* genesis hash, spec and transaction versions, era block hash and
    metadata digest (``localnet/scale.py``), so a signature made for any other
    chain or runtime does not verify. ``mortal_until`` is the first block at which
    a mortal era no longer admits it (None: immortal).
    """

    call: ComposedCall
    signer: str
    nonce: int
    signature: bytes
    genesis_hash: str
    payload: bytes
    data: bytes
    crypto: int = CRYPTO_SR25519
    tip: int = 0
    mortal_until: int | None = None

    def signing_payload(self) -> bytes:
        return self.payload

    @property
    def hash(self) -> str:
        """blake2b-256 of the encoded extrinsic, as every Substrate client computes it."""
        return "0x" + hashlib.blake2b(self.data, digest_size=32).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "scale": self.data.hex(),
            "call": encode_value(self.call),
            "signer": self.signer,
            "nonce": self.nonce,
            "signature": self.signature.hex(),
            "genesis_hash": self.genesis_hash,
            "payload": self.payload.hex(),
            "crypto": self.crypto,
            "tip": self.tip,
            "mortal_until": self.mortal_until,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScaleExtrinsic:
        """From the chain's own journal (written by :meth:`to_json`)."""
        return cls(
            call=call_from_json(data["call"]),
            signer=str(data["signer"]),
            nonce=int(data["nonce"]),
            signature=bytes.fromhex(data["signature"]),
            genesis_hash=str(data["genesis_hash"]),
            payload=bytes.fromhex(data["payload"]),
            data=bytes.fromhex(data["scale"]),
            crypto=int(data["crypto"]),
            tip=int(data["tip"]),
            mortal_until=data["mortal_until"],
        )


Extrinsic = SignedExtrinsic | ScaleExtrinsic


def extrinsic_from_json(data: dict[str, Any]) -> Extrinsic:
    """Either kind, from the journal."""
    if isinstance(data, dict) and "scale" in data:
        return ScaleExtrinsic.from_json(data)
    return SignedExtrinsic.from_json(data)
