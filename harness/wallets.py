"""Wallets for the CLI: named wallets on disk, or dev URIs on a local chain.

``--wallet //Bob --hotkey m1`` gives coldkey ``//Bob`` and hotkey
``//Bob//m1``: handy on a localnet, where the dev accounts are funded at
genesis. Any other name is a ``bittensor.Wallet`` under the wallet path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bittensor_core import Keypair


@dataclass
class DevWallet:
    """A wallet-shaped object (the SDK's KeyedWallet) built from dev URIs."""

    name: str
    coldkey: Any
    hotkey: Any

    @property
    def coldkeypub(self) -> Any:
        return self.coldkey

    @property
    def hotkeypub(self) -> Any:
        return self.hotkey


def load_wallet(name: str, hotkey: str = "default", path: str | None = None) -> Any:
    if name.startswith("//"):
        return DevWallet(
            name=name,
            coldkey=Keypair.create_from_uri(name),
            hotkey=Keypair.create_from_uri(f"{name}//{hotkey}"),
        )
    import bittensor as bt

    kwargs = {"path": path} if path else {}
    return bt.Wallet(name=name, hotkey=hotkey, **kwargs)


def ensure_wallet(name: str, hotkey: str = "default", path: str | None = None) -> Any:
    """Load a wallet, creating unencrypted keys on first use (local testing only)."""
    wallet = load_wallet(name, hotkey, path)
    if isinstance(wallet, DevWallet):
        return wallet
    if not wallet.coldkeypub_file.exists_on_device():
        wallet.create_new_coldkey(use_password=False, suppress=True)
    if not wallet.hotkey_file.exists_on_device():
        wallet.create_new_hotkey(use_password=False, suppress=True)
    return wallet
