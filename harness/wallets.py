"""Wallets for the CLI: named wallets on disk, or dev URIs on a local chain.

``--wallet //Bob --hotkey m1`` gives coldkey ``//Bob`` and hotkey
``//Bob//m1``: handy on a localnet, where the dev accounts are funded at
genesis. Any other name is a ``bittensor.Wallet`` under the wallet path.

Commands open wallets with :func:`open_wallet`, which never creates one: a wallet
holds real keys, so it is made on purpose (``btcli wallet create``), and a mistyped
name is an error that says so, not a fresh unencrypted coldkey. Dev URIs are public
keys anyone can sign with; they are accepted on local chains only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bittensor_core import Keypair

from wmnet.localnet.network import is_local_network


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


class WalletError(ValueError):
    """A wallet a command cannot use, worded for the operator (one line, says what to do)."""


def open_wallet(name: str, hotkey: str, path: str | None, *, network: str) -> Any:
    """The wallet a command signs with; WalletError when it is missing or misused.

    Only the public key files are checked here; an encrypted coldkey asks for its
    password when a command first signs with it.
    """
    if name.startswith("//"):
        if not is_local_network(network):
            raise WalletError(
                f"{name} is a public development key: use it only on a local chain "
                f"(--network localnet or local), not on {network}; give a wallet you "
                "created with `btcli wallet create`"
            )
        return load_wallet(name, hotkey)
    try:
        wallet = load_wallet(name, hotkey, path)
    except ValueError as error:  # the SDK's check of a "cold/hot" name
        raise WalletError(str(error)) from None
    where = Path(wallet.path).expanduser()
    create = f"btcli wallet create --wallet {wallet.name} --wallet-hotkey {wallet.hotkey_str}"
    if path:
        create += f" --wallet-path {path}"
    if not wallet.coldkeypub_file.exists_on_device():
        raise WalletError(
            f"no wallet {wallet.name!r} under {where}: create it with `{create}`"
            + (" (or use a dev key such as //Alice)" if is_local_network(network) else "")
        )
    if not wallet.hotkey_file.exists_on_device():
        new = create.replace("wallet create", "wallet new-hotkey")
        raise WalletError(
            f"wallet {wallet.name!r} has no hotkey {wallet.hotkey_str!r} under {where}: "
            f"create it with `{new}`"
        )
    return wallet
