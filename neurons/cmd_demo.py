"""`wmnet demo`: run a subnet on the embedded local subtensor.

Until the miner, validator and ledger land, the demo runs the chain
lifecycle: create and start a subnet, register a validator and miners, stake,
serve axons, set weights, run epochs, and print the metagraph.
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from wmnet.neurons.output import console, print_json, print_metagraph


async def _run(miners: int, tempos: int) -> dict[str, Any]:
    import bittensor as bt

    from wmnet.localnet.backend import InProcessBackend
    from wmnet.localnet.chain import Chain
    from wmnet.localnet.substrate import LocalnetSubstrate
    from wmnet.localnet.test_subnet import configure_for_tests
    from wmnet.neurons.wallets import load_wallet

    chain = Chain()
    owner = load_wallet("//Alice", "owner")
    validator = load_wallet("//Bob", "validator")
    workers = [load_wallet("//Charlie", f"miner{i}") for i in range(miners)]
    async with bt.Client("local", substrate=LocalnetSubstrate(InProcessBackend(chain))) as client:

        async def ok(result: Any, what: str) -> Any:
            if not result.success:
                raise RuntimeError(f"{what}: {result.message}")
            console.print(f"  [green]✓[/] {what}")
            return result

        netuid = (await ok(await client.execute(bt.RegisterSubnet(), owner), "create subnet")).data[
            "netuid"
        ]
        chain.advance(10)
        await ok(await client.execute(bt.StartCall(netuid=netuid), owner), "start subnet")
        await configure_for_tests(client, netuid, owner, load_wallet("//Alice"))
        console.print("  [green]✓[/] commit-reveal off, weights rate limit 0 (offline test chain)")
        await ok(
            await client.execute(bt.BurnedRegister(netuid=netuid), validator), "register validator"
        )
        for i, worker in enumerate(workers):
            await ok(
                await client.execute(bt.BurnedRegister(netuid=netuid), worker),
                f"register miner {i}",
            )
            serve = bt.ServeAxon(netuid=netuid, ip="127.0.0.1", port=8091 + i)
            await ok(await client.execute(serve, worker), f"serve miner {i} axon")
        stake = bt.AddStake(
            netuid=netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=1000
        )
        await ok(await client.execute(stake, validator), "stake 1000 TAO on the validator")
        graph = await client.subnets.metagraph(netuid)
        chain.advance(graph.tempo + 1)
        graph = await client.subnets.metagraph(netuid)
        uids = [graph.by_hotkey(w.hotkey.ss58_address).uid for w in workers]
        scores = [float(len(uids) - i) for i in range(len(uids))]
        weights = bt.SetWeights(netuid=netuid, uids=uids, weights=scores)
        await ok(await client.execute(weights, validator), "set weights")
        for _ in range(tempos):  # one tempo per call: advance() is bounded per call
            chain.advance(graph.tempo + 1)
        graph = await client.subnets.metagraph(netuid)
    return {
        "netuid": netuid,
        "block": graph.block,
        "tempos": tempos,
        "neurons": [
            {
                "uid": n.uid,
                "hotkey": n.hotkey,
                "stake_rao": n.total_stake.rao,
                "validator_permit": n.validator_permit,
                "incentive": round(n.incentive, 6),
                "dividends": round(n.dividends, 6),
                "emission_rao": n.emission.rao,
                "axon": n.axon,
            }
            for n in graph.neurons
        ],
    }


def demo(
    miners: int = typer.Option(3, min=1, max=250, help="Number of miners to register."),
    tempos: int = typer.Option(
        2, min=1, max=1000, help="Number of tempos to run after weights are set."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Set up a subnet on the embedded chain and run it for a few tempos."""
    if json_out:
        console.quiet = True
    data = asyncio.run(_run(miners, tempos))
    if json_out:
        print_json(data)
        return
    print_metagraph(
        f"subnet {data['netuid']} after {tempos} tempos (block {data['block']})", data["neurons"]
    )
