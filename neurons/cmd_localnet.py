"""`wmnet localnet ...`: run and inspect the embedded local subtensor."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from wmnet.neurons.output import NETWORK_HELP, console, fail, print_json, print_table

app = typer.Typer(no_args_is_help=True)

DEFAULT_STATE = Path("~/.wmnet/localnet.db")


@app.command()
def up(
    host: str | None = typer.Option(
        None, help="Bind address (default 127.0.0.1). A non-loopback address must be given here."
    ),
    port: int = typer.Option(
        9944, help="Substrate JSON-RPC port (WebSocket and HTTP POST), as a subtensor node's."
    ),
    http_port: int = typer.Option(
        9946, help="wmnet's own HTTP API (status, epochs, manual advance); 0 turns it off."
    ),
    block_time: float = typer.Option(0.25, help="Seconds per block (0.25 fast runtime, 12 real)."),
    state: Path = typer.Option(DEFAULT_STATE, help="SQLite file the chain persists to."),
    manual: bool = typer.Option(False, help="No clock: seal a block per submission (tests)."),
) -> None:
    """Serve the local chain on loopback until interrupted."""
    from wmnet.localnet.chain import Chain
    from wmnet.localnet.rpc.server import PortInUse, RpcServer, serve_all
    from wmnet.localnet.server import DEFAULT_HOST, check_bind, create_app

    explicit = host is not None
    bind = host or os.environ.get("WMNET_LOCALNET_HOST", DEFAULT_HOST)
    try:
        check_bind(bind, explicit)
    except ValueError as error:
        fail(str(error))
    if block_time <= 0:
        fail("--block-time must be positive")
    if not 0 < port < 65536 or not 0 <= http_port < 65536 or port == http_port:
        fail("--port and --http-port must be different ports in 1-65535 (--http-port 0: off)")
    chain = Chain(state.expanduser(), block_time=block_time)
    try:
        rpc = RpcServer(chain)
        apps = [(rpc.app(), port)] + ([(create_app(chain), http_port)] if http_port else [])
        if not manual:
            chain.start_clock()
        mode = "manual seal" if manual else f"{block_time}s blocks"
        private = f", wmnet API http://{bind}:{http_port}" if http_port else ""
        console.print(
            f"wmnet localnet at [bold]ws://{bind}:{port}[/] (Substrate JSON-RPC{private}), "
            f"{mode}, block {chain.head}, state {state.expanduser()}",
            soft_wrap=True,
        )
        serve_all(apps, bind)
    except PortInUse as error:
        fail(f"{error}; pick another with --port / --http-port")
    finally:
        chain.close()


async def _status(network: str) -> dict:
    from wmnet.localnet.network import client_for

    async with client_for(network) as client:
        head = await client.block()
        netuids = sorted(
            int(k) for k, v in await client.query_map(("SubtensorModule", "NetworksAdded")) if v
        )
        subnets = []
        for netuid in netuids:
            neurons = await client.neurons.all(netuid) if hasattr(client.neurons, "all") else []
            subnets.append(
                {
                    "netuid": netuid,
                    "neurons": [
                        {
                            "uid": n.uid,
                            "hotkey": n.hotkey,
                            "coldkey": n.coldkey,
                            "validator_permit": n.validator_permit,
                            "active": n.active,
                        }
                        for n in neurons
                    ],
                }
            )
        return {"network": network, "block": head, "subnets": subnets}


@app.command()
def status(
    network: str = typer.Option("localnet", help=NETWORK_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the chain's block, its subnets and their neurons."""
    try:
        data = asyncio.run(_status(network))
    except ConnectionError as error:
        fail(str(error))
    if json_out:
        print_json(data)
        return
    console.print(f"network [bold]{network}[/], block [bold]{data['block']}[/]")
    for subnet in data["subnets"]:
        print_table(
            f"subnet {subnet['netuid']}",
            ["uid", "hotkey", "permit", "active"],
            [
                [n["uid"], n["hotkey"], n["validator_permit"], n["active"]]
                for n in subnet["neurons"]
            ],
        )
