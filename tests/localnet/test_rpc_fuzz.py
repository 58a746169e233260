"""Malformed JSON-RPC over the WebSocket: every request answered, the chain unharmed.

A served chain (real-time clock) takes random text, random JSON, every method with
random parameters, oversized frames, undecodable, badly signed and replayed
extrinsics, and a thousand subscriptions on one connection. Each request gets a
JSON-RPC answer (an error where it is wrong), the socket stays open, memory stays
bounded, and the chain goes on producing contiguous blocks.
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests.localnet.served_thread import served_rpc
from wmnet.localnet.chain import Chain
from wmnet.localnet.keys import dev_keypair
from wmnet.localnet.rpc import server as rpc_server
from wmnet.localnet.rpc.methods import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    OVERSIZED_REQUEST,
    PARSE_ERROR,
    TOO_MANY_SUBSCRIPTIONS,
)
from wmnet.localnet.scale import chain_codec

pytestmark = pytest.mark.slow
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
METHODS = [
    "chain_getBlockHash", "chain_getHeader", "chain_getBlock", "state_getStorage",
    "state_getStorageAt", "state_queryStorageAt", "state_getKeysPaged", "state_call",
    "state_getRuntimeVersion", "author_submitExtrinsic", "system_accountNextIndex",
    "payment_queryInfo", "chain_subscribeNewHeads", "author_submitAndWatchExtrinsic",
    "author_unwatchExtrinsic", "state_getMetadata", "rpc_methods", "no_suchMethod",
]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    chain = Chain(block_time=0.05)
    chain.start_clock()
    yield chain
    chain.close()


@pytest.fixture(scope="module")
def url(chain: Chain) -> Iterator[str]:
    with served_rpc(chain) as ws_url:
        yield ws_url


@pytest.fixture(scope="module")
def ws(url: str):
    with connect(url, max_size=2**25, open_timeout=30) as socket:
        yield socket


def call(ws, method: str, params, request_id: int = 1) -> dict:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
    return answer(ws, request_id)


def answer(ws, request_id) -> dict:
    """The reply to ``request_id`` (subscription notifications skipped)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = json.loads(ws.recv(timeout=30))
        if isinstance(reply, dict) and reply.get("method"):
            continue  # a notification
        assert reply.get("id") == request_id, reply
        return reply
    raise AssertionError("no reply")


def reply_frame(ws) -> object:
    """The next frame that is not a subscription notification."""
    while True:
        reply = json.loads(ws.recv(timeout=30))
        if not (isinstance(reply, dict) and reply.get("method")):
            return reply


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.hex()))
def test_any_text_gets_a_json_rpc_answer(ws, text):
    ws.send(text)
    reply = reply_frame(ws)
    replies = reply if isinstance(reply, list) else [reply]
    for item in replies:
        assert item["jsonrpc"] == "2.0"
        assert "error" in item or "result" in item


@FUZZ
@given(message=JSON)
def test_any_json_gets_a_json_rpc_answer(ws, message):
    ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "x": message})
            if isinstance(message, dict) else json.dumps(message))  # fmt: skip
    reply = reply_frame(ws)
    items = reply if isinstance(reply, list) else [reply]
    assert all("error" in i or "result" in i for i in items), reply
    if isinstance(message, dict):
        assert reply["error"]["code"] == INVALID_REQUEST  # no method
    elif not isinstance(message, list) or not message:
        assert reply["error"]["code"] == INVALID_REQUEST


@FUZZ
@given(method=st.sampled_from(METHODS), params=st.lists(JSON, max_size=5) | JSON)
def test_every_method_with_any_params_answers(ws, method, params):
    reply = call(ws, method, params, request_id=11)
    assert ("result" in reply) != ("error" in reply), reply
    if method == "no_suchMethod":
        assert reply["error"]["code"] == METHOD_NOT_FOUND
    if "error" in reply:
        assert reply["error"]["code"] != -32603, reply  # never an internal error


@FUZZ
@given(data=st.binary(max_size=300))
def test_undecodable_extrinsics_are_refused(ws, data):
    reply = call(ws, "author_submitExtrinsic", ["0x" + data.hex()], request_id=5)
    assert reply["error"]["code"] in (1001, 1010), reply


