"""`wmnet subnet ...`: create, register, stake and inspect subnets via the SDK.

Commands that spend (create, register, stake) print the cost first and, on a public
network, ask (``--yes`` for scripts): ``wmnet.neurons.spend``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from wmnet.neurons.options import HOTKEY, JSON, NETWORK, WALLET, WALLET_PATH, YES, positive_tao
from wmnet.neurons.output import console, fail, note, print_json, print_metagraph, usage_error

app = typer.Typer(no_args_is_help=True)

NETUID = typer.Option(..., "--netuid", min=0, max=65535, help="Subnet id.")
# The sudo key of local chains (wmnet's and subtensor's localnet image): root-only
# hyperparameters are set through `Sudo.sudo` signed by it.
LOCAL_SUDO = "//Alice"
# Root-only hyperparameters `subnet set` can change on a local chain: name -> the
# `AdminUtils` call and its value argument (subtensor's admin-utils pallet).
ROOT_ONLY: dict[str, tuple[str, str]] = {
    "weights_rate_limit": ("sudo_set_weights_set_rate_limit", "weights_set_rate_limit"),
}
T = TypeVar("T")


def _wallet(name: str, hotkey: str, path: str | None, network: str) -> Any:
    from wmnet.harness.wallets import WalletError, open_wallet

    try:
        return open_wallet(name, hotkey, path, network=network)
    except WalletError as error:
        usage_error(str(error))


def _on_chain(network: str, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(client)`` against ``network``; chain trouble is one line, exit 1."""
    from bittensor.result import BittensorError
    from bittensor_core import KeyfileError

    from wmnet.localnet.network import client_for

    async def main() -> T:
        async with client_for(network) as client:
            return await work(client)

    try:
        return asyncio.run(main())
    except KeyfileError as error:
        usage_error(f"cannot unlock the coldkey: {error}")
    except (BittensorError, ConnectionError, OSError) as error:
        fail(" ".join(str(error).split()) or type(error).__name__)


def _report(result: Any, json_out: bool, what: str, extra: dict[str, Any] | None = None) -> None:
    if json_out:
        print_json({**result.to_dict(), **(extra or {})})
    elif result.success:
        console.print(f"[green]{what}: {result.message}[/] {result.data or ''}")
    if not result.success:
        fail(f"{what} failed: {result.message}")


async def _spend(client: Any, intent: Any, wallet: Any, network: str, yes: bool) -> Any:
    """Quote, confirm, then execute ``intent``; the quote goes to the JSON output."""
    from wmnet.localnet.spending import quote
    from wmnet.neurons.spend import confirm_spend

    cost = await quote(client, intent, wallet, network)
    confirm_spend(cost, yes=yes)
    return await client.execute(intent, wallet), cost


@app.command()
def create(
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    wallet_path: str | None = WALLET_PATH,
    network: str = NETWORK,
    chain_defaults: bool = typer.Option(
        False,
        "--chain-defaults",
        help="On a local chain, leave commit-reveal on and the weights rate limit as the "
        "chain sets them (by default they are turned off for a local test subnet).",
    ),
    yes: bool = YES,
    json_out: bool = JSON,
) -> None:
    """Register a new subnet owned by the wallet's coldkey (prints the lock cost first).

    On a local chain the new subnet gets test settings: commit-reveal off (timelocked
    weight commits are revealed from drand, which an offline chain never reaches) and
    the weights rate limit at 0, so a validator's weights count every tempo. On any
    other network nothing else is changed: set them with `wmnet subnet set`.
    """
    import bittensor as bt

    from wmnet.harness.wallets import load_wallet
    from wmnet.localnet.network import is_local_network
    from wmnet.localnet.test_subnet import configure_for_tests

    owner = _wallet(wallet, hotkey, wallet_path, network)
    local = is_local_network(network)
    test_settings = local and not chain_defaults

    async def work(client: Any) -> tuple[Any, Any, int | None]:
        result, cost = await _spend(client, bt.RegisterSubnet(), owner, network, yes)
        netuid = int(result.data["netuid"]) if result.success and result.data else None
        if netuid is not None and test_settings:
            await configure_for_tests(client, netuid, owner, load_wallet(LOCAL_SUDO))
        return result, cost, netuid

    result, cost, netuid = _on_chain(network, work)
    settings = {"commit_reveal_weights_enabled": False, "weights_rate_limit": 0}
    extra = {"quote": cost.to_dict(), "test_settings": settings if test_settings else None}
    _report(result, json_out, "create subnet", extra)
    if netuid is None:
        return
    if test_settings:
        note(
            f"netuid {netuid} is a local test subnet: commit-reveal off and weights rate "
            "limit 0, so weights count every tempo (--chain-defaults keeps the chain's)"
        )
    else:
        note(
            f"netuid {netuid}: hyperparameters are the chain's defaults; change them with "
            f"`wmnet subnet set --netuid {netuid} --name NAME --value V ...`"
        )
    note(
        f"next: `wmnet subnet start --netuid {netuid} --wallet {wallet} --hotkey {hotkey}"
        + ("" if network == "localnet" else f" --network {network}")
        + "` once the chain's start delay has passed"
    )


