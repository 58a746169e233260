"""SCALE on the chain's side: decode and check extrinsics, turn calls into the chain's own.

One :class:`ChainCodec` per served chain, built from the metadata it serves
(``localnet/metadata``) with ``bittensor_core`` underneath (through the SDK's
``RuntimeCodec``). An extrinsic from a JSON-RPC client is checked as Substrate's
signed extensions check it, before the pool sees it:

- ``CheckSpecVersion``, ``CheckTxVersion``, ``CheckGenesis``, ``CheckMortality``,
  ``CheckMetadataHash``: these add no bytes to the extrinsic; they enter the
  signature payload. The chain rebuilds the payload with its own spec and
  transaction versions, genesis hash, the hash of the era's birth block and, in
  ``CheckMetadataHash`` mode ``Enabled``, the RFC-0078 digest of its metadata, so a
  signature made for anything else does not verify (``BadProof``);
- ``CheckMortality``: a mortal era's birth is the era's phase relative to the
  head; an era whose birth is not yet produced, or that has ended, is refused;
- ``CheckNonce``, ``ChargeTransactionPayment`` (the tip): the pool's checks
  (``block.validate``), shared with every other extrinsic.

The call is decoded by the metadata and converted to the chain's
:class:`ComposedCall`; a call whose conversion does not encode back to the very
same bytes is refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import bittensor_core as core
from bittensor._transport.codec import RuntimeCodec

from wmnet.localnet import metadata as md
from wmnet.localnet.codec import (
    CRYPTO_ED25519,
    CRYPTO_SR25519,
    ComposedCall,
    ScaleExtrinsic,
    SignedExtrinsic,
)
from wmnet.localnet.errors import InvalidTransaction

SS58_FORMAT = 42
# The largest extrinsic the pool decodes; a 4,096-UID set_weights is ~16 kB.
MAX_EXTRINSIC_BYTES = 64 * 1024
# Decoded call arguments that are byte vectors (the decoder hands them back as text
# when they are UTF-8, else 0x-hex): re-encoded to their exact bytes.
_BYTES_TYPES = ("Vec<u8>", "BoundedVec<u8", "Bytes")
_SIGNATURES = {"Sr25519": CRYPTO_SR25519, "Ed25519": CRYPTO_ED25519}


class UndecodableExtrinsic(InvalidTransaction):
    """Bytes that are not an extrinsic of this runtime."""


def undecodable(what: str, cause: BaseException | None = None) -> UndecodableExtrinsic:
    detail = f" ({type(cause).__name__}: {str(cause)[:200]})" if cause else ""
    return UndecodableExtrinsic(f"Invalid Transaction: {what}{detail}")


class ChainCodec:
    def __init__(self, slot_ms: int = md.DEFAULT_SLOT_MS):
        self.metadata = md.metadata_v15(slot_ms)
        self.codec = RuntimeCodec(
            self.metadata,
            spec_version=md.SPEC_VERSION,
            transaction_version=md.TRANSACTION_VERSION,
            spec_name=md.SPEC_NAME,
            ss58_format=SS58_FORMAT,
        )
        # RFC-0078: what a signer in CheckMetadataHash mode Enabled signs into its payload.
        self.metadata_digest = bytes(
            core.metadata_digest(
                self.metadata, md.SPEC_VERSION, md.SPEC_NAME, SS58_FORMAT, 9, "TAO"
            )
        )

    # --- calls ----------------------------------------------------------------

    def compose(self, call: ComposedCall) -> bytes:
        """The SCALE bytes of a chain call."""
        return self.codec.compose_call(call.module, call.function, self._args(call.params)).data

    def _args(self, value: Any) -> Any:
        if isinstance(value, ComposedCall):
            return self.codec.compose_call(value.module, value.function, self._args(value.params))
        if isinstance(value, dict):
            return {k: self._args(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._args(v) for v in value]
        return value

    def call_from_bytes(self, data: bytes) -> ComposedCall:
        """A call's SCALE bytes as a chain call; refuses what does not round-trip."""
        try:
            decoded = self.codec.decode_call(data)
        except Exception as error:  # any decode failure is the sender's bytes
            raise undecodable("the call does not decode", error) from error
        call = self._call(decoded)
        try:
            again = self.compose(call)
        except Exception as error:
            raise undecodable("the call does not re-encode", error) from error
        if again != data:
            raise undecodable("the call does not decode unambiguously")
        return call

    def _call(self, decoded: dict[str, Any]) -> ComposedCall:
        params: dict[str, Any] = {}
        for arg in decoded.get("call_args") or []:
            params[arg["name"]] = self._value(arg["value"], str(arg.get("type") or ""))
        return ComposedCall(str(decoded["call_module"]), str(decoded["call_function"]), params)

    def _value(self, value: Any, type_name: str) -> Any:
        if isinstance(value, dict) and "call_module" in value and "call_function" in value:
            return self._call(value)
        if isinstance(value, str) and type_name.startswith(_BYTES_TYPES):
            raw = self.codec.encode("Vec<u8>", value)
            return raw[len(_compact_prefix(raw)) :]
        if isinstance(value, tuple):
            return list(value)
        return value

    # --- extrinsics ---------------------------------------------------------------

    def decode_extrinsic(
        self, data: bytes, *, genesis_hash: str, head: int, block_hash: Callable[[int], str]
    ) -> ScaleExtrinsic:
        """Decode and check a signed extrinsic against this chain at ``head``.

        ``genesis_hash`` is the chain's identity (its state's); the payload's
        ``CheckGenesis`` part is the hash of block 0, as every client reads it.
        Raises :class:`InvalidTransaction` naming what is wrong. The signature and
        nonce are checked again by the pool (``block.validate``), which sees every
        extrinsic whatever its encoding.
        """
        if len(data) > MAX_EXTRINSIC_BYTES:
            raise UndecodableExtrinsic(
                f"Invalid Transaction: ExhaustsResources (an extrinsic of {len(data)} bytes; "
                f"the limit is {MAX_EXTRINSIC_BYTES})"
            )
        try:
            decoded = self.codec.decode_extrinsic(data)
        except Exception as error:  # a malformed extrinsic of any kind
            raise undecodable("the extrinsic does not decode", error) from error
        if not decoded.get("address") or not decoded.get("signature"):
            raise InvalidTransaction(
                "Invalid Transaction: Call (unsigned extrinsics are only inherents, "
                "which the block author makes)"
            )
        ((scheme, signature_hex),) = dict(decoded["signature"]).items()
        if scheme not in _SIGNATURES:
            raise InvalidTransaction(f"Invalid Transaction: BadProof ({scheme} is not accepted)")
        signature = bytes.fromhex(str(signature_hex).removeprefix("0x"))
        call = self._call(decoded["call"])
        try:
            call_bytes = self.compose(call)
        except Exception as error:
            raise undecodable("the call does not encode", error) from error
        if not data.endswith(call_bytes):  # the call is the extrinsic's last field
            raise undecodable("the call does not decode unambiguously")
        nonce, tip = int(decoded["nonce"]), int(decoded.get("tip") or 0)
        block_zero = block_hash(0)
        era, era_hash, until = self._era(decoded.get("era"), block_zero, head, block_hash)
        mode = decoded.get("mode") or {}
        enabled = (mode.get("mode") if isinstance(mode, dict) else mode) == "Enabled"
        payload = self.codec.signature_payload(
            call_bytes,
            era=era,
            nonce=nonce,
            tip=tip,
            tip_asset_id=None,
            genesis_hash=block_zero,
            era_block_hash=era_hash,
            metadata_hash=self.metadata_digest if enabled else None,
        )
        return ScaleExtrinsic(
            call=call,
            signer=str(decoded["address"]),
            nonce=nonce,
            signature=signature,
            genesis_hash=genesis_hash,
            payload=payload,
            data=bytes(data),
            crypto=_SIGNATURES[scheme],
            tip=tip,
            mortal_until=until,
        )

    def _era(
        self, era: Any, genesis_hash: str, head: int, block_hash: Callable[[int], str]
    ) -> tuple[Any, str, int | None]:
        """(era for the payload, its birth block's hash, first block it no longer admits)."""
        if era in (None, "00", "Immortal") or (isinstance(era, dict) and "Immortal" in era):
            return "00", genesis_hash, None
        period, phase = (int(x) for x in era)
        birth = (max(head, phase) - phase) // period * period + phase
        if birth > head:
            raise InvalidTransaction("Invalid Transaction: AncientBirthBlock (era born in future)")
        return {"period": period, "current": birth}, block_hash(birth), birth + period

    def signed_bytes(self, xt: SignedExtrinsic) -> bytes:
        """A JSON-signed extrinsic (the private API's) as SCALE, for ``chain_getBlock``.

        Its signature covers wmnet's JSON payload, not this encoding: it decodes
        like any other but does not verify as a Substrate signature, and its hash
        is not the JSON extrinsic's.
        """
        data, _ = self.codec.encode_signed_extrinsic(
            self.compose(xt.call),
            public_key=bytes(core.ss58_decode(xt.signer)),
            signature=xt.signature,
            signature_version=CRYPTO_SR25519,
            era="00",
            nonce=xt.nonce,
            tip=0,
            tip_asset_id=None,
        )
        return data

    def timestamp_inherent(self, now_ms: int) -> bytes:
        """The unsigned ``Timestamp.set(now)`` every block starts with."""
        call = self.codec.compose_call("Timestamp", "set", {"now": now_ms}).data
        body = bytes([self.codec.extrinsic_version & 0x7F]) + call
        return _compact(len(body)) + body


def _compact(value: int) -> bytes:
    from wmnet.localnet.metadata.v15 import encode_compact

    return encode_compact(value)


def _compact_prefix(raw: bytes) -> bytes:
    mode = raw[0] & 3
    return raw[: {0: 1, 1: 2, 2: 4}.get(mode, (raw[0] >> 2) + 5)]


def extrinsic_hash(data: bytes) -> str:
    return "0x" + hashlib.blake2b(data, digest_size=32).hexdigest()


@lru_cache(maxsize=4)
def chain_codec(slot_ms: int = md.DEFAULT_SLOT_MS) -> ChainCodec:
    return ChainCodec(slot_ms)
