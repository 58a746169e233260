"""Serve a chain on loopback so miners and validators in other processes share it.

Plain JSON over HTTP (FastAPI). Writes are signed extrinsics: the client
signs, this server verifies the sr25519 signature and the nonce before
anything is applied, so no private key crosses the wire and no process can
act for another's hotkey. Handlers are sync functions: FastAPI runs them in
its thread pool, so a submission waiting for the next block never stalls
the event loop.

Every input gets an answer with a reason: 4xx for what the request got
wrong (413 for a body over the limit, 410 for a state the chain no longer
keeps), 503 when the chain could not persist a block. Never a 500.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from typing import Any

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictBool, StrictInt

from wmnet.localnet.backend import InProcessBackend, UnknownItem
from wmnet.localnet.chain import MAX_ADVANCE_BLOCKS, Chain
from wmnet.localnet.codec import SignedExtrinsic, decode_value, encode_value
from wmnet.localnet.errors import InvalidTransaction
from wmnet.localnet.keys import is_ss58
from wmnet.localnet.limits import BodyLimit
from wmnet.localnet.replay import HistoryUnavailable
from wmnet.localnet.store import MAX_SQL_INT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9946


class QueryBody(BaseModel):
    module: str = Field(min_length=1, max_length=64)
    item: str = Field(min_length=1, max_length=96)
    params: list[Any] = Field(default_factory=list, max_length=16)
    at: StrictInt | None = Field(default=None, ge=0, le=MAX_SQL_INT)


class RuntimeBody(BaseModel):
    api: str = Field(min_length=1, max_length=64)
    method: str = Field(min_length=1, max_length=96)
    params: Any = None
    at: StrictInt | None = Field(default=None, ge=0, le=MAX_SQL_INT)


class SubmitBody(BaseModel):
    extrinsic: dict[str, Any]
    wait: StrictBool = True


class AdvanceBody(BaseModel):
    blocks: StrictInt = Field(ge=0, le=MAX_ADVANCE_BLOCKS)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, explicit: bool) -> None:
    """Refuse to expose the chain beyond this machine unless asked to in so many words."""
    if not is_loopback(host) and not explicit:
        raise ValueError(
            f"refusing to bind the local chain to non-loopback address {host!r}; "
            "pass --host explicitly to serve it beyond this machine"
        )


def guarded(fn: Any, *args: Any) -> Any:
    """Run a read: its only inputs are the request's, so any failure is the request's."""
    try:
        return fn(*args)
    except UnknownItem as error:
        raise HTTPException(404, str(error)) from error
    except HistoryUnavailable as error:
        raise HTTPException(410, str(error)) from error
    except Exception as error:  # a reader given params it cannot use
        raise HTTPException(400, f"malformed request: {type(error).__name__}: {error}") from error


def _parse(extrinsic: dict[str, Any]) -> SignedExtrinsic:
    try:
        return SignedExtrinsic.from_json(extrinsic)
    except (ValueError, TypeError, RecursionError) as error:
        raise HTTPException(400, f"malformed extrinsic: {error}") from error


def create_app(chain: Chain) -> FastAPI:
    backend = InProcessBackend(chain)
    app = FastAPI(title="wmnet localnet", version="1")

    @app.exception_handler(Exception)
    async def last_resort(request: Request, error: Exception) -> JSONResponse:
        # Parsing pathological JSON (nesting deep enough to recurse out) lands here.
        if isinstance(error, (OSError, sqlite3.Error)):
            return JSONResponse({"detail": f"the chain could not persist: {error}"}, 503)
        detail = f"request could not be processed: {type(error).__name__}"
        return JSONResponse({"detail": detail}, 400)

    app.add_middleware(BodyLimit)
    _reads(app, chain, backend)
    _writes(app, chain)
    return app


def _reads(app: FastAPI, chain: Chain, backend: InProcessBackend) -> None:
    @app.get("/v1/info")
    def info() -> dict[str, Any]:
        return {
            "genesis_hash": chain.state.genesis_hash,
            "head": chain.head,
            "block_time": chain.block_time,
            "realtime": chain.realtime,
        }

    @app.get("/v1/block")
    def block(
        number: int | None = Query(None, ge=0, le=MAX_SQL_INT),
        hash: str | None = Query(None, max_length=66),  # noqa: A002
    ) -> dict[str, Any]:
        row = backend.block(number, hash)
        if row is None:
            raise HTTPException(404, "no such block")
        return row

    @app.get("/v1/block_hash/{number}")
    def block_hash(number: int = Path(ge=0, le=MAX_SQL_INT)) -> dict[str, Any]:
        if number > chain.head:
            raise HTTPException(404, f"block {number} has not been produced")
        return {"hash": chain.block_hash(number)}

    def decoded(params: Any) -> Any:
        return guarded(decode_value, params)

    @app.post("/v1/query")
    def query(body: QueryBody) -> dict[str, Any]:
        args = (body.module, body.item, decoded(body.params), body.at)
        return {"value": guarded(lambda: encode_value(backend.query(*args)))}

    @app.post("/v1/query_map")
    def query_map(body: QueryBody) -> dict[str, Any]:
        args = (body.module, body.item, decoded(body.params), body.at)
        return {"rows": guarded(lambda: encode_value([list(r) for r in backend.query_map(*args)]))}

    @app.post("/v1/runtime_call")
    def runtime_call(body: RuntimeBody) -> dict[str, Any]:
        args = (body.api, body.method, decoded(body.params), body.at)
        return {"value": guarded(lambda: encode_value(backend.runtime_call(*args)))}

    @app.get("/v1/nonce/{address}")
    def nonce(address: str = Path(max_length=64)) -> dict[str, Any]:
        if not is_ss58(address):
            raise HTTPException(400, "not an ss58 address")
        return {"nonce": chain.next_nonce(address)}

    @app.get("/v1/epochs/{netuid}")
    def epochs(
        netuid: int = Path(ge=0, le=65_535), since: int = Query(0, ge=0, le=MAX_SQL_INT)
    ) -> dict[str, Any]:
        return {"epochs": chain.epoch_history(netuid, since)}


def _writes(app: FastAPI, chain: Chain) -> None:
    @app.post("/v1/submit")
    def submit(body: SubmitBody) -> dict[str, Any]:
        receipt = chain.submit(_parse(body.extrinsic), wait=body.wait)
        return encode_value(receipt.to_json())

    @app.post("/v1/shielded")
    def shielded(body: SubmitBody) -> dict[str, Any]:
        try:
            chain.announce_shielded(_parse(body.extrinsic))
        except InvalidTransaction as error:
            raise HTTPException(400, error.reason) from error
        return {"ok": True}

    @app.post("/v1/advance")
    def advance(body: AdvanceBody) -> dict[str, Any]:
        if chain.realtime:
            raise HTTPException(409, "this chain runs a real-time clock; blocks cannot be forced")
        return {"head": chain.advance(body.blocks)}


def serve(
    chain: Chain, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, explicit_host: bool = False
) -> None:
    """Run the server in the foreground until interrupted."""
    import uvicorn

    check_bind(host, explicit_host)
    uvicorn.run(create_app(chain), host=host, port=port, log_level="warning")
