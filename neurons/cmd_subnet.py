"""`wmnet subnet ...`: create, register, stake and inspect subnets via the SDK."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from wmnet.neurons.output import NETWORK_HELP, console, fail, print_json, print_metagraph

app = typer.Typer(no_args_is_help=True)

NETWORK = typer.Option("localnet", "--network", help=NETWORK_HELP)
WALLET = typer.Option(
    ..., "--wallet", help="Wallet name, or a dev URI such as //Alice on a localnet."
)
HOTKEY = typer.Option("default", "--hotkey", help="Hotkey name within the wallet.")
JSON = typer.Option(False, "--json", help="Print JSON.")


async def _execute(network: str, intent: Any, wallet: Any) -> Any:
    from wmnet.localnet.network import client_for

    async with client_for(network) as client:
        return await client.execute(intent, wallet)


def _run_intent(network: str, intent: Any, wallet: Any, json_out: bool, what: str) -> None:
    from bittensor.result import BittensorError

    try:
        result = asyncio.run(_execute(network, intent, wallet))
    except (BittensorError, ConnectionError) as error:
        fail(f"{what}: {error}")
    if json_out:
        print_json(result.to_dict())
    elif result.success:
        console.print(f"[green]{what}: {result.message}[/] {result.data or ''}")
    if not result.success:
        fail(f"{what} failed: {result.message}")


@app.command()
def create(
    wallet: str = WALLET, hotkey: str = HOTKEY, network: str = NETWORK, json_out: bool = JSON
) -> None:
    """Register a new subnet owned by the wallet's coldkey."""
    import bittensor as bt

    from wmnet.harness.wallets import ensure_wallet

    _run_intent(
        network, bt.RegisterSubnet(), ensure_wallet(wallet, hotkey), json_out, "create subnet"
    )


@app.command()
def start(
    netuid: int = typer.Option(..., "--netuid"),
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    network: str = NETWORK,
    json_out: bool = JSON,
) -> None:
    """Start a subnet's emission (start_call), as its owner."""
    import bittensor as bt

    from wmnet.harness.wallets import ensure_wallet

    _run_intent(
        network, bt.StartCall(netuid=netuid), ensure_wallet(wallet, hotkey), json_out, "start"
    )


@app.command()
def register(
    netuid: int = typer.Option(..., "--netuid"),
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    network: str = NETWORK,
    json_out: bool = JSON,
) -> None:
    """Register the wallet's hotkey on a subnet by burning the registration cost."""
    import bittensor as bt

    from wmnet.harness.wallets import ensure_wallet

    _run_intent(
        network,
        bt.BurnedRegister(netuid=netuid),
        ensure_wallet(wallet, hotkey),
        json_out,
        "register",
    )


@app.command()
def stake(
    netuid: int = typer.Option(..., "--netuid"),
    amount: float = typer.Option(..., help="TAO to stake."),
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    network: str = NETWORK,
    json_out: bool = JSON,
) -> None:
    """Stake TAO from the coldkey onto the wallet's hotkey."""
    import bittensor as bt

    from wmnet.harness.wallets import ensure_wallet

    w = ensure_wallet(wallet, hotkey)
    intent = bt.AddStake(netuid=netuid, hotkey_ss58=w.hotkey.ss58_address, amount_tao=amount)
    _run_intent(network, intent, w, json_out, "stake")


@app.command("set")
def set_hyperparameter(
    netuid: int = typer.Option(..., "--netuid"),
    name: str = typer.Option(
        ..., help="Hyperparameter (btcli names, e.g. commit_reveal_weights_enabled)."
    ),
    value: str = typer.Option(..., help="New value."),
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    network: str = NETWORK,
    json_out: bool = JSON,
) -> None:
    """Set an owner-settable hyperparameter on a subnet you own."""
    import bittensor as bt

    from wmnet.harness.wallets import ensure_wallet

    parsed: Any = value
    if value.lower() in ("true", "false"):
        parsed = value.lower() == "true"
    elif value.lstrip("-").isascii() and value.lstrip("-").isdigit():
        parsed = int(value)
    try:
        intent = bt.SetHyperparameter(netuid=netuid, name=name, value=parsed)
    except ValueError as error:
        fail(str(error))
    _run_intent(network, intent, ensure_wallet(wallet, hotkey), json_out, f"set {name}")


async def _show(network: str, netuid: int) -> dict[str, Any] | None:
    from wmnet.localnet.network import client_for

    async with client_for(network) as client:
        graph = await client.subnets.metagraph(netuid)
        if graph is None:
            return None
        return {
            "netuid": netuid,
            "block": graph.block,
            "tempo": graph.tempo,
            "owner_hotkey": graph.owner_hotkey,
            "neurons": [
                {
                    "uid": n.uid,
                    "hotkey": n.hotkey,
                    "stake_rao": n.total_stake.rao,
                    "validator_permit": n.validator_permit,
                    "incentive": n.incentive,
                    "dividends": n.dividends,
                    "emission_rao": n.emission.rao,
                    "axon": n.axon,
                }
                for n in graph.neurons
            ],
        }


@app.command()
def show(
    netuid: int = typer.Option(..., "--netuid"), network: str = NETWORK, json_out: bool = JSON
) -> None:
    """Print a subnet's metagraph."""
    from bittensor.result import BittensorError

    try:
        data = asyncio.run(_show(network, netuid))
    except (BittensorError, ConnectionError) as error:
        fail(str(error))
    if data is None:
        fail(f"subnet {netuid} does not exist on {network}")
    if json_out:
        print_json(data)
        return
    print_metagraph(
        f"subnet {netuid} at block {data['block']} (tempo {data['tempo']})", data["neurons"]
    )
