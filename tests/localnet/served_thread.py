"""ASGI apps (a chain, a miner) served by uvicorn on ephemeral loopback ports, in threads."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from wmnet.localnet.chain import Chain
from wmnet.localnet.server import create_app


@contextmanager
def served_app(app: Any, *, lifespan: str = "auto", ready_path: str | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<ephemeral>; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the served app did not start")
        time.sleep(0.02)
    try:
        if ready_path is not None:
            httpx.get(url + ready_path, timeout=5).raise_for_status()
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def served(chain: Chain) -> Iterator[str]:
    """Serve ``chain`` on 127.0.0.1:<ephemeral>; yields its URL."""
    with served_app(create_app(chain), lifespan="off", ready_path="/v1/info") as url:
        yield url


@contextmanager
def served_rpc(chain: Chain) -> Iterator[str]:
    """Serve ``chain``'s Substrate JSON-RPC on 127.0.0.1:<ephemeral>; yields its ws:// URL."""
    from wmnet.localnet.rpc.server import serve_in_thread

    with serve_in_thread(chain) as url:
        yield url