async def _wait_for_start(client: Any, netuid: int, local: bool, stall_s: float = 10.0) -> None:
    """Subtensor refuses `start_call` before `earliest_start_block`: wait for it on a
    local chain (seconds), say when to come back on a public one (days). A local chain
    that makes no block for ``stall_s`` (``localnet up --manual``) is not waited on."""
    import time

    schedule = await client.read("subnet_start_schedule", netuid=netuid)
    earliest, now = int(schedule["earliest_start_block"]), int(schedule["current_block"])
    if now >= earliest:
        return
    if not local:
        usage_error(
            f"netuid {netuid} can start at block {earliest} (now {now}, "
            f"~{(earliest - now) * 12 / 3600:.1f} h at 12 s blocks): run this again then"
        )
    note(f"waiting {earliest - now} blocks for netuid {netuid}'s start delay (block {earliest})")
    seen, since = now, time.monotonic()
    while (block := await client.block()) < earliest:
        if block != seen:
            seen, since = block, time.monotonic()
        elif time.monotonic() - since > stall_s:
            usage_error(
                f"netuid {netuid} can start at block {earliest} (now {block}) and the chain "
                f"made no block for {stall_s:.0f} s: advance it, then run this again"
            )
        await asyncio.sleep(0.2)


@app.command()
def start(
    netuid: int = NETUID,
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    wallet_path: str | None = WALLET_PATH,
    network: str = NETWORK,
    json_out: bool = JSON,
) -> None:
    """Start a subnet's emission (start_call), as its owner, once its start delay is over."""
    import bittensor as bt

    from wmnet.localnet.network import is_local_network

    owner = _wallet(wallet, hotkey, wallet_path, network)

    async def work(client: Any) -> Any:
        if not await client.query(("SubtensorModule", "NetworksAdded"), [netuid]):
            usage_error(f"subnet {netuid} does not exist on {network}")
        await _wait_for_start(client, netuid, is_local_network(network))
        return await client.execute(bt.StartCall(netuid=netuid), owner)

    _report(_on_chain(network, work), json_out, "start")


@app.command()
def register(
    netuid: int = NETUID,
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    wallet_path: str | None = WALLET_PATH,
    network: str = NETWORK,
    yes: bool = YES,
    json_out: bool = JSON,
) -> None:
    """Register the wallet's hotkey on a subnet by burning the registration cost."""
    import bittensor as bt

    w = _wallet(wallet, hotkey, wallet_path, network)

    async def work(client: Any) -> Any:
        if not await client.query(("SubtensorModule", "NetworksAdded"), [netuid]):
            usage_error(f"subnet {netuid} does not exist on {network}")
        graph_uid = await client.query(("SubtensorModule", "Uids"), [netuid, w.hotkey.ss58_address])
        if graph_uid is not None:
            usage_error(
                f"hotkey {w.hotkey.ss58_address} is already registered on netuid {netuid} "
                f"(uid {graph_uid}); nothing to do"
            )
        return await _spend(client, bt.BurnedRegister(netuid=netuid), w, network, yes)

    result, cost = _on_chain(network, work)
    _report(result, json_out, "register", {"quote": cost.to_dict()})


@app.command()
def stake(
    netuid: int = NETUID,
    amount: float = typer.Option(..., "--amount", help="TAO to stake.", callback=positive_tao),
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    wallet_path: str | None = WALLET_PATH,
    network: str = NETWORK,
    yes: bool = YES,
    json_out: bool = JSON,
) -> None:
    """Stake TAO from the coldkey onto the wallet's hotkey on a subnet."""
    import bittensor as bt

    w = _wallet(wallet, hotkey, wallet_path, network)
    intent = bt.AddStake(netuid=netuid, hotkey_ss58=w.hotkey.ss58_address, amount_tao=amount)

    async def work(client: Any) -> Any:
        if not await client.query(("SubtensorModule", "NetworksAdded"), [netuid]):
            usage_error(f"subnet {netuid} does not exist on {network}")
        return await _spend(client, intent, w, network, yes)

    result, cost = _on_chain(network, work)
    _report(result, json_out, "stake", {"quote": cost.to_dict()})


