"""The served chain: separate processes share it; state survives a restart;
bad input gets a clear refusal and never takes the server down."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import bittensor as bt
import httpx
import pytest

from wmnet.harness.wallets import load_wallet
from wmnet.localnet.network import client_for
from wmnet.localnet.server import check_bind
from wmnet.localnet.test_subnet import configure_for_tests

pytestmark = pytest.mark.slow

WMNET = [sys.executable, "-m", "wmnet.neurons.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["BTCLI_TOKEN_SYMBOLS_CACHE"] = str(tmp_path / "symbols.json")
    env["BTCLI_CONFIG"] = str(tmp_path / "config.yml")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


class Served:
    def __init__(self, tmp_path: Path, state: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = _env(tmp_path)
        cmd = [
            *WMNET,
            "localnet",
            "up",
            "--manual",
            "--port",
            str(_free_port()),
            "--http-port",
            str(self.port),
            "--state",
            str(state),
        ]
        self.proc = subprocess.Popen(
            cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/v1/info", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    raise RuntimeError(self.proc.stdout.read().decode()) from None
                time.sleep(0.2)
        self.stop()  # never leave a half-started server behind
        raise RuntimeError("localnet did not come up")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def served(tmp_path):
    server = Served(tmp_path, tmp_path / "chain.db")
    yield server
    server.stop()


CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys
    import bittensor as bt
    import httpx
    from wmnet.localnet.network import client_for
    from wmnet.harness.wallets import load_wallet

    url, role, netuid = sys.argv[1], sys.argv[2], int(sys.argv[3])

    async def main():
        async with client_for(url) as client:
            if role == "miners":
                for i in range(2):
                    w = load_wallet("//Charlie", f"m{i}")
                    hotkey = w.hotkey.ss58_address
                    call = bt.calls.SubtensorModule.burned_register(netuid=netuid, hotkey=hotkey)
                    r = await client.submit_call(call, w)
                    assert r.success, r.message
                print(json.dumps({"ok": True}))
                return
            v = load_wallet("//Bob", "validator")
            r = await client.execute(bt.BurnedRegister(netuid=netuid), v)
            assert r.success, r.message
            hotkey = v.hotkey.ss58_address
            stake = bt.AddStake(netuid=netuid, hotkey_ss58=hotkey, amount_tao=500)
            r = await client.execute(stake, v)
            assert r.success, r.message
            httpx.post(url + "/v1/advance", json={"blocks": 12}).raise_for_status()
            graph = await client.subnets.metagraph(netuid)
            miners = [n.uid for n in graph.neurons if n.hotkey != hotkey and n.uid != 0]
            r = await client.execute(bt.SetWeights(netuid=netuid, uids=miners, weights=[3, 1]), v)
            assert r.success, r.message
            print(json.dumps({"ok": True, "miners": miners}))

    asyncio.run(main())
    """
)


async def _setup_subnet(url: str) -> int:
    owner = load_wallet("//Alice", "owner")
    async with client_for(url) as client:
        netuid = (await client.execute(bt.RegisterSubnet(), owner)).data["netuid"]
        httpx.post(url + "/v1/advance", json={"blocks": 10}).raise_for_status()
        assert (await client.execute(bt.StartCall(netuid=netuid), owner)).success
        await configure_for_tests(client, netuid, owner, load_wallet("//Alice"))
    return netuid


