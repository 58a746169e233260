"""MevShield.submit_encrypted: the carrier of a shielded extrinsic.

A real node's block author decrypts the ML-KEM ciphertext with the key it
published in ``NextKey`` and includes the inner extrinsic right after the
carrier. The chain keeps shielded inner extrinsics as *deposits* and releases
one only when the matching carrier (same signer, nonce + 1) is included, in the
same block, right after it. Deposits come two ways: over JSON-RPC the served
chain decrypts the carrier with its own ML-KEM key, as an author does
(``localnet/rpc/shield.py``); over wmnet's private API, whose ``NextKey`` is a
keyless placeholder, the client-side ``Substrate`` deposits the signed inner
extrinsic when it signs it (``sign_extrinsic``). Order and outcome match the
real shield either way.
"""

from __future__ import annotations

import hashlib

from bittensor_core import ss58_decode

from wmnet.localnet.calls import CallContext, handler
from wmnet.localnet.metadata.v15 import encode_compact

# key_hash(16) || kem_len(2) || kem_ct(1088) || nonce(24) || aead tag(16)
MIN_CIPHERTEXT_BYTES = 16 + 2 + 1088 + 24 + 16


@handler("MevShield", "submit_encrypted")
def submit_encrypted(ctx: CallContext, ciphertext: bytes) -> None:
    signer = ctx.signed()
    # As on a node, the carrier is included either way; a ciphertext too short
    # to be an envelope simply never decrypts, so it releases nothing.
    if len(ciphertext) >= MIN_CIPHERTEXT_BYTES:
        ctx.release_shielded.append(signer)
    event = {"id": submission_id(signer, ciphertext), "who": signer}
    ctx.emit("MevShield", "EncryptedSubmitted", event)


def submission_id(who: str, ciphertext: bytes) -> str:
    """``T::Hashing::hash_of(&(who, &ciphertext))``: blake2b-256 of their SCALE encoding."""
    encoded = bytes(ss58_decode(who)) + encode_compact(len(ciphertext)) + ciphertext
    return "0x" + hashlib.blake2b(encoded, digest_size=32).hexdigest()
