"""Options several commands share, checked where they are parsed.

A mistyped value stops the command before it connects to anything or loads a key: typer
turns ``BadParameter`` into a usage error, which ``wmnet.neurons.cli.main`` prints as one
line with exit status 2.
"""

from __future__ import annotations

import typer

NETWORK_HELP = (
    "localnet (wmnet's local chain on ws://127.0.0.1:9944, default), ws://HOST:PORT, "
    "local, test, finney, http://HOST:PORT (wmnet's private API)"
)


def _check_network(value: str) -> str:
    from wmnet.localnet.network import NetworkError, check_network

    try:
        return check_network(value)
    except NetworkError as error:
        raise typer.BadParameter(str(error)) from None


def network_option(default: str = "localnet") -> str:
    """``--network``, refused at parse time when it names no chain."""
    return typer.Option(default, "--network", help=NETWORK_HELP, callback=_check_network)


NETWORK = network_option()
WALLET = typer.Option(
    ...,
    "--wallet",
    help="Wallet name under --wallet-path (create one with `btcli wallet create`), "
    "or a dev URI such as //Alice on a local chain.",
)
HOTKEY = typer.Option("default", "--hotkey", help="Hotkey name within the wallet.")
WALLET_PATH = typer.Option(
    None, "--wallet-path", help="Wallets directory (default ~/.bittensor/wallets)."
)
YES = typer.Option(
    False,
    "--yes",
    "-y",
    help="Spend without asking (scripts). Costs are still printed; local chains never ask.",
)
JSON = typer.Option(False, "--json", help="Print JSON.")


def positive_tao(value: float) -> float:
    """A TAO amount: finite and above zero."""
    if not value > 0 or value == float("inf"):
        raise typer.BadParameter(f"give a positive number of TAO, not {value:g}")
    return value