def _transfer(chain: Chain, nonce: int, amount: int = 1000) -> bytes:
    codec = chain_codec(50).codec
    alice = dev_keypair("//Alice")
    bob = dev_keypair("//Bob").ss58_address
    call = codec.compose_call("Balances", "transfer_keep_alive", {"dest": bob, "value": amount})
    genesis = chain.block_hash(0)
    payload = codec.signature_payload(
        call, era="00", nonce=nonce, tip=0, tip_asset_id=None,
        genesis_hash=genesis, era_block_hash=genesis,
    )  # fmt: skip
    data, _ = codec.encode_signed_extrinsic(
        call, public_key=alice.public_key, signature=bytes(alice.sign(payload)),
        signature_version=1, era="00", nonce=nonce, tip=0, tip_asset_id=None,
    )  # fmt: skip
    return data


def test_bad_signatures_replays_and_oversized_frames(ws, chain):
    alice = dev_keypair("//Alice").ss58_address
    nonce = call(ws, "system_accountNextIndex", [alice])["result"]
    good = _transfer(chain, nonce)
    forged = bytearray(good)
    forged[40] ^= 0xFF  # inside the signature
    reply = call(ws, "author_submitExtrinsic", ["0x" + forged.hex()])
    assert reply["error"]["code"] == 1010 and "bad signature" in reply["error"]["data"]
    first = call(ws, "author_submitExtrinsic", ["0x" + good.hex()])
    assert first["result"].startswith("0x"), first
    replayed = call(ws, "author_submitExtrinsic", ["0x" + good.hex()])
    assert replayed["error"]["code"] == 1010 and "outdated" in replayed["error"]["data"]
    time.sleep(0.3)  # included by now; replaying it still fails
    again = call(ws, "author_submitExtrinsic", ["0x" + good.hex()])
    assert again["error"]["code"] == 1010
    big = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "rpc_methods",
                      "params": ["x" * (rpc_server.MAX_REQUEST_BYTES + 10)]})  # fmt: skip
    ws.send(big)
    assert answer(ws, None)["error"]["code"] == OVERSIZED_REQUEST  # its id is unread
    assert call(ws, "state_getKeysPaged", ["0x", 10**9])["error"]["code"] == INVALID_PARAMS
    assert "result" in call(ws, "chain_getHeader", [])  # still serving on this socket


def test_a_thousand_subscriptions_on_one_connection(url, chain):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # No client keepalive pings: this socket is flooded on purpose (20,000+ notifications
    # a second offered), so a pong can queue behind them past the client's 20 s ping
    # timeout on a loaded 2-core machine; what is checked here is the server's answers.
    with connect(url, max_size=2**25, open_timeout=30, ping_interval=None) as socket:
        total = rpc_server.MAX_SUBSCRIPTIONS + 2
        for i in range(total):  # pipelined: the server reads on as it answers
            frame = {"jsonrpc": "2.0", "id": i, "method": "chain_subscribeNewHeads"}
            socket.send(json.dumps(frame))
        # Replies go out before any waiting notification, but the notifications already
        # sent sit in the kernel's socket buffers ahead of them: how soon the last reply
        # arrives depends on how fast this (loaded) process reads. So the bound is on
        # progress: a reply at least every 30 s (a starved reply fails it), 5 min in all.
        replies: dict[int, dict] = {}
        last_reply = started = time.monotonic()
        while len(replies) < total and time.monotonic() - last_reply < 30:
            assert time.monotonic() - started < 300, f"{len(replies)} replies after 5 min"
            reply = json.loads(socket.recv(timeout=30))
            if "id" in reply:
                replies[reply["id"]] = reply
                last_reply = time.monotonic()
        ids = [r["result"] for r in replies.values() if "result" in r]
        refused = [r for r in replies.values() if "error" in r]
        assert len(ids) == rpc_server.MAX_SUBSCRIPTIONS and len(set(ids)) == len(ids)
        assert [r["error"]["code"] for r in refused] == [TOO_MANY_SUBSCRIPTIONS] * 2
        time.sleep(1.0)  # ~20 blocks: 20,000+ notifications offered to this socket
        assert "result" in call(socket, "chain_getHeader", [], request_id=99)
        assert call(socket, "chain_unsubscribeNewHeads", [ids[0]], request_id=98)["result"]
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300, f"peak memory grew {grown_mb:.0f} MB"


def test_the_chain_kept_producing_contiguous_blocks(chain):
    head = chain.head
    assert head > 20
    for number in range(1, head + 1):
        row = chain.block(number)
        assert row is not None, f"block {number} missing"
        assert row["parent_hash"] == chain.block_hash(number - 1)
    time.sleep(0.3)
    assert chain.head > head  # still producing
    assert PARSE_ERROR  # the codes are the spec's
