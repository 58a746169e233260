"""Network names → a ``bittensor.Client``: the one seam to the chain.

- ``localnet`` (default): wmnet's served chain, ``ws://127.0.0.1:9944`` (or
  ``WMNET_LOCALNET_URL``), through the SDK's own WebSocket transport: to the SDK
  it is a Substrate node like any other;
- ``ws://…``/``wss://…``, ``local``, ``test``, ``finney``: the SDK's own names and
  transport, untouched (``local`` is the same ``ws://127.0.0.1:9944``);
- ``http://HOST:PORT``: wmnet's private HTTP API of a served chain, through
  ``LocalnetSubstrate`` (imported only then).

:func:`check_network` refuses a mistyped name before anything connects, and
:func:`is_local_network` tells a chain whose TAO is worthless (wmnet's own, or a
subtensor on this machine) from a public one, where commands ask before they spend.

Importing this module, or asking it for a ``localnet``/``ws://`` client, loads
nothing of the chain's side (its state machine, server or codec):
``tests/localnet/test_seam.py`` checks the modules a client import pulls in.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from urllib.parse import urlsplit

import bittensor as bt
from bittensor.settings import NETWORKS as SDK_NETWORKS

DEFAULT_NETWORK = "localnet"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_RPC_PORT = 9944  # subtensor's localnet port; `wmnet localnet up --port`
DEFAULT_LOCALNET_URL = f"ws://{DEFAULT_HOST}:{DEFAULT_RPC_PORT}"
URL_SCHEMES = ("http://", "https://", "ws://", "wss://")
_PRIVATE = ("http://", "https://")


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
    if network == DEFAULT_NETWORK or network.startswith(_PRIVATE):
        return True
    if network == "local":
        network = SDK_NETWORKS["local"]
    return network.startswith("ws://") and _loopback(urlsplit(network).hostname)


def localnet_url(network: str) -> str | None:
    """The served chain's URL for a wmnet network name (``localnet``, ``http://…``),
    or None for the SDK's own names and ``ws://`` URLs."""
    if network == DEFAULT_NETWORK:
        return os.environ.get("WMNET_LOCALNET_URL", DEFAULT_LOCALNET_URL)
    if network.startswith(_PRIVATE):
        return network
    return None


def client_for(network: str = DEFAULT_NETWORK) -> bt.Client:
    """An unconnected ``bittensor.Client`` for ``network``; use ``async with``.

    Raises NetworkError (a ValueError) for a name that is no network."""
    url = localnet_url(check_network(network)) or network
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
    _check_served_url(url)
    if url.startswith(_PRIVATE):
        return bt.SyncClient("local", substrate=_private_substrate(url))
    return bt.SyncClient(url)


def _check_served_url(url: str) -> None:
    if not url.startswith(URL_SCHEMES):
        raise ValueError(
            f"a served wmnet chain has a ws:// (JSON-RPC) or http:// (wmnet API) URL, not {url!r}"
        )


def _private_substrate(url: str):  # noqa: ANN202 - LocalnetSubstrate, imported lazily
    from wmnet.localnet.remote import HttpBackend
    from wmnet.localnet.substrate import LocalnetSubstrate

    return LocalnetSubstrate(HttpBackend(url), blocking_io=True)
