"""Serve a chain on loopback so miners and validators in other processes share it.

Plain JSON over HTTP (FastAPI). Writes are signed extrinsics: the client
signs, this server verifies the sr25519 signature and the nonce before
anything is applied, so no private key crosses the wire and no process can
act for another's hotkey. Handlers are sync functions: FastAPI runs them in
its thread pool, so a submission waiting for the next block never stalls
the event loop.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from wmnet.localnet.backend import InProcessBackend, UnknownItem
from wmnet.localnet.chain import Chain
from wmnet.localnet.codec import SignedExtrinsic, decode_value, encode_value
from wmnet.localnet.errors import InvalidTransaction

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9946


class QueryBody(BaseModel):
    module: str = Field(min_length=1, max_length=64)
    item: str = Field(min_length=1, max_length=96)
    params: list[Any] = Field(default_factory=list, max_length=16)
    at: int | None = Field(default=None, ge=0)


class RuntimeBody(BaseModel):
    api: str = Field(min_length=1, max_length=64)
    method: str = Field(min_length=1, max_length=96)
    params: Any = None


class SubmitBody(BaseModel):
    extrinsic: dict[str, Any]
    wait: bool = True


class AdvanceBody(BaseModel):
    blocks: int = Field(ge=0, le=100_000)


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


def create_app(chain: Chain) -> FastAPI:
    backend = InProcessBackend(chain)
    app = FastAPI(title="wmnet localnet", version="1")

    def guarded(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except UnknownItem as error:
            raise HTTPException(404, f"the local chain does not model {error}") from error
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise HTTPException(400, f"malformed request: {error}") from error

    @app.get("/v1/info")
    def info() -> dict[str, Any]:
        return {
            "genesis_hash": chain.state.genesis_hash,
            "head": chain.head,
            "block_time": chain.block_time,
            "realtime": chain.realtime,
        }

    @app.get("/v1/block")
    def block(number: int | None = None, hash: str | None = None) -> dict[str, Any]:  # noqa: A002
        row = backend.block(number, hash)
        if row is None:
            raise HTTPException(404, "no such block")
        return row

    @app.get("/v1/block_hash/{number}")
    def block_hash(number: int) -> dict[str, Any]:
        if number < 0 or number > chain.head:
            raise HTTPException(404, f"block {number} has not been produced")
        return {"hash": chain.block_hash(number)}

    @app.post("/v1/query")
    def query(body: QueryBody) -> dict[str, Any]:
        params = decode_value(body.params)
        return {
            "value": encode_value(guarded(backend.query, body.module, body.item, params, body.at))
        }

    @app.post("/v1/query_map")
    def query_map(body: QueryBody) -> dict[str, Any]:
        rows = guarded(backend.query_map, body.module, body.item, decode_value(body.params))
        return {"rows": encode_value([list(r) for r in rows])}

    @app.post("/v1/runtime_call")
    def runtime_call(body: RuntimeBody) -> dict[str, Any]:
        value = guarded(backend.runtime_call, body.api, body.method, decode_value(body.params))
        return {"value": encode_value(value)}

    @app.get("/v1/nonce/{address}")
    def nonce(address: str) -> dict[str, Any]:
        return {"nonce": chain.next_nonce(address)}

    def parse(extrinsic: dict[str, Any]) -> SignedExtrinsic:
        try:
            return SignedExtrinsic.from_json(extrinsic)
        except (ValueError, TypeError) as error:
            raise HTTPException(400, f"malformed extrinsic: {error}") from error

    @app.post("/v1/submit")
    def submit(body: SubmitBody) -> dict[str, Any]:
        receipt = chain.submit(parse(body.extrinsic), wait=body.wait)
        return encode_value(receipt.to_json())

    @app.post("/v1/shielded")
    def shielded(body: SubmitBody) -> dict[str, Any]:
        try:
            chain.announce_shielded(parse(body.extrinsic))
        except InvalidTransaction as error:
            raise HTTPException(400, error.reason) from error
        return {"ok": True}

    @app.post("/v1/advance")
    def advance(body: AdvanceBody) -> dict[str, Any]:
        if chain.realtime:
            raise HTTPException(409, "this chain runs a real-time clock; blocks cannot be forced")
        return {"head": chain.advance(body.blocks)}

    @app.get("/v1/epochs/{netuid}")
    def epochs(netuid: int, since: int = 0) -> dict[str, Any]:
        return {"epochs": chain.epoch_history(netuid, since)}

    return app


def serve(
    chain: Chain, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, explicit_host: bool = False
) -> None:
    """Run the server in the foreground until interrupted."""
    import uvicorn

    check_bind(host, explicit_host)
    uvicorn.run(create_app(chain), host=host, port=port, log_level="warning")
