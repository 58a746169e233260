"""Network names → a ``bittensor.Client``: the one seam to the chain.

- ``localnet`` (default): wmnet's served chain, ``ws://127.0.0.1:9944`` (or
  ``WMNET_LOCALNET_URL``), through the SDK's own WebSocket transport: to the SDK
  it is a Substrate node like any other;
- ``ws://…``/``wss://…``, ``local``, ``test``, ``finney``: the SDK's own names and
  transport, untouched (``local`` is the same ``ws://127.0.0.1:9944``);
- ``http://HOST:PORT``: wmnet's private HTTP API of a served chain, through
  ``LocalnetSubstrate`` (imported only then).

Importing this module, or asking it for a ``localnet``/``ws://`` client, loads
nothing of the chain's side (its state machine, server or codec):
``tests/localnet/test_seam.py`` checks the modules a client import pulls in.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import bittensor as bt

DEFAULT_NETWORK = "localnet"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_RPC_PORT = 9944  # subtensor's localnet port; `wmnet localnet up --port`
DEFAULT_LOCALNET_URL = f"ws://{DEFAULT_HOST}:{DEFAULT_RPC_PORT}"
_PRIVATE = ("http://", "https://")


def localnet_url(network: str) -> str | None:
    """The served chain's URL for a wmnet network name (``localnet``, ``http://…``),
    or None for the SDK's own names and ``ws://`` URLs."""
    if network == "localnet":
        return os.environ.get("WMNET_LOCALNET_URL", DEFAULT_LOCALNET_URL)
    if network.startswith(_PRIVATE):
        return network
    return None


def client_for(network: str = DEFAULT_NETWORK) -> bt.Client:
    """An unconnected ``bittensor.Client`` for ``network``; use ``async with``."""
    import bittensor as bt

    url = localnet_url(network) or network
    if url.startswith(_PRIVATE):
        return bt.Client("local", substrate=_private_substrate(url))
    return bt.Client(url)


def connect(url: str = DEFAULT_LOCALNET_URL) -> bt.Client:
    """A ``bittensor.Client`` for the wmnet chain served at ``url`` (unconnected; use
    ``async with``): ``ws://HOST:PORT`` (JSON-RPC) or ``http://HOST:PORT`` (wmnet's API)."""
    _check_served_url(url)
    return client_for(url)


def connect_sync(url: str = DEFAULT_LOCALNET_URL) -> bt.SyncClient:
    """The blocking twin of :func:`connect`: a ``bittensor.SyncClient`` (``with``)."""
    import bittensor as bt

    _check_served_url(url)
    if url.startswith(_PRIVATE):
        return bt.SyncClient("local", substrate=_private_substrate(url))
    return bt.SyncClient(url)


def _check_served_url(url: str) -> None:
    if not url.startswith(("ws://", "wss://", *_PRIVATE)):
        raise ValueError(
            f"a served wmnet chain has a ws:// (JSON-RPC) or http:// (wmnet API) URL, not {url!r}"
        )


def _private_substrate(url: str):  # noqa: ANN202 - LocalnetSubstrate, imported lazily
    from wmnet.localnet.remote import HttpBackend
    from wmnet.localnet.substrate import LocalnetSubstrate

    return LocalnetSubstrate(HttpBackend(url), blocking_io=True)
