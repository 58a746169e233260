"""ss58 addresses, dev keypairs and signature checks (bittensor_core underneath)."""

from __future__ import annotations

from functools import lru_cache

from bittensor_core import Keypair, ss58_decode


def is_ss58(address: str) -> bool:
    try:
        return len(bytes(ss58_decode(address))) == 32
    except Exception:  # malformed input of any kind is simply "not an address"
        return False


@lru_cache(maxsize=64)
def dev_keypair(uri: str) -> Keypair:
    """A dev keypair such as ``//Alice``; cached, derivation is not free."""
    return Keypair.create_from_uri(uri)


def verify_signature(address: str, payload: bytes, signature: bytes, crypto: int = 1) -> bool:
    """``crypto``: 1 sr25519 (wallets' default), 0 ed25519."""
    try:
        public = Keypair(ss58_address=address, crypto_type=crypto)
        return bool(public.verify(payload, signature))
    except Exception:  # a malformed key or signature fails verification
        return False