def test_two_processes_share_one_chain_and_state_survives_restart(tmp_path):
    state = tmp_path / "chain.db"
    server = Served(tmp_path, state)
    try:
        netuid = asyncio.run(_setup_subnet(server.url))
        script = tmp_path / "client.py"
        script.write_text(CLIENT)
        procs = [
            subprocess.run(
                [sys.executable, str(script), server.url, role, str(netuid)],
                env=server.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            for role in ("miners", "validator")
        ]
        for proc in procs:
            assert proc.returncode == 0, proc.stderr
        miners = json.loads(procs[1].stdout)["miners"]
        httpx.post(server.url + "/v1/advance", json={"blocks": 22}).raise_for_status()

        async def read() -> tuple[int, list]:
            async with client_for(server.url) as client:
                graph = await client.subnets.metagraph(netuid)
                return graph.block, [
                    (n.hotkey, n.incentive, n.total_stake.rao) for n in graph.neurons
                ]

        block, neurons = asyncio.run(read())
        incentives = [neurons[u][1] for u in miners]
        assert incentives[0] == pytest.approx(0.75, abs=1e-3)
        assert incentives[1] == pytest.approx(0.25, abs=1e-3)
    finally:
        server.stop()

    restarted = Served(tmp_path, state)
    try:
        block_after, neurons_after = asyncio.run(read_at(restarted.url, netuid))
        assert block_after == block
        assert neurons_after == neurons
    finally:
        restarted.stop()


async def read_at(url: str, netuid: int) -> tuple[int, list]:
    async with client_for(url) as client:
        graph = await client.subnets.metagraph(netuid)
        return graph.block, [(n.hotkey, n.incentive, n.total_stake.rao) for n in graph.neurons]


def test_bad_input_is_refused_and_server_survives(served):
    url = served.url
    assert httpx.post(url + "/v1/submit", content=b"{not json").status_code == 422
    assert httpx.post(url + "/v1/submit", json={"extrinsic": {"call": 1}}).status_code == 400
    assert httpx.post(url + "/v1/query", json={"module": "X", "item": "Y"}).status_code == 404
    bad = httpx.post(
        url + "/v1/query", json={"module": "SubtensorModule", "item": "Tempo", "params": ["x"]}
    )
    assert bad.status_code == 400
    # A forged signature: refused by the pool, nothing included.
    alice, bob = load_wallet("//Alice").coldkey, load_wallet("//Bob").coldkey
    head = httpx.get(url + "/v1/info").json()["head"]
    genesis = httpx.get(url + "/v1/info").json()["genesis_hash"]
    from wmnet.localnet.codec import ComposedCall, SignedExtrinsic

    call = ComposedCall(
        "Balances", "transfer_keep_alive", {"dest": bob.ss58_address, "value": 10**9}
    )
    payload = SignedExtrinsic.payload(call, alice.ss58_address, 0, genesis)
    forged = SignedExtrinsic(call, alice.ss58_address, 0, bob.sign(payload), genesis)
    receipt = httpx.post(url + "/v1/submit", json={"extrinsic": forged.to_json()}).json()
    assert receipt["included"] is False and "BadProof" in receipt["error_message"]
    assert httpx.get(url + "/v1/info").json()["head"] == head
    # An unknown netuid through the SDK: a clear ChainError-free None, not a crash.

    async def unknown() -> object:
        async with client_for(url) as client:
            return await client.subnets.metagraph(99)

    assert asyncio.run(unknown()) is None
    assert httpx.get(url + "/v1/info").status_code == 200


def test_non_loopback_bind_needs_explicit_host(tmp_path):
    with pytest.raises(ValueError, match="non-loopback"):
        check_bind("0.0.0.0", explicit=False)
    check_bind("0.0.0.0", explicit=True)
    check_bind("127.0.0.1", explicit=False)
    env = _env(tmp_path) | {"WMNET_LOCALNET_HOST": "0.0.0.0"}
    proc = subprocess.run(
        [*WMNET, "localnet", "up", "--state", str(tmp_path / "x.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "non-loopback" in proc.stderr


def test_status_json_and_unreachable_chain(served, tmp_path):
    proc = subprocess.run(
        [*WMNET, "localnet", "status", "--network", served.url, "--json"],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["block"] >= 0 and data["subnets"] == []
    dead = f"http://127.0.0.1:{_free_port()}"
    proc = subprocess.run(
        [*WMNET, "localnet", "status", "--network", dead],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and "no local chain answers" in proc.stderr


def test_subnet_commands_against_a_served_chain(served):
    def wmnet(*args: str) -> subprocess.CompletedProcess:
        cmd = [*WMNET, "subnet", *args, "--network", served.url]
        return subprocess.run(cmd, env=served.env, capture_output=True, text=True, timeout=120)

    created = wmnet("create", "--wallet", "//Alice", "--hotkey", "owner", "--json")
    assert created.returncode == 0, created.stderr
    netuid = json.loads(created.stdout)["data"]["netuid"]
    early = wmnet("start", "--netuid", str(netuid), "--wallet", "//Alice", "--hotkey", "owner")
    # A manual-seal chain makes no block by itself: start says when it can, and stops.
    assert early.returncode == 2 and "NeedWaitingMoreBlocksToStarCall" not in early.stdout
    assert "can start at block" in early.stderr and "Traceback" not in early.stderr
    httpx.post(served.url + "/v1/advance", json={"blocks": 10}).raise_for_status()
    assert (
        wmnet(
            "start", "--netuid", str(netuid), "--wallet", "//Alice", "--hotkey", "owner"
        ).returncode
        == 0
    )
    reg = wmnet("register", "--netuid", str(netuid), "--wallet", "//Bob", "--hotkey", "miner")
    assert reg.returncode == 0, reg.stderr
    shown = wmnet("show", "--netuid", str(netuid), "--json")
    assert shown.returncode == 0, shown.stderr
    hotkeys = [n["hotkey"] for n in json.loads(shown.stdout)["neurons"]]
    assert load_wallet("//Bob", "miner").hotkey.ss58_address in hotkeys
    missing = wmnet("show", "--netuid", "99")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


@pytest.mark.slow
def test_subnet_create_settings_on_a_local_chain(served):
    """`subnet create` on a local chain turns commit-reveal off and the weights rate
    limit to 0 (and says so); --chain-defaults leaves both; `subnet set` changes them
    again, the rate limit (root-only) through Sudo.sudo."""

    def wmnet(*args: str) -> subprocess.CompletedProcess:
        cmd = [*WMNET, "subnet", *args, "--network", served.url]
        return subprocess.run(cmd, env=served.env, capture_output=True, text=True, timeout=120)

    def settings(netuid: int) -> tuple[bool, int]:
        shown = json.loads(wmnet("show", "--netuid", str(netuid), "--json").stdout)
        return shown["commit_reveal_weights_enabled"], shown["weights_rate_limit"]

    owner = ["--wallet", "//Alice", "--hotkey", "owner"]
    test = wmnet("create", *owner, "--json")
    assert test.returncode == 0, test.stderr
    assert "commit-reveal off" in test.stderr and "weights rate limit 0" in test.stderr
    netuid = json.loads(test.stdout)["data"]["netuid"]
    assert settings(netuid) == (False, 0)
    kept = wmnet("create", *owner, "--chain-defaults", "--json")
    assert kept.returncode == 0, kept.stderr
    kept_netuid = json.loads(kept.stdout)["data"]["netuid"]
    assert settings(kept_netuid) == (True, 100)  # subtensor's defaults
    limit = wmnet("set", "--netuid", str(kept_netuid), *owner,
                  "--name", "weights_rate_limit", "--value", "3")  # fmt: skip
    assert limit.returncode == 0, limit.stderr
    reveal = wmnet("set", "--netuid", str(kept_netuid), *owner,
                   "--name", "commit_reveal_weights_enabled", "--value", "false")  # fmt: skip
    assert reveal.returncode == 0, reveal.stderr
    assert settings(kept_netuid) == (False, 3)
