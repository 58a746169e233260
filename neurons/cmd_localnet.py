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
        help="Port to serve the chain on (default 9946, or the port of WMNET_LOCALNET_URL, "
        "the variable every wmnet command reads to find this chain).",
    ),
    block_time: float = typer.Option(0.25, help="Seconds per block (0.25 fast runtime, 12 real)."),
    state: Path = typer.Option(DEFAULT_STATE, help="SQLite file the chain persists to."),
    manual: bool = typer.Option(False, help="No clock: seal a block per submission (tests)."),
) -> None:
    """Serve the local chain on loopback until interrupted."""
    from wmnet.localnet.chain import Chain
    from wmnet.localnet.server import DEFAULT_HOST, DEFAULT_PORT, check_bind, serve
    from wmnet.localnet.statelock import StateInUse, StateLock

    explicit = host is not None
    bind = host or os.environ.get("WMNET_LOCALNET_HOST", DEFAULT_HOST)
    try:
        check_bind(bind, explicit)
    except ValueError as error:
        usage_error(str(error))
    if block_time <= 0:
        usage_error("--block-time must be positive")
    port = port or _port_from_env() or DEFAULT_PORT
    lock = StateLock(state.expanduser())
    try:
        lock.acquire()
    except StateInUse as error:
        usage_error(str(error))
    if not _port_free(bind, port):
        lock.release()
        usage_error(
            f"port {port} on {bind} is in use (another `wmnet localnet up`?): stop it, "
            "or give --port (and point commands at it with WMNET_LOCALNET_URL)"
        )
    chain = Chain(state.expanduser(), block_time=block_time)
    if not manual:
        chain.start_clock()
    mode = "manual seal" if manual else f"{block_time}s blocks"
    console.print(
        f"wmnet localnet at [bold]http://{bind}:{port}[/] ({mode}), "
        f"block {chain.head}, state {state.expanduser()}"
    )
    try:
        serve(chain, bind, port, explicit_host=explicit)
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
