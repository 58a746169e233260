"""Composed calls and signed extrinsics, and their canonical JSON encoding.

The SDK tells a composed call from a builder by its ``.data`` attribute; here
``data`` is the canonical JSON of (module, function, params), which is also
what travels to a served chain and what a signature covers.
"""

from __future__ import annotations

import hashlib
import json
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
    if isinstance(value, dict):
        if set(value) == {"__call__"}:
            inner = value["__call__"]
            return ComposedCall(
                str(inner["module"]), str(inner["function"]), decode_value(inner["params"])
            )
        if set(value) == {"__bytes__"}:
            return bytes.fromhex(value["__bytes__"])
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
        if not isinstance(data, dict):
            raise ValueError("extrinsic must be a JSON object")
        try:
            return cls(
                call=call_from_json(data["call"]),
                signer=str(data["signer"]),
                nonce=int(data["nonce"]),
                signature=bytes.fromhex(str(data["signature"])),
                genesis_hash=str(data["genesis_hash"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed extrinsic: {error}") from error

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json()).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> SignedExtrinsic:
        return cls.from_json(json.loads(raw))
