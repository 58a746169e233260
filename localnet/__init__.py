"""wmnet's embedded local subtensor (docs/localnet.md).

``connect(url)`` is the one call an SDK user needs to reach a served chain::

    import wmnet.localnet
    async with wmnet.localnet.connect("http://127.0.0.1:9946") as client:
        print(await client.block())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import bittensor as bt

DEFAULT_URL = "http://127.0.0.1:9946"


def connect(url: str = DEFAULT_URL) -> bt.Client:
    """A ``bittensor.Client`` for the chain served at ``url`` (``wmnet localnet up``)."""
    from wmnet.localnet.network import connect as _connect

    return _connect(url)


def connect_sync(url: str = DEFAULT_URL) -> bt.SyncClient:
    """The blocking ``bittensor.SyncClient`` for the chain served at ``url``."""
    from wmnet.localnet.network import connect_sync as _connect_sync

    return _connect_sync(url)
