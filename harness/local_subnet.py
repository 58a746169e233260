"""A whole subnet on this machine: a served chain, miners and a validator, each its own
process on loopback, stopped together whatever happens (``ProcessGroup``).

Used by the end-to-end test and by ``wmnet demo``. Every part is started through the
same ``wmnet`` command an operator would type, so what runs here is what ships.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import bittensor as bt

from wmnet.harness.processes import Child, ProcessGroup, wait_http_ok
from wmnet.harness.setup import DemoKeys, create_subnet, free_port
from wmnet.localnet.network import client_for

WMNET = [sys.executable, "-m", "wmnet.neurons.cli"]


@dataclass(frozen=True)
class MinerSpec:
    """One miner to run: what it serves, and (tests, demo) how it cheats."""

    precisions: str = "fp32"
    cheat: str | None = None  # random | fake10 | sometimes10 | replay (adversarial tests)
    record: bool = False  # write served answers where a replaying miner can find them
    replay_from: int | None = None  # index of the miner whose recorded answers to replay
    extra: tuple[str, ...] = ()  # more `wmnet miner run` options for this miner alone


@dataclass
class LocalSubnet:
    """Handles of a running local subnet."""

    group: ProcessGroup
    workdir: Path
    # How the subnet's processes reach the chain: "ws" (Substrate JSON-RPC, the SDK's
    # own transport, as on any real chain) or "http" (wmnet's private API).
    transport: str = "ws"
    chain_url: str = ""
    ports: tuple[int, int] | None = None  # (JSON-RPC, private API)
    chain: Child | None = None
    netuid: int = 0
    keys: DemoKeys | None = None
    miners: list[Child] = field(default_factory=list)
    miner_ports: list[int] = field(default_factory=list)
    validator: Child | None = None

    def start_chain(self, block_time: float = 0.25, ports: tuple[int, int] | None = None) -> str:
        """Start ``wmnet localnet up``; returns the URL the subnet's processes use."""
        rpc_port, api_port = ports or self.ports or (free_port(), free_port())
        self.ports = (rpc_port, api_port)
        self.chain = self.group.start(
            "chain",
            [*WMNET, "localnet", "up", "--port", str(rpc_port), "--http-port", str(api_port),
             "--block-time", str(block_time), "--state", str(self.workdir / "chain.db")],
        )  # fmt: skip
        wait_http_ok(f"http://127.0.0.1:{api_port}/v1/info", self.chain)
        wait_http_ok(f"http://127.0.0.1:{rpc_port}/", self.chain)
        if self.transport == "http":
            self.chain_url = f"http://127.0.0.1:{api_port}"
        else:
            self.chain_url = f"ws://127.0.0.1:{rpc_port}"
        return self.chain_url

    def stop_chain(self) -> tuple[int, int]:
        """Stop the chain server; returns its ports, for ``start_chain(ports=...)``.

        Start it again from a long-lived thread (the main one): a child asks for SIGKILL
        when the *thread* that started it ends (``PR_SET_PDEATHSIG``), so a chain started
        from a short-lived worker thread would die with that thread.
        """
        assert self.chain is not None, "start_chain first"
        self.group.stop(self.chain)
        self.group.children.remove(self.chain)
        self.chain = None
        assert self.ports is not None
        return self.ports

    def create_subnet(self, n_miners: int) -> int:
        self.keys = DemoKeys.make(n_miners)
        self.netuid = asyncio.run(create_subnet(self.chain_url, self.keys))
        return self.netuid

    def start_miners(self, specs: list[MinerSpec], extra: list[str] | None = None) -> None:
        assert self.keys is not None, "create_subnet first"
        self.miner_ports = [free_port() for _ in specs]
        for i, spec in enumerate(specs):
            argv = [
                *WMNET, "miner", "run", "--wallet", self.keys.miners[i].name,
                "--hotkey", f"miner{i}", "--netuid", str(self.netuid),
                "--network", self.chain_url, "--port", str(self.miner_ports[i]),
                "--precisions", spec.precisions, "--device", "cpu", *(extra or []),
            ]  # fmt: skip
            if spec.cheat:
                argv += ["--cheat", spec.cheat]
            if spec.record:
                argv += ["--record-dir", str(self.workdir / f"record{i}")]
            if spec.replay_from is not None:
                argv += ["--replay-dir", str(self.workdir / f"record{spec.replay_from}")]
            argv += list(spec.extra)
            self.miners.append(self.group.start(f"miner{i}", argv))
        for child, port in zip(self.miners, self.miner_ports, strict=True):
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", child, timeout_s=120)

    def start_validator(self, extra: list[str] | None = None) -> Child:
        assert self.keys is not None, "create_subnet first"
        argv = [
            *WMNET, "validator", "run", "--wallet", self.keys.validator.name,
            "--hotkey", "validator", "--netuid", str(self.netuid), "--network", self.chain_url,
            "--state", str(self.workdir / "validator" / "state.json"),
            "--usage", str(self.workdir / "validator" / "usage.jsonl"), *(extra or []),
        ]  # fmt: skip
        self.validator = self.group.start("validator", argv)
        return self.validator

    def metagraph(self) -> bt.Metagraph:
        async def read() -> bt.Metagraph:
            async with client_for(self.chain_url) as client:
                return await client.subnets.metagraph(self.netuid)

        return asyncio.run(read())

    def miner_uids(self) -> list[int]:
        assert self.keys is not None
        graph = self.metagraph()
        return [graph.by_hotkey(m.hotkey.ss58_address).uid for m in self.keys.miners]

    def check_alive(self) -> None:
        """Raise with the child's log tail if any process has died."""
        for child in self.group.dead():
            raise RuntimeError(
                f"{child.name} exited with code {child.popen.returncode}:\n{child.tail(40)}"
            )

    def wait_until(self, predicate, timeout_s: float, poll_s: float = 1.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            if predicate():
                return True
            time.sleep(poll_s)
        return False
