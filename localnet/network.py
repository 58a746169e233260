"""Network names → a ``bittensor.Client``: the one seam to the chain.

``localnet`` (default) and ``http://HOST:PORT`` reach wmnet's local chain;
``local``, ``test``, ``finney`` and ``ws://…`` use the SDK's own RPC
transport untouched.

:func:`check_network` refuses a mistyped name before anything connects, and
:func:`is_local_network` tells a chain whose TAO is worthless (wmnet's own, or a
subtensor on this machine) from a public one, where commands ask before they spend.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from urllib.parse import urlsplit

import bittensor as bt
from bittensor.settings import NETWORKS as SDK_NETWORKS

from wmnet.localnet.remote import HttpBackend
from wmnet.localnet.server import DEFAULT_HOST, DEFAULT_PORT
from wmnet.localnet.substrate import LocalnetSubstrate

DEFAULT_NETWORK = "localnet"
URL_SCHEMES = ("http://", "https://", "ws://", "wss://")


class NetworkError(ValueError):
    """A network name nobody knows, worded for the operator (one line)."""


def check_network(network: str) -> str:
    """``network`` unchanged when it names a chain; NetworkError (with a suggestion) if not."""
    if network == DEFAULT_NETWORK or network in SDK_NETWORKS:
        return network
    if network.startswith(URL_SCHEMES):
        if urlsplit(network).hostname:
            return network
        raise NetworkError(f"network URL {network!r} has no host: e.g. ws://127.0.0.1:9944")
    names = [DEFAULT_NETWORK, *sorted(SDK_NETWORKS)]
    close = difflib.get_close_matches(network, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise NetworkError(
        f"unknown network {network!r}: {hint}use {', '.join(names)}, "
        "or a ws://, wss:// or http:// URL"
    )


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_network(network: str) -> bool:
    """True for chains whose TAO is play money: wmnet's own chain (``localnet``,
    ``http://…``), the SDK's ``local`` and a ``ws://`` node on this machine.

    Only there are dev keys (``//Alice``) accepted, test settings applied behind a
    ``subnet create``, and spending done without asking.
    """
    if network == DEFAULT_NETWORK or network.startswith(("http://", "https://")):
        return True
    if network == "local":
        network = SDK_NETWORKS["local"]
    return network.startswith("ws://") and _loopback(urlsplit(network).hostname)


def localnet_url(network: str) -> str | None:
    """The served chain's URL for a network name, or None for SDK-native networks."""
    if network == "localnet":
        return os.environ.get("WMNET_LOCALNET_URL", f"http://{DEFAULT_HOST}:{DEFAULT_PORT}")
    if network.startswith(("http://", "https://")):
        return network
    return None


def client_for(network: str = DEFAULT_NETWORK) -> bt.Client:
    """An unconnected ``bittensor.Client`` for ``network``; use ``async with``.

    Raises NetworkError (a ValueError) for a name that is no network."""
    url = localnet_url(check_network(network))
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
