"""`wmnet localnet ...`: run and inspect the embedded local subtensor."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from wmnet.neurons.options import network_option
from wmnet.neurons.output import console, fail, print_json, print_table, usage_error

app = typer.Typer(no_args_is_help=True)

DEFAULT_STATE = Path("~/.wmnet/localnet.db")


@app.command()
def up(
    host: str | None = typer.Option(
        None, help="Bind address (default 127.0.0.1). A non-loopback address must be given here."
    ),
    port: int | None = typer.Option(
        None,
        min=1,
        max=65535,
        help="Substrate JSON-RPC port, WebSocket and HTTP POST, as a subtensor node's (default "
        "9944, or the port of WMNET_LOCALNET_URL, the variable every wmnet command reads to "
        "find this chain).",
    ),
    http_port: int | None = typer.Option(
        None,
        min=0,
        max=65535,
        help="wmnet's own HTTP API (status, epochs, manual advance): default the JSON-RPC "
        "port + 2 (9946); 0 turns it off.",
    ),
    block_time: float = typer.Option(0.25, help="Seconds per block (0.25 fast runtime, 12 real)."),
    state: Path = typer.Option(DEFAULT_STATE, help="SQLite file the chain persists to."),
    manual: bool = typer.Option(False, help="No clock: seal a block per submission (tests)."),
) -> None:
    """Serve the local chain on loopback until interrupted."""
    from wmnet.localnet.chain import Chain
    from wmnet.localnet.network import DEFAULT_RPC_PORT
    from wmnet.localnet.rpc.server import PortInUse, RpcServer, serve_all
    from wmnet.localnet.server import DEFAULT_HOST, check_bind, create_app
    from wmnet.localnet.statelock import StateInUse, StateLock

    explicit = host is not None
    bind = host or os.environ.get("WMNET_LOCALNET_HOST", DEFAULT_HOST)
    try:
        check_bind(bind, explicit)
    except ValueError as error:
        usage_error(str(error))
    if block_time <= 0:
        usage_error("--block-time must be positive")
    port = port or _port_from_env() or DEFAULT_RPC_PORT
    if http_port is None:
        http_port = port + 2 if port + 2 <= 65535 else 0
    if port == http_port:
        usage_error("--port and --http-port must differ (--http-port 0 turns the API off)")
    lock = StateLock(state.expanduser())
    try:
        lock.acquire()
    except StateInUse as error:
        usage_error(str(error))
    for wanted in (port, http_port) if http_port else (port,):
        if not _port_free(bind, wanted):
            lock.release()
            usage_error(
                f"port {wanted} on {bind} is in use (another `wmnet localnet up`, or a "
                "subtensor node?): stop it, or give --port / --http-port (and point "
                "commands at it with WMNET_LOCALNET_URL)"
            )
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
        usage_error(f"{error}; pick another with --port / --http-port")
    finally:
        chain.close()
        lock.release()


def _port_from_env() -> int | None:
    """The port of ``WMNET_LOCALNET_URL``, so one variable moves the server and its clients."""
    from urllib.parse import urlsplit

    url = os.environ.get("WMNET_LOCALNET_URL", "")
    try:
        return urlsplit(url).port if url else None
    except ValueError:
        return None


def _port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (checked before the chain opens its state)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


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
    network: str = network_option(),
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
