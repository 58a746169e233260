"""Network names → a ``bittensor.Client``: the one seam to the chain.

``localnet`` (default) and ``http://HOST:PORT`` reach wmnet's local chain;
``local``, ``test``, ``finney`` and ``ws://…`` use the SDK's own RPC
transport untouched.
"""

from __future__ import annotations

import os

import bittensor as bt

from wmnet.localnet.remote import HttpBackend
from wmnet.localnet.server import DEFAULT_HOST, DEFAULT_PORT
from wmnet.localnet.substrate import LocalnetSubstrate

DEFAULT_NETWORK = "localnet"


def localnet_url(network: str) -> str | None:
    """The served chain's URL for a network name, or None for SDK-native networks."""
    if network == "localnet":
        return os.environ.get("WMNET_LOCALNET_URL", f"http://{DEFAULT_HOST}:{DEFAULT_PORT}")
    if network.startswith(("http://", "https://")):
        return network
    return None


def client_for(network: str = DEFAULT_NETWORK) -> bt.Client:
    """An unconnected ``bittensor.Client`` for ``network``; use ``async with``."""
    url = localnet_url(network)
    if url is None:
        return bt.Client(network)
    substrate = LocalnetSubstrate(HttpBackend(url), blocking_io=True)
    return bt.Client("local", substrate=substrate)


def connect(url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}") -> bt.Client:
    """A ``bittensor.Client`` for the wmnet chain served at ``url`` (unconnected;
    use ``async with``). The SDK's own network names do not know wmnet's chain."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"a served wmnet chain has an http(s) URL, not {url!r}")
    return client_for(url)


def connect_sync(url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}") -> bt.SyncClient:
    """The blocking twin of :func:`connect`: a ``bittensor.SyncClient`` (``with``)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"a served wmnet chain has an http(s) URL, not {url!r}")
    substrate = LocalnetSubstrate(HttpBackend(url), blocking_io=True)
    return bt.SyncClient("local", substrate=substrate)
