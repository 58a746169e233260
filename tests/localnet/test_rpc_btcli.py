"""The SDK's own ``btcli``, as a subprocess, against ``wmnet localnet up``.

btcli reaches the chain with ``--network ws://127.0.0.1:PORT`` exactly as it
reaches a real localnet; its config, token-symbol cache, runtime cache and
wallets live in the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bittensor as bt
import pytest
from bittensor_core import Keypair

from tests.localnet.rpc_node import ServedNode, served_node

BTCLI = Path(sys.executable).with_name("btcli")
RAO = 10**9
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedNode]:
    with served_node(tmp_path_factory.mktemp("btcli")) as served:
        yield served


def btcli(node: ServedNode, *args: str, write: bool = False) -> object:
    """Run btcli with --json (and -y for a write); its parsed output (exit status 0)."""
    argv = [str(BTCLI), "--network", node.ws_url, *args, "--json", *(["-y"] if write else [])]
    env = {**node.client_env(), "COLUMNS": "200"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"btcli {' '.join(args)}: {done.stdout}{done.stderr}"
    return json.loads(done.stdout)


def make_wallet(path: Path, name: str, uri: str) -> None:
    """A wallet on disk holding a dev key (unencrypted: a local test chain only)."""
    wallet = bt.Wallet(name=name, hotkey="default", path=str(path))
    cold = Keypair.create_from_uri(uri)
    wallet.coldkey_file.set_keypair(cold, encrypt=False, overwrite=True)
    wallet.coldkeypub_file.set_keypair(cold, encrypt=False, overwrite=True)
    wallet.hotkey_file.set_keypair(Keypair.create_from_uri(f"{uri}//default"), encrypt=False)


class _Dev:
    def __init__(self, cold: str, hot: str):
        self.coldkey = self.coldkeypub = Keypair.create_from_uri(cold)
        self.hotkey = self.hotkeypub = Keypair.create_from_uri(f"{cold}//{hot}")


async def _make_subnet(url: str) -> tuple[int, str]:
    """A started subnet with one registered validator hotkey, through the SDK over ws."""
    owner, validator = _Dev("//Alice", "owner"), _Dev("//Bob", "validator")
    async with bt.Client(url) as client:
        created = await client.execute(bt.RegisterSubnet(), owner)
        assert created.success, created.message
        netuid = int(created.data["netuid"])
        target = await client.block() + 10
        while await client.block() < target:
            await asyncio.sleep(0.1)
        started = await client.execute(bt.StartCall(netuid=netuid), owner)
        assert started.success, started.message
        call = bt.calls.SubtensorModule.burned_register(
            netuid=netuid, hotkey=validator.hotkey.ss58_address
        )
        registered = await client.submit_call(call, validator)
        assert registered.success, registered.message
    return netuid, validator.hotkey.ss58_address


async def _free(url: str, address: str) -> int:
    async with bt.Client(url) as client:
        return int((await client.balances.balance(address)).rao)


async def _stake(url: str, hotkey: str, coldkey: str, netuid: int) -> int:
    async with bt.Client(url) as client:
        method = ("StakeInfoRuntimeApi", "get_stake_info_for_hotkey_coldkey_netuid")
        info = await client.runtime(method, [hotkey, coldkey, netuid])
        return int(info["stake"]) if info else 0


def test_btcli_lists_shows_pays_and_stakes(node: ServedNode, tmp_path: Path) -> None:
    netuid, validator_hotkey = asyncio.run(_make_subnet(node.ws_url))
    wallets = tmp_path / "wallets"
    make_wallet(wallets, "alice", "//Alice")
    alice = Keypair.create_from_uri("//Alice").ss58_address
    bob = Keypair.create_from_uri("//Bob").ss58_address
    where = ["--wallet-path", str(wallets)]

    listed = btcli(node, "subnets", "list")
    row = next(r for r in listed if r["netuid"] == netuid)
    assert row["neurons"] == 2 and row["tempo"] == 10 and row["burn_tao"] > 0

    graph = btcli(node, "subnets", "metagraph", str(netuid))
    assert graph["netuid"] == netuid
    assert graph["owner_coldkey"] == alice
    assert validator_hotkey in graph["hotkeys"] and len(graph["hotkeys"]) == 2

    balance = btcli(node, "query", "balance", "--coldkey", "alice", *where)
    free = asyncio.run(_free(node.ws_url, alice))
    assert float(str(balance).lstrip("τ").replace(",", "")) == pytest.approx(free / RAO)

    bob_before = asyncio.run(_free(node.ws_url, bob))
    sent = btcli(
        node, "wallet", "transfer", "--dest", bob, "--amount", "2.5", "-w", "alice", *where,
        write=True,
    )  # fmt: skip
    assert sent["success"] is True and sent["fee_tao"] > 0, sent
    assert asyncio.run(_free(node.ws_url, bob)) == bob_before + 2_500_000_000

    staked = btcli(
        node, "stake", "add", "--netuid", str(netuid), "--hotkey", validator_hotkey,
        "--amount", "5", "-w", "alice", *where, write=True,
    )  # fmt: skip
    assert staked["success"] is True, staked
    assert staked["data"]["shielded"] is True  # btcli shields stake trades by default
    assert asyncio.run(_stake(node.ws_url, validator_hotkey, alice, netuid)) == 5 * RAO
    assert node.alive()
