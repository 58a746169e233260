"""The served chain's MEV-shield key: ML-KEM-768, as a block author holds one.

A node's author announces an ML-KEM-768 encapsulation key (``MevShield.NextKey``);
clients encrypt a signed extrinsic to it and submit the ciphertext in
``MevShield.submit_encrypted``; the author decapsulates and includes the inner
extrinsic right after the carrier (subtensor ``pallets/shield``). The served
chain does the same with one key of its own, kept in its store so a restart
decrypts what was encrypted before it. The envelope, as
``bittensor_core.encrypt_mlkem768`` writes it (KDF ``v1``: the raw shared secret
is the XChaCha20-Poly1305 key, empty associated data)::

    key_hash(16) || kem_len(u16 LE) || kem_ct || nonce(24) || aead_ct || tag(16)
"""

from __future__ import annotations

from Crypto.Cipher import ChaCha20_Poly1305
from cryptography.hazmat.primitives.asymmetric import mlkem

from wmnet.localnet.store import ChainStore

META_KEY = "mev_shield_seed"
KEY_HASH_BYTES, NONCE_BYTES, TAG_BYTES = 16, 24, 16


class ShieldKey:
    def __init__(self, seed: bytes):
        self._private = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed)
        self.public = self._private.public_key().public_bytes_raw()

    @classmethod
    def of_store(cls, store: ChainStore) -> ShieldKey:
        """The chain's key, made on first use and kept in its store."""
        seed = store.get_meta(META_KEY)
        if seed is None:
            key = mlkem.MLKEM768PrivateKey.generate()
            store.set_meta(META_KEY, key.private_bytes_raw().hex())
            seed = store.get_meta(META_KEY)
        return cls(bytes.fromhex(seed or ""))

    def open(self, envelope: bytes) -> bytes | None:
        """The plaintext, or None when the envelope is not one this key opens."""
        try:
            at = KEY_HASH_BYTES
            kem_len = int.from_bytes(envelope[at : at + 2], "little")
            at += 2
            kem_ct = envelope[at : at + kem_len]
            at += kem_len
            nonce = envelope[at : at + NONCE_BYTES]
            body = envelope[at + NONCE_BYTES :]
            if len(nonce) != NONCE_BYTES or len(body) < TAG_BYTES:
                return None
            secret = self._private.decapsulate(kem_ct)
            cipher = ChaCha20_Poly1305.new(key=secret, nonce=nonce)
            return cipher.decrypt_and_verify(body[:-TAG_BYTES], body[-TAG_BYTES:])
        except (ValueError, KeyError):  # wrong length, wrong key, forged tag
            return None