def _parse_value(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.lstrip("-").isascii() and value.lstrip("-").isdigit():
        return int(value)
    return value


@app.command("set")
def set_hyperparameter(
    netuid: int = NETUID,
    name: str = typer.Option(
        ...,
        "--name",
        help="Hyperparameter (btcli names): e.g. commit_reveal_weights_enabled (owner), "
        "weights_rate_limit (root: local chains only, signed by --sudo).",
    ),
    value: str = typer.Option(..., "--value", help="New value: true/false, an integer, …"),
    wallet: str = WALLET,
    hotkey: str = HOTKEY,
    wallet_path: str | None = WALLET_PATH,
    network: str = NETWORK,
    sudo: str = typer.Option(
        LOCAL_SUDO, "--sudo", help="Sudo key for root-only names on a local chain."
    ),
    json_out: bool = JSON,
) -> None:
    """Set a subnet hyperparameter: owner-settable ones as the subnet's owner; root-only
    ones (weights_rate_limit) through `Sudo.sudo` on a local chain."""
    import bittensor as bt

    from wmnet.localnet.network import is_local_network

    parsed = _parse_value(value)
    if name in ROOT_ONLY:
        if not is_local_network(network):
            usage_error(
                f"{name} is root-only: on {network} only the chain's sudo key can change it "
                "(subnet owners cannot); see `btcli sudo get --netuid N` for its value"
            )
        if not isinstance(parsed, int) or isinstance(parsed, bool) or parsed < 0:
            usage_error(f"{name} takes a whole number of blocks, not {value!r}")
        call_name, arg = ROOT_ONLY[name]
        signer = _wallet(sudo, "default", None, network)

        async def as_root(client: Any) -> Any:
            call = getattr(bt.calls.AdminUtils, call_name)(netuid=netuid, **{arg: parsed})
            return await client.submit_call(
                bt.calls.Sudo.sudo(call=await client.compose(call)), signer
            )

        _report(_on_chain(network, as_root), json_out, f"set {name}")
        return
    try:
        intent = bt.SetHyperparameter(netuid=netuid, name=name, value=parsed)
    except ValueError as error:
        unknown = "unknown or owner-unsettable" in str(error)
        root = f"; root-only, on a local chain: {', '.join(ROOT_ONLY)}" if unknown else ""
        usage_error(f"{error}{root}")
    owner = _wallet(wallet, hotkey, wallet_path, network)

    async def as_owner(client: Any) -> Any:
        return await client.execute(intent, owner)

    _report(_on_chain(network, as_owner), json_out, f"set {name}")


async def _show(client: Any, netuid: int) -> dict[str, Any] | None:
    graph = await client.subnets.metagraph(netuid)
    if graph is None:
        return None

    async def item(name: str, params: list[Any] | None = None) -> Any:
        return await client.query(("SubtensorModule", name), [netuid] if params is None else params)

    max_validators = int(await item("MaxAllowedValidators") or 0)
    stakes = sorted(
        (n.total_stake.rao for n in graph.neurons if n.total_stake.rao > 0), reverse=True
    )
    # Permits go to the top `MaxAllowedValidators` stakes at each epoch: with that many
    # staked neurons already, a newcomer needs more than the smallest of them.
    floor = stakes[max_validators - 1] if max_validators and len(stakes) >= max_validators else 0
    return {
        "netuid": netuid,
        "block": graph.block,
        "tempo": graph.tempo,
        "owner_hotkey": graph.owner_hotkey,
        "burn_rao": int((await client.subnets.burn(netuid)).rao),
        "max_validators": max_validators,
        "permit_stake_floor_rao": floor,
        "stake_threshold_rao": int(await item("StakeThreshold", []) or 0),
        "weights_rate_limit": int(await item("WeightsSetRateLimit") or 0),
        "commit_reveal_weights_enabled": bool(await item("CommitRevealWeightsEnabled")),
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
def show(netuid: int = NETUID, network: str = NETWORK, json_out: bool = JSON) -> None:
    """Print a subnet's metagraph."""
    data = _on_chain(network, lambda client: _show(client, netuid))
    if data is None:
        usage_error(f"subnet {netuid} does not exist on {network}")
    if json_out:
        print_json(data)
        return
    print_metagraph(
        f"subnet {netuid} at block {data['block']} (tempo {data['tempo']})", data["neurons"]
    )
    from wmnet.localnet.spending import tao

    floor = data["permit_stake_floor_rao"]
    console.print(
        f"registration burn {tao(data['burn_rao'])}; validator permits: the top "
        f"{data['max_validators']} stakes"
        + (f" (now more than {floor / 1e9:,.3f} α)" if floor else " (a seat is free: any stake)")
        + f", weights need stake ≥ {data['stake_threshold_rao'] / 1e9:,.3f}; weights rate "
        f"limit {data['weights_rate_limit']} blocks, commit-reveal "
        + ("on" if data["commit_reveal_weights_enabled"] else "off"),
        soft_wrap=True,
        highlight=False,
    )
