"""MevShield.submit_encrypted: the carrier of a shielded extrinsic.

A real node's block author decrypts the ML-KEM ciphertext with the key it
published in ``NextKey``. This chain publishes a well-formed but keyless
1184-byte ``NextKey``, so it cannot decrypt; instead the client-side
``Substrate`` deposits the signed inner extrinsic with the chain when it signs
it (``sign_extrinsic``), and the chain releases it only when the matching
carrier — same signer, nonce + 1 — is included, in the same block, right
after the carrier. Order and outcome match the real shield; confidentiality
on a local chain does not matter and is not provided.
"""

from __future__ import annotations

from wmnet.localnet.calls import CallContext, handler

# key_hash(16) || kem_len(2) || kem_ct(1088) || nonce(24) || aead tag(16)
MIN_CIPHERTEXT_BYTES = 16 + 2 + 1088 + 24 + 16


@handler("MevShield", "submit_encrypted")
def submit_encrypted(ctx: CallContext, ciphertext: bytes) -> None:
    signer = ctx.signed()
    # As on a node, the carrier is included either way; a ciphertext too short
    # to be an envelope simply never decrypts, so it releases nothing.
    if len(ciphertext) >= MIN_CIPHERTEXT_BYTES:
        ctx.release_shielded.append(signer)
    ctx.emit("MevShield", "EncryptedSubmitted", {"who": signer})
