"""Substrate JSON-RPC over WebSocket and HTTP POST, on one port, as a node serves it.

``ws://HOST:PORT`` and ``http://HOST:PORT`` (POST ``/``) answer JSON-RPC 2.0:
single requests, batches, notifications; over WebSocket also subscriptions
(new/finalized heads, runtime version, ``author_submitAndWatchExtrinsic``).
Every frame gets an answer: ``-32700`` for text that is not JSON, ``-32600`` for
JSON that is not a request, ``-32601`` for an unknown method, ``-32602`` for bad
parameters, ``-32007`` for a request over :data:`MAX_REQUEST_BYTES`, ``-32006``
past :data:`MAX_SUBSCRIPTIONS` on one connection, and ``-32603`` if a handler
fails unexpectedly (never a dropped socket). Memory per connection is bounded:
at most :data:`MAX_INFLIGHT` requests are handled or wait for their reply to be
sent (reading pauses beyond that), and at most :data:`OUTBOX` notifications wait
to be sent (beyond that they are dropped for that connection, as a node drops
them for a lagging subscriber). Replies go out before waiting notifications, so
a subscriber flooded with heads still gets its answers promptly.

Methods run in worker threads (the chain's lock, SQLite); the block producer
wakes subscriptions through ``Chain.listeners``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import secrets
import signal
import socket
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from wmnet.localnet.block import Receipt
from wmnet.localnet.chain import Chain
from wmnet.localnet.rpc.methods import (
    INTERNAL,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    OVERSIZED_REQUEST,
    PARSE_ERROR,
    TOO_MANY_SUBSCRIPTIONS,
    Methods,
    RpcError,
    _params,
    pool_error,
)
from wmnet.localnet.rpc.node import Node

DEFAULT_RPC_PORT = 9944  # subtensor's localnet RPC port
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_FRAME_BYTES = 16 * 1024 * 1024  # the WebSocket layer's own cap (close 1009 above it)
MAX_BATCH = 256
MAX_INFLIGHT = 32
MAX_SUBSCRIPTIONS = 1024  # per connection, as jsonrpsee's default
OUTBOX = 4096
WORKERS = 16

_HEADS = {
    "chain_subscribeNewHeads": ("head", "chain_newHead"),
    "chain_subscribeNewHead": ("head", "chain_newHead"),
    "subscribe_newHead": ("head", "chain_newHead"),
    "chain_subscribeFinalizedHeads": ("finalized", "chain_finalizedHead"),
    "chain_subscribeFinalisedHeads": ("finalized", "chain_finalizedHead"),
    "chain_subscribeAllHeads": ("all", "chain_allHead"),
}
_UNSUBSCRIBE = {
    "chain_unsubscribeNewHeads",
    "chain_unsubscribeNewHead",
    "unsubscribe_newHead",
    "chain_unsubscribeFinalizedHeads",
    "chain_unsubscribeFinalisedHeads",
    "chain_unsubscribeAllHeads",
    "state_unsubscribeRuntimeVersion",
    "author_unwatchExtrinsic",
}
SUBSCRIPTION_METHODS = [
    *_HEADS,
    "state_subscribeRuntimeVersion",
    "author_submitAndWatchExtrinsic",
    *_UNSUBSCRIBE,
]


def response(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


class RpcServer:
    def __init__(self, chain: Chain):
        self.node = Node(chain)
        self.methods = Methods(self.node)
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="rpc")
        self.loop: asyncio.AbstractEventLoop | None = None
        self.connections: set[Connection] = set()
        self.watchers: dict[str, list[asyncio.Future[Receipt]]] = {}
        chain.listeners.append(self._on_block)

    def method_names(self) -> list[str]:
        return sorted({*self.methods.names(), *SUBSCRIPTION_METHODS, "rpc_methods"})

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    # --- the block producer's side --------------------------------------------------

    def _on_block(self, number: int, receipts: dict[str, Receipt]) -> None:
        """Called by the producer thread after each block (keep it short)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, number, dict(receipts))

    def _deliver(self, number: int, receipts: dict[str, Receipt]) -> None:
        for extrinsic_hash, receipt in receipts.items():
            for future in self.watchers.pop(extrinsic_hash, []):
                if not future.done():
                    future.set_result(receipt)
        if any(c.head_subscriptions() for c in self.connections):
            asyncio.get_running_loop().create_task(self._announce(number))

    async def _announce(self, number: int) -> None:
        header = await self.run(self.node.header, number)
        if header is None:
            return
        for connection in list(self.connections):
            connection.notify_heads(header)

    def watch(self, extrinsic_hash: str) -> asyncio.Future[Receipt]:
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self.watchers.setdefault(extrinsic_hash, []).append(future)
        return future

    def unwatch(self, extrinsic_hash: str, future: asyncio.Future[Receipt]) -> None:
        waiting = self.watchers.get(extrinsic_hash, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self.watchers.pop(extrinsic_hash, None)

    # --- requests ---------------------------------------------------------------------

    async def handle_text(self, text: str | bytes, connection: Connection | None) -> Any:
        """The reply to one frame or POST body (None for notifications only)."""
        if len(text) > MAX_REQUEST_BYTES:
            return error_response(
                None,
                RpcError(
                    OVERSIZED_REQUEST,
                    f"Request is too big: {len(text)} bytes, the limit is {MAX_REQUEST_BYTES}",
                ),
            )
        try:
            message = json.loads(text)
        except (ValueError, RecursionError) as error:
            return error_response(None, RpcError(PARSE_ERROR, f"Parse error: {error}"))
        if isinstance(message, list):
            if not message or len(message) > MAX_BATCH:
                why = "an empty batch" if not message else f"a batch over {MAX_BATCH} requests"
                return error_response(None, RpcError(INVALID_REQUEST, f"Invalid request: {why}"))
            replies = await asyncio.gather(*(self.handle(m, connection) for m in message))
            return [r for r in replies if r is not None] or None
        return await self.handle(message, connection)

    async def handle(self, message: Any, connection: Connection | None) -> Any:
        if not isinstance(message, dict):
            return error_response(None, RpcError(INVALID_REQUEST, "Invalid request: not an object"))
        request_id = message.get("id")
        if not isinstance(request_id, (str, int, type(None))) or isinstance(request_id, bool):
            return error_response(None, RpcError(INVALID_REQUEST, "Invalid request: a bad id"))
        method = message.get("method")
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return error_response(
                request_id, RpcError(INVALID_REQUEST, "Invalid request: jsonrpc 2.0 and a method")
            )
        try:
            result = await self._dispatch(method, message.get("params"), connection)
        except RpcError as error:
            reply: dict[str, Any] = error_response(request_id, error)
        except Exception as error:  # a handler's bug: the client still gets an answer
            print(f"localnet rpc: {method}: {type(error).__name__}: {error}", file=sys.stderr)
            reply = error_response(
                request_id, RpcError(INTERNAL, f"Internal error: {type(error).__name__}")
            )
        else:
            reply = response(request_id, result)
        return reply if "id" in message else None

    async def _dispatch(self, method: str, params: Any, connection: Connection | None) -> Any:
        if method == "rpc_methods":
            _params(params, 0, 0)
            return {"version": 1, "methods": self.method_names()}
        handler = self.methods.table.get(method)
        if handler is not None:
            return await self.run(handler, params)
        if method in SUBSCRIPTION_METHODS:
            if connection is None:
                raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method} needs a WebSocket")
            return await connection.subscription(method, params)
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}")

    # --- ASGI ------------------------------------------------------------------------------

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> Any:
            self.loop = asyncio.get_running_loop()
            yield

        async def post(request: Request) -> Response:
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_REQUEST_BYTES:
                    error = RpcError(OVERSIZED_REQUEST, "Request is too big")
                    return JSONResponse(error_response(None, error), status_code=413)
            reply = await self.handle_text(bytes(body), None)
            return JSONResponse(reply) if reply is not None else Response(status_code=204)

        async def get(request: Request) -> Response:
            return PlainTextResponse(
                "wmnet local subtensor: Substrate JSON-RPC (POST here, or a WebSocket)\n"
            )

        async def socket(websocket: WebSocket) -> None:
            await Connection(self, websocket).serve()

        return Starlette(
            routes=[
                Route("/", post, methods=["POST"]),
                Route("/", get, methods=["GET"]),
                WebSocketRoute("/", socket),
            ],
            lifespan=lifespan,
        )


