"""The demo's subnet: dev keys, and a subnet created on a served chain through the SDK.

Everything here goes through ``bittensor.Client`` (the one seam to the chain), so the
same set-up works on wmnet's embedded chain and on a real subtensor's localnet, where
``//Alice`` is the sudo key and ``//Alice``, ``//Bob``, ``//Charlie`` are funded.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

import bittensor as bt

from wmnet.harness.wallets import DevWallet, load_wallet
from wmnet.localnet.network import client_for
from wmnet.localnet.test_subnet import configure_for_tests

# Subtensor refuses StartCall until this many blocks after registration
# (`StartCallDelay`, 10 on the fast-blocks localnet runtime).
START_CALL_DELAY = 10
VALIDATOR_STAKE_TAO = 1000


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class DemoKeys:
    """Who is who in the demo: dev URIs, funded at a local chain's genesis."""

    owner: DevWallet
    sudo: DevWallet
    validator: DevWallet
    miners: tuple[DevWallet, ...]

    @classmethod
    def make(cls, n_miners: int) -> DemoKeys:
        return cls(
            owner=load_wallet("//Alice", "owner"),
            sudo=load_wallet("//Alice"),
            validator=load_wallet("//Bob", "validator"),
            miners=tuple(load_wallet("//Charlie", f"miner{i}") for i in range(n_miners)),
        )


class SetupError(RuntimeError):
    """A set-up step the chain refused; the message names the step and the chain's reason."""


async def _ok(result: bt.ExtrinsicResult, what: str) -> bt.ExtrinsicResult:
    if not result.success:
        raise SetupError(f"{what}: {result.message}")
    return result


async def execute(client: bt.Client, intent: bt.Intent, wallet: object) -> bt.ExtrinsicResult:
    """``client.execute``, once more after a Stale refusal.

    After a shielded submission (BurnedRegister always is one) the SDK's nonce cache
    holds the carrier's nonce while the inner extrinsic used the next: the same
    client's next extrinsic from that coldkey is refused Stale, on any chain. The
    refusal clears the cache; the SDK's own ``retries`` does not recognise its
    reworded Stale message, so retry here.
    """
    result = await client.execute(intent, wallet)
    if not result.success and getattr(result.error, "name", None) == "Stale":
        result = await client.execute(intent, wallet)
    return result


async def _wait_blocks(client: bt.Client, n: int, timeout_s: float = 60.0) -> None:
    target = await client.block() + n
    deadline = time.monotonic() + timeout_s
    while await client.block() < target:
        if time.monotonic() > deadline:
            raise SetupError(f"the chain produced no block for {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


async def create_subnet(network: str, keys: DemoKeys) -> int:
    """Creates and starts a test subnet, stakes its validator, registers the miners.

    Returns the netuid. Commit-reveal is off and the weights rate limit 0, as a test
    subnet needs offline (``configure_for_tests``).
    """
    async with client_for(network) as client:
        created = await _ok(await client.execute(bt.RegisterSubnet(), keys.owner), "create subnet")
        netuid = int(created.data["netuid"])
        await _wait_blocks(client, START_CALL_DELAY + 1)
        await _ok(await client.execute(bt.StartCall(netuid=netuid), keys.owner), "start subnet")
        await configure_for_tests(client, netuid, keys.owner, keys.sudo)
        register = bt.BurnedRegister(netuid=netuid)
        await _ok(await client.execute(register, keys.validator), "register the validator")
        stake = bt.AddStake(
            netuid=netuid,
            hotkey_ss58=keys.validator.hotkey.ss58_address,
            amount_tao=VALIDATOR_STAKE_TAO,
        )
        await _ok(await execute(client, stake, keys.validator), "stake the validator")
        for i, miner in enumerate(keys.miners):
            await _ok(await execute(client, register, miner), f"register miner {i}")
    return netuid
