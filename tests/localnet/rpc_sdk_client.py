"""A subnet's life driven through ``bt.Client("ws://…")`` alone: no wmnet import.

Run as a script by tests/localnet/test_rpc_sdk.py against ``wmnet localnet up``
(``python rpc_sdk_client.py ws://127.0.0.1:PORT``). It uses only the bittensor SDK
(its own WebSocket transport, codec and intents) and prints one JSON document of
what it saw; the modules it loaded are listed so the test can check that no
wmnet module was among them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import bittensor as bt
from bittensor_core import Keypair

TEMPO = 10


class Dev:
    """A wallet-shaped pair of dev keys (//Name and //Name//hotkey)."""

    def __init__(self, cold: str, hot: str = "default"):
        self.name = cold
        self.coldkey = Keypair.create_from_uri(cold)
        self.hotkey = Keypair.create_from_uri(f"{cold}//{hot}")
        self.coldkeypub = self.coldkey
        self.hotkeypub = self.hotkey


async def wait_blocks(client: bt.Client, n: int, timeout: float = 60.0) -> int:
    target = await client.block() + n
    deadline = time.monotonic() + timeout
    while (head := await client.block()) < target:
        assert time.monotonic() < deadline, f"no block {target} after {timeout}s"
        await asyncio.sleep(0.1)
    return head


def ok(result: bt.ExtrinsicResult, what: str) -> bt.ExtrinsicResult:
    assert result.success, f"{what}: {result.message}"
    return result


async def main(url: str) -> dict:
    seen: dict = {}
    alice, owner = Dev("//Alice"), Dev("//Alice", "owner")
    validator = Dev("//Bob", "validator")
    miners = [Dev("//Charlie", f"miner{i}") for i in range(2)]
    async with bt.Client(url) as client:
        # Create and start a subnet (NetworkAdded is read from the events).
        created = ok(await client.execute(bt.RegisterSubnet(), owner), "register subnet")
        netuid = int(created.data["netuid"])
        seen["netuid"] = netuid
        seen["register_events"] = sorted(
            f"{e['module_id']}.{e['event_id']}" for e in created.events
        )
        await wait_blocks(client, 10)
        ok(await client.execute(bt.StartCall(netuid=netuid), owner), "start call")

        # An owner hyperparameter, and a root-only one through Sudo.sudo.
        ok(
            await client.execute(
                bt.SetHyperparameter(
                    netuid=netuid, name="commit_reveal_weights_enabled", value=False
                ),
                owner,
            ),
            "owner hyperparameter",
        )
        inner = await client.compose(
            bt.calls.AdminUtils.sudo_set_weights_set_rate_limit(
                netuid=netuid, weights_set_rate_limit=0
            )
        )
        ok(await client.submit_call(bt.calls.Sudo.sudo(call=inner), alice), "sudo")
        inner = await client.compose(bt.calls.AdminUtils.sudo_set_tempo(netuid=netuid, tempo=TEMPO))
        ok(await client.submit_call(bt.calls.Sudo.sudo(call=inner), alice), "sudo tempo")

        # Burned registration: the SDK's intent always takes the MEV-shield path.
        registered = ok(
            await client.execute(bt.BurnedRegister(netuid=netuid), validator), "burned register"
        )
        seen["shielded"] = registered.data.get("shielded")
        for miner in miners:
            call = bt.calls.SubtensorModule.burned_register(
                netuid=netuid, hotkey=miner.hotkey.ss58_address
            )
            ok(await client.submit_call(call, miner), "raw burned_register")
            ok(
                await client.execute(bt.ServeAxon(netuid=netuid, ip="127.0.0.1", port=8091), miner),
                "serve axon",
            )

        # Stake: add, then remove part of it. The SDK's nonce cache still holds the
        # shielded carrier's nonce (the inner extrinsic used the next one), so its
        # first pick is stale, on any chain; the refusal clears the cache, and the
        # SDK's own `retries` does not recognise its reworded Stale message, so the
        # client tries once more, as it would against a real localnet.
        add = bt.AddStake(netuid=netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=1000)
        first = await client.execute(add, validator)
        seen["stale_after_shield"] = getattr(first.error, "name", None)
        if not first.success:
            ok(await client.execute(add, validator), "add stake")
        ok(
            await client.execute(
                bt.RemoveStake(
                    netuid=netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_alpha=100
                ),
                validator,
            ),
            "remove stake",
        )
        stake_block = await client.block()

        # A refused call carries subtensor's error name.
        refused = await client.execute(bt.StartCall(netuid=netuid), owner)
        seen["refused"] = {"success": refused.success, "name": getattr(refused.error, "name", None)}
        bad_sudo_inner = await client.compose(
            bt.calls.AdminUtils.sudo_set_tempo(netuid=netuid, tempo=TEMPO)
        )
        not_sudo = await client.submit_call(bt.calls.Sudo.sudo(call=bad_sudo_inner), validator)
        seen["not_sudo"] = {
            "success": not_sudo.success,
            "name": getattr(not_sudo.error, "name", None),
        }

        # An epoch grants the validator its permit; then weights; then more epochs.
        await wait_blocks(client, TEMPO + 2)
        graph = await client.subnets.metagraph(netuid)
        v_uid = graph.by_hotkey(validator.hotkey.ss58_address).uid
        miner_uids = [graph.by_hotkey(m.hotkey.ss58_address).uid for m in miners]
        seen["permit"] = graph.neurons[v_uid].validator_permit
        ok(
            await client.execute(
                bt.SetWeights(netuid=netuid, uids=miner_uids, weights=[0.7, 0.3]), validator
            ),
            "set weights",
        )
        await wait_blocks(client, 2 * (TEMPO + 1) + 1)

        graph = await client.subnets.metagraph(netuid)
        seen["metagraph"] = {
            "n": len(graph.neurons),
            "tempo": graph.tempo,
            "axons": [graph.neurons[u].axon for u in miner_uids],
            "incentive": [graph.neurons[u].incentive for u in miner_uids],
            "dividends": graph.neurons[v_uid].dividends,
            "emission": [graph.neurons[u].emission.rao for u in miner_uids],
            "validator_stake": graph.neurons[v_uid].total_stake.rao,
        }
        neurons = await client.neurons.all(netuid)
        seen["neurons"] = sorted(n.hotkey for n in neurons)
        hyper = await client.subnets.subnet_hyperparameters(netuid)
        seen["hyperparameters"] = {
            "tempo": hyper["tempo"],
            "commit_reveal_weights_enabled": hyper["commit_reveal_weights_enabled"],
            "weights_rate_limit": hyper["weights_rate_limit"],
        }
        seen["balance_alice"] = (await client.balances.balance(alice.coldkey.ss58_address)).rao

        # The same read at a past block: the stake right after the stake calls.
        past = await client.at(stake_block)
        past_graph = await past.subnets.metagraph(netuid)
        seen["past_validator_stake"] = past_graph.neurons[v_uid].total_stake.rao
        seen["past_block"] = past_graph.block
        seen["stake_block"] = stake_block
        weights = await client.weights.weights(netuid)
        seen["weights_row"] = sorted(weights.get(v_uid, {}))
        seen["modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "wmnet")
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1])), default=str))
