"""A chain served by uvicorn on an ephemeral loopback port, in a thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from wmnet.localnet.chain import Chain
from wmnet.localnet.server import create_app


@contextmanager
def served(chain: Chain) -> Iterator[str]:
    """Serve ``chain`` on 127.0.0.1:<ephemeral>; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(chain), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the served chain did not start")
        time.sleep(0.02)
    try:
        httpx.get(url + "/v1/info", timeout=5).raise_for_status()
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
