"""The miner's own hotkey, for what it signs itself (training-shard update envelopes).

The miner's settings hold only names (``MinerConfig.wallet``, ``wallet_hotkey``,
``wallet_path``), never key material, so each uvicorn worker loads the key here from
the wallet on disk (or derives a dev key such as ``//Charlie//miner0`` on a localnet).
"""

from __future__ import annotations

from typing import Any

from wmnet.localnet.keys import dev_keypair


def load_hotkey(wallet: str, hotkey: str = "default", path: str | None = None) -> Any:
    """The keypair of ``wallet``'s ``hotkey`` (a ``bittensor_core.Keypair``)."""
    if wallet.startswith("//"):
        return dev_keypair(f"{wallet}//{hotkey}")
    import bittensor as bt

    kwargs = {"path": path} if path else {}
    return bt.Wallet(name=wallet, hotkey=hotkey, **kwargs).hotkey
