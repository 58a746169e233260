"""The JSON-RPC surface itself: HTTP POST beside WebSocket, the method set the SDK's
transport uses, errors by JSON-RPC's codes, metadata in both versions, past blocks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import bittensor
import httpx
import pytest
from bittensor._transport.codec import RuntimeCodec

from tests.localnet.helpers import transfer
from tests.localnet.served_thread import served_rpc
from wmnet.localnet import metadata as md
from wmnet.localnet.chain import Chain
from wmnet.localnet.keys import dev_keypair
from wmnet.localnet.metadata import v15
from wmnet.localnet.rpc.methods import INVALID_PARAMS, METHOD_NOT_FOUND


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    chain = Chain()  # manual clock: blocks only when asked
    yield chain
    chain.close()


@pytest.fixture(scope="module")
def http(chain: Chain) -> Iterator[str]:
    with served_rpc(chain) as url:
        yield "http://" + url.removeprefix("ws://") + "/"


def rpc(url: str, method: str, *params) -> dict:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    return httpx.post(url, json=body, timeout=30).json()


def test_every_method_the_sdk_transport_calls_is_served(http):
    source = "\n".join(
        p.read_text() for p in Path(bittensor.__file__).parent.glob("_transport/*.py")
    )
    used = set(re.findall(r'"((?:chain|state|author|account|system)_[A-Za-z]+)"', source))
    used |= {"chain_subscribeNewHeads", "chain_unsubscribeNewHeads"}  # built by f-string there
    used |= {"chain_subscribeFinalizedHeads", "chain_unsubscribeFinalizedHeads"}
    served = set(rpc(http, "rpc_methods")["result"]["methods"])
    assert used <= served, sorted(used - served)


def test_http_post_answers_singles_batches_and_errors(http, chain):
    assert rpc(http, "chain_getBlockHash", 0)["result"] == chain.block_hash(0)
    assert rpc(http, "chain_getBlockHash", chain.head + 5)["result"] is None
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "system_chain", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "nope", "params": []},
        {"jsonrpc": "2.0", "method": "system_chain", "params": []},  # a notification
    ]
    replies = httpx.post(http, json=batch, timeout=30).json()
    assert [r["id"] for r in replies] == [1, 2]
    assert replies[0]["result"] == "wmnet local subtensor"
    assert replies[1]["error"]["code"] == METHOD_NOT_FOUND
    assert rpc(http, "chain_subscribeNewHeads")["error"]["code"] == METHOD_NOT_FOUND
    assert rpc(http, "state_getStorage", "0xzz")["error"]["code"] == INVALID_PARAMS
    assert rpc(http, "system_accountNextIndex", "nobody")["error"]["code"] == INVALID_PARAMS
    unknown = rpc(http, "state_call", "NoSuchApi_nothing", "0x")["error"]
    assert "Exported method NoSuchApi_nothing is not found" in unknown["message"]
    assert rpc(http, "system_properties")["result"]["tokenSymbol"] == "TAO"


def test_metadata_in_both_versions_and_the_runtime_version(http):
    at = lambda v: rpc(http, "state_call", "Metadata_metadata_at_version", v)["result"]  # noqa: E731
    served = v15.strip_opaque(bytes.fromhex(at("0x0f000000")[2:]))
    assert served == md.metadata_v15()
    assert v15.strip_opaque(bytes.fromhex(at("0x0e000000")[2:]))[4] == 14
    assert at("0x10000000") == "0x00"  # no V16: None, as a node answers
    legacy = bytes.fromhex(rpc(http, "state_getMetadata")["result"][2:])
    assert RuntimeCodec(legacy, spec_version=343, transaction_version=1).storage_entry(
        "SubtensorModule", "Tempo"
    )
    version = rpc(http, "state_getRuntimeVersion")["result"]
    assert (version["specName"], version["specVersion"]) == ("node-subtensor", 343)
    assert version["implName"] == "wmnet-localnet" and version["transactionVersion"] == 1


def test_storage_at_a_past_block_and_its_events(http, chain):
    codec = RuntimeCodec(md.metadata_v15(), spec_version=343, transaction_version=1)
    bob = dev_keypair("//Bob").ss58_address
    entry = codec.storage_entry("System", "Account")
    key = "0x" + codec.storage_key(entry, [bob]).hex()
    before_block = chain.block_hash(chain.head)
    assert chain.submit(transfer(chain)).success  # a transfer to Bob, sealed now
    now = codec.decode(
        entry.value_type, bytes.fromhex(rpc(http, "state_getStorage", key)["result"][2:])
    )
    then_hex = rpc(http, "state_getStorage", key, before_block)["result"]
    then = codec.decode(entry.value_type, bytes.fromhex(then_hex[2:]))
    assert now["data"]["free"] > then["data"]["free"]
    prefix = (
        "0x" + codec.storage_key(codec.storage_entry("SubtensorModule", "NetworksAdded"), []).hex()
    )
    assert rpc(http, "state_getKeysPaged", prefix, 10)["result"] == []  # no subnet yet
    events = rpc(http, "state_getStorage", "0x" + codec.storage_key(
        codec.storage_entry("System", "Events"), []).hex())["result"]  # fmt: skip
    names = [e["event_id"] for e in codec.decode(
        codec.storage_entry("System", "Events").value_type, bytes.fromhex(events[2:]))]  # fmt: skip
    assert "Transfer" in names and "ExtrinsicSuccess" in names


def test_a_block_from_either_front_door_decodes(http, chain):
    """The private API's JSON-signed extrinsics appear in chain_getBlock as SCALE."""
    assert chain.submit(transfer(chain)).success
    block = rpc(http, "chain_getBlock", chain.block_hash(chain.head))["result"]["block"]
    assert int(block["header"]["number"], 16) == chain.head
    assert block["header"]["parentHash"] == chain.block_hash(chain.head - 1)
    codec = RuntimeCodec(md.metadata_v15(), spec_version=343, transaction_version=1)
    calls = [codec.decode_extrinsic(x)["call"] for x in block["extrinsics"]]
    assert [(c["call_module"], c["call_function"]) for c in calls] == [
        ("Timestamp", "set"),
        ("Balances", "transfer_keep_alive"),
    ]


def test_fee_quotes_name_the_chain_fee(http, chain):
    codec = RuntimeCodec(md.metadata_v15(), spec_version=343, transaction_version=1)
    alice = dev_keypair("//Alice")
    call = codec.compose_call(
        "Balances", "transfer_keep_alive", {"dest": dev_keypair("//Bob").ss58_address, "value": 1}
    )
    data, _ = codec.encode_signed_extrinsic(
        call, public_key=alice.public_key, signature=b"\x00" * 64, signature_version=1,
        era="00", nonce=0, tip=5, tip_asset_id=None,
    )  # fmt: skip
    quote = rpc(http, "payment_queryInfo", "0x" + data.hex())["result"]
    assert quote["partialFee"] == str(125_000 + 5)  # the flat fee plus the tip
    weights = codec.compose_call("SubtensorModule", "set_mechanism_weights", {
        "netuid": 1, "mecid": 0, "dests": [0], "weights": [1], "version_key": 0})  # fmt: skip
    free, _ = codec.encode_signed_extrinsic(
        weights, public_key=alice.public_key, signature=b"\x00" * 64, signature_version=1,
        era="00", nonce=0, tip=0, tip_asset_id=None,
    )  # fmt: skip
    assert rpc(http, "payment_queryInfo", "0x" + free.hex())["result"]["partialFee"] == "0"