class Connection:
    """One WebSocket client: its requests in flight, its subscriptions, its frames to send."""

    def __init__(self, server: RpcServer, websocket: WebSocket):
        self.server = server
        self.websocket = websocket
        # Two queues, one writer: replies go out before any notification, so a flood of
        # head notifications never delays (or starves) the answer to a request. Replies
        # are bounded by MAX_INFLIGHT (a request holds its slot until its reply is on the
        # wire); notifications by OUTBOX (past it a lagging client loses them).
        self.replies: collections.deque[str] = collections.deque()
        self.notifications: collections.deque[str] = collections.deque()
        self.ready = asyncio.Event()
        self.inflight = asyncio.Semaphore(MAX_INFLIGHT)
        self.heads: dict[str, tuple[str, str]] = {}  # id -> (kind, notification method)
        self.others: dict[str, str] = {}  # id -> kind (runtime version, extrinsic watch)
        self.tasks: set[asyncio.Task[Any]] = set()
        # Set when the client is gone or the socket fails: nothing may wait on it then.
        self.closed = asyncio.Event()

    def head_subscriptions(self) -> int:
        return len(self.heads)

    async def serve(self) -> None:
        await self.websocket.accept()
        self.server.connections.add(self)
        writer = asyncio.create_task(self._write())
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = message.get("bytes") or b""
                if not await self._or_closed(self.inflight.acquire()):
                    break
                task = asyncio.create_task(self._answer(text))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.closed.set()
            self.server.connections.discard(self)
            for task in list(self.tasks):
                task.cancel()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    async def _or_closed(self, awaitable: Any) -> bool:
        """Await ``awaitable`` unless the connection closes first (then False)."""
        if self.closed.is_set():
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            return False
        work = asyncio.ensure_future(awaitable)
        gone = asyncio.ensure_future(self.closed.wait())
        done, _ = await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            gone.cancel()
            return True
        work.cancel()
        return False

    async def _answer(self, text: str | bytes) -> None:
        queued = False
        try:
            reply = await self.server.handle_text(text, self)
            if reply is not None:
                self.replies.append(json.dumps(reply))  # the writer releases the slot
                queued = True
                self.ready.set()
        finally:
            if not queued:
                self.inflight.release()

    async def _write(self) -> None:
        try:
            while True:
                if self.replies:
                    frame, reply = self.replies.popleft(), True
                elif self.notifications:
                    frame, reply = self.notifications.popleft(), False
                else:
                    self.ready.clear()
                    await self.ready.wait()
                    continue
                try:
                    await self.websocket.send_text(frame)
                finally:
                    if reply:
                        self.inflight.release()
        except Exception:  # the client went away mid-send: stop everything waiting on it
            self.closed.set()

    def _notify(self, method: str, subscription: str, result: Any) -> None:
        self._notify_encoded(method, subscription, json.dumps(result))

    def _notify_encoded(self, method: str, subscription: str, result_json: str) -> None:
        """Queue a notification whose result is already JSON text: a block's header is
        encoded once for every subscription, not once per subscription."""
        if len(self.notifications) >= OUTBOX:  # a lagging client loses notifications
            return
        self.notifications.append(
            f'{{"jsonrpc": "2.0", "method": {json.dumps(method)}, "params": '
            f'{{"subscription": {json.dumps(subscription)}, "result": {result_json}}}}}'
        )
        self.ready.set()

    def notify_heads(self, header: dict[str, Any]) -> None:
        header_json = json.dumps(header)
        for subscription, (_kind, method) in list(self.heads.items()):
            self._notify_encoded(method, subscription, header_json)

    # --- subscriptions -------------------------------------------------------------------

    def _new_id(self) -> str:
        if len(self.heads) + len(self.others) >= MAX_SUBSCRIPTIONS:
            raise RpcError(
                TOO_MANY_SUBSCRIPTIONS,
                f"Too many subscriptions on the connection: the limit is {MAX_SUBSCRIPTIONS}",
            )
        return secrets.token_hex(8)

    async def subscription(self, method: str, params: Any) -> Any:
        server = self.server
        if method in _UNSUBSCRIBE:
            (subscription,) = _params(params, 1, 1)
            found = self.heads.pop(str(subscription), None) or self.others.pop(
                str(subscription), None
            )
            return found is not None
        if method in _HEADS:
            _params(params, 0, 0)
            subscription = self._new_id()
            self.heads[subscription] = _HEADS[method]
            header = await server.run(server.node.header, server.node.head())
            # The current head first, after the subscription id has gone out.
            asyncio.get_running_loop().call_soon(
                self._notify, _HEADS[method][1], subscription, header
            )
            return subscription
        if method == "state_subscribeRuntimeVersion":
            _params(params, 0, 0)
            subscription = self._new_id()
            self.others[subscription] = "runtimeVersion"
            version = server.node.runtime_version()
            asyncio.get_running_loop().call_soon(
                self._notify, "state_runtimeVersion", subscription, version
            )
            return subscription
        return await self._submit_and_watch(params)

    async def _submit_and_watch(self, params: Any) -> str:
        server = self.server
        (extrinsic,) = _params(params, 1, 1)
        subscription = self._new_id()
        xt = await server.run(server.methods.decode_extrinsic, extrinsic)
        future = server.watch(xt.hash)
        receipt = await server.run(server.node.submit, xt)
        if not receipt.included and receipt.error_message != "pending":
            server.unwatch(xt.hash, future)
            raise pool_error(receipt.error_message or "refused")
        self.others[subscription] = "extrinsic"
        if receipt.included:  # sealed on submission (manual mode)
            future.set_result(receipt)
        task = asyncio.create_task(self._follow(subscription, xt.hash, future))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return subscription

    async def _follow(
        self, subscription: str, extrinsic_hash: str, future: asyncio.Future[Receipt]
    ) -> None:
        method = "author_extrinsicUpdate"
        await asyncio.sleep(0)  # the subscription id goes out first
        self._notify(method, subscription, "ready")
        try:
            receipt = await future
        finally:
            self.server.unwatch(extrinsic_hash, future)
        self.server.node.chain.take_receipt(extrinsic_hash)
        if self.others.pop(subscription, None) is None:
            return  # unwatched meanwhile
        if not receipt.included:
            expired = "Stale" in (receipt.error_message or "")
            self._notify(method, subscription, "dropped" if expired else "invalid")
            return
        self._notify(method, subscription, {"inBlock": receipt.block_hash})
        self._notify(method, subscription, {"finalized": receipt.block_hash})


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: serve_all stops every server at once."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


