"""``wmnet localnet up`` as a process, for tests that reach it the way any client would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from wmnet.harness.processes import ProcessGroup, wait_http_ok
from wmnet.harness.setup import free_port

WMNET = [sys.executable, "-m", "wmnet.neurons.cli"]


@dataclass
class ServedNode:
    ws_url: str
    http_url: str  # JSON-RPC over HTTP POST (same port)
    api_url: str  # wmnet's own HTTP API
    workdir: Path
    group: ProcessGroup

    def rpc(self, method: str, params: list | None = None) -> dict:
        """One JSON-RPC call over HTTP POST; the whole reply (result or error)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        return httpx.post(self.http_url, json=body, timeout=30).json()

    def alive(self) -> bool:
        return all(c.popen.poll() is None for c in self.group.children)

    def client_env(self) -> dict[str, str]:
        """Environment for a client process: SDK caches and btcli's files in tmp."""
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        return {
            **os.environ,
            "HOME": str(home),
            "BITTENSOR_RUNTIME_CACHE_DIR": str(self.workdir / "runtime-cache"),
            "BTCLI_CONFIG": str(self.workdir / "btcli.yaml"),
            "BTCLI_TOKEN_SYMBOLS_CACHE": str(self.workdir / "token_symbols.json"),
        }

    def run_client(self, script: Path, *args: str, timeout: float = 300) -> dict:
        """Run a client script in its own interpreter; its stdout's last line is JSON."""
        done = subprocess.run(
            [sys.executable, str(script), *args],
            env=self.client_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-4000:] + self.group.children[0].tail(40)
        return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def served_node(workdir: Path, *extra: str) -> Iterator[ServedNode]:
    port, api_port = free_port(), free_port()
    with ProcessGroup(workdir / "logs") as group:
        child = group.start(
            "chain",
            [*WMNET, "localnet", "up", "--port", str(port), "--http-port", str(api_port),
             "--state", str(workdir / "chain.db"), *extra],
        )  # fmt: skip
        wait_http_ok(f"http://127.0.0.1:{port}/", child)
        yield ServedNode(
            ws_url=f"ws://127.0.0.1:{port}",
            http_url=f"http://127.0.0.1:{port}/",
            api_url=f"http://127.0.0.1:{api_port}",
            workdir=workdir,
            group=group,
        )
