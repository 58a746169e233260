"""wmnet's embedded local subtensor (docs/localnet.md).

A served chain (``wmnet localnet up``) is a Substrate node on
``ws://127.0.0.1:9944``: ``bittensor.Client("ws://127.0.0.1:9944")`` reaches it
with no wmnet import at all. ``connect(url)`` is the same client, and also takes
the private API's ``http://`` URL::

    import wmnet.localnet
    async with wmnet.localnet.connect("ws://127.0.0.1:9944") as client:
        print(await client.block())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import bittensor as bt

DEFAULT_URL = "ws://127.0.0.1:9944"


def connect(url: str = DEFAULT_URL) -> bt.Client:
    """A ``bittensor.Client`` for the chain served at ``url`` (``wmnet localnet up``)."""
    from wmnet.localnet.network import connect as _connect

    return _connect(url)


def connect_sync(url: str = DEFAULT_URL) -> bt.SyncClient:
    """The blocking ``bittensor.SyncClient`` for the chain served at ``url``."""
    from wmnet.localnet.network import connect_sync as _connect_sync

    return _connect_sync(url)