@contextlib.contextmanager
def serve_in_thread(chain: Chain, host: str = "127.0.0.1") -> Any:
    """Serve ``chain``'s JSON-RPC on ``host``:<ephemeral> from a daemon thread (tests,
    benchmarks); yields the ``ws://`` URL and stops the server on exit."""
    import threading
    import time

    sock = listen(host, 0)
    server = _Server(
        uvicorn.Config(
            RpcServer(chain).app(),
            log_level="warning",
            ws_max_size=MAX_FRAME_BYTES,
            ws_ping_interval=None,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="rpc", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the JSON-RPC server did not start")
        time.sleep(0.02)
    try:
        yield f"ws://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class PortInUse(OSError):
    """A port the served chain cannot listen on."""


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or PortInUse naming it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: a reply and the notifications after it are small
    # writes, which Nagle's algorithm would hold for the client's delayed ACK (~40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port}: {error.strerror}") from error
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_all(apps: list[tuple[Any, int]], host: str) -> None:
    """Serve each (ASGI app, port) on ``host`` in this thread until SIGINT/SIGTERM.

    Every port is bound before anything is served, so a port in use fails the
    whole start with :class:`PortInUse` and leaves nothing half running.
    """
    sockets: list[socket.socket] = []
    try:
        for _app, port in apps:
            sockets.append(listen(host, port))
    except PortInUse:
        for sock in sockets:
            sock.close()
        raise
    servers = [
        _Server(
            uvicorn.Config(
                app,
                log_level="warning",
                ws_max_size=MAX_FRAME_BYTES,
                ws_ping_interval=None,
                lifespan="on",
                timeout_graceful_shutdown=2,
            )
        )
        for app, _port in apps
    ]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: [setattr(s, "should_exit", True) for s in servers])
        await asyncio.gather(
            *(s.serve(sockets=[sock]) for s, sock in zip(servers, sockets, strict=True))
        )

    asyncio.run(main())
