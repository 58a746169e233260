"""The served metadata and the chain agree; a drift on either side fails here.

- the recorded runtime round-trips through wmnet's V15 codec, byte for byte;
- every call the chain dispatches is declared with the same parameters and kinds of
  type (the private API's legacy calls, and only those, are not);
- every storage item and runtime API the chain answers is declared, and answers
  encode by the declared types on a chain that has done everything once;
- every event the chain emitted encodes (or is one of its documented private ones),
  and every error name the chain raises is declared.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import bittensor as bt
import pytest
from bittensor._transport.codec import RuntimeCodec

from tests.localnet.conftest import make_subnet, register_raw, wallet
from wmnet.localnet import metadata as md
from wmnet.localnet.calls import HANDLERS, load_all
from wmnet.localnet.calls.schema import (
    LEGACY_SCHEMAS,
    AccountId,
    Boolean,
    Bytes,
    Integer,
    RuntimeCall,
    SubnetIdentity,
    Vec,
    schema_for,
)
from wmnet.localnet.metadata import v15
from wmnet.localnet.rpc.events import PRIVATE_EVENTS, encode_events
from wmnet.localnet.rpc.storage import BLOCK_READERS, PRIVATE_STORAGE, BlockView, StorageIndex
from wmnet.localnet.runtime_api import RUNTIME
from wmnet.localnet.scale import chain_codec
from wmnet.localnet.storage import MAP_READERS, READERS

LOCALNET = Path(__file__).parents[2] / "localnet"
# sha256 of the served metadata at the default block time. Changing what extend.py
# adds changes it: update it and bump metadata.IMPL_VERSION together.
PINNED = ("343/1", "af017715dd46a1e4f7582152714e215913129468a6648ad76a0a80eca0454825")


@pytest.fixture(scope="module")
def codec():
    return chain_codec()


@pytest.fixture(scope="module")
def types(codec):
    return {t["id"]: t["type"] for t in codec.codec.registry_types()}


def test_the_recorded_runtime_round_trips_and_is_as_published():
    recorded = md.recorded()
    assert v15.encode(v15.decode(recorded)) == recorded
    text = (LOCALNET / "metadata" / md.BASE_FILE).read_bytes()
    digest = hashlib.sha256(text).hexdigest()
    assert digest in (LOCALNET / "metadata" / "README.md").read_text()


def test_the_served_metadata_loads_and_is_pinned():
    served = md.metadata_v15()
    codec = RuntimeCodec(served, spec_version=md.SPEC_VERSION, transaction_version=1)
    assert codec.is_v15 and codec.storage_entry("MevShield", "NextKey")
    assert RuntimeCodec(md.metadata_v14(), spec_version=343, transaction_version=1)
    version = codec.constant("System", "Version")
    assert (version["spec_version"], version["impl_name"]) == (md.SPEC_VERSION, md.IMPL_NAME)
    assert codec.constant("Aura", "SlotDuration") == md.DEFAULT_SLOT_MS
    pinned = f"{md.SPEC_VERSION}/{md.IMPL_VERSION}"
    assert (pinned, hashlib.sha256(served).hexdigest()) == PINNED, (
        "the served metadata changed: bump metadata.IMPL_VERSION and pin the new digest"
    )


# --- calls -------------------------------------------------------------------------


def _resolve(types, type_id: int) -> tuple[str, object]:
    """(kind, detail) of a metadata type, newtypes and compacts unwrapped."""
    ty = types[type_id]
    definition = ty["def"]
    path = ty.get("path") or []
    if path[-1:] == ["AccountId32"]:
        return "account", None
    if path[-1:] == ["MultiAddress"]:
        return "multiaddress", None
    if path[-1:] == ["RuntimeCall"]:
        return "call", None
    if path == ["Option"]:
        return "option", None
    if "compact" in definition:
        return _resolve(types, definition["compact"]["type"])
    if "primitive" in definition:
        return "primitive", definition["primitive"]
    if "sequence" in definition:
        return "sequence", _resolve(types, definition["sequence"]["type"])
    fields = definition.get("composite", {}).get("fields") or []
    if len(fields) == 1:
        return _resolve(types, fields[0]["type"])
    return "other", path


def _matches(decoder, kind: tuple[str, object]) -> bool:
    if isinstance(decoder, Integer):
        return kind == ("primitive", f"{'i' if decoder.signed else 'u'}{decoder.bits}")
    if isinstance(decoder, Boolean):
        return kind == ("primitive", "bool")
    if isinstance(decoder, AccountId):
        return kind[0] == ("multiaddress" if decoder.multi_address else "account")
    if isinstance(decoder, Bytes):
        return kind == ("sequence", ("primitive", "u8"))
    if isinstance(decoder, Vec):
        return kind[0] == "sequence" and _matches(decoder.inner, kind[1])
    if isinstance(decoder, RuntimeCall):
        return kind[0] == "call"
    if isinstance(decoder, SubnetIdentity):
        return kind[0] == "option"
    return False


def test_every_call_the_chain_dispatches_is_declared_alike(codec, types):
    load_all()
    pallets = {p.name: p for p in codec.codec.metadata_ir().pallets}
    raw = {p["name"]: p for p in v15.decode(codec.metadata)["pallets"]}
    undeclared = []
    for module, function in sorted(HANDLERS):
        call_enum = raw[module]["calls"]["ty"] if module in raw and raw[module]["calls"] else None
        variants = {v["name"]: v for v in types[call_enum]["def"]["variant"]["variants"]}
        variant = variants.get(function) if call_enum is not None else None
        if variant is None:
            undeclared.append((module, function))
            continue
        schema = schema_for(module, function)
        names = [f["name"] for f in variant["fields"]]
        assert names == list(schema), f"{module}.{function}: {names} vs {list(schema)}"
        for field in variant["fields"]:
            kind = _resolve(types, field["type"])
            assert _matches(schema[field["name"]], kind), (module, function, field["name"], kind)
        assert pallets[module]
    # Only the private API's legacy calls (older wmnet clients) are not subtensor's now.
    assert sorted(undeclared) == sorted(LEGACY_SCHEMAS)


# --- a chain that has done everything once -------------------------------------------


@pytest.fixture
async def busy(client, chain):
    """A subnet with an owner, a validator with stake and a permit, two miners with
    axons, weights, a timelocked commit, a transfer and a sudo setter: every handler's
    events, every storage item's non-default shape."""
    subnet = await make_subnet(client, chain)
    netuid = subnet.netuid
    validator = wallet("//Bob", "validator")
    assert (await client.execute(bt.BurnedRegister(netuid=netuid), validator)).success
    miners = [wallet("//Charlie", f"m{i}") for i in range(2)]
    for miner in miners:
        assert (await register_raw(client, netuid, miner)).success
        serve = bt.ServeAxon(netuid=netuid, ip="127.0.0.1", port=8091)
        assert (await client.execute(serve, miner)).success
    stake = bt.AddStake(netuid=netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_tao=100)
    assert (await client.execute(stake, validator)).success
    unstake = bt.RemoveStake(
        netuid=netuid, hotkey_ss58=validator.hotkey.ss58_address, amount_alpha=1
    )
    assert (await client.execute(unstake, validator)).success
    transfer = bt.Transfer(dest_ss58=wallet("//Dave").coldkey.ss58_address, amount_tao=1)
    assert (await client.execute(transfer, wallet("//Alice"))).success
    chain.advance(12)
    graph = await client.subnets.metagraph(netuid)
    uids = [graph.by_hotkey(m.hotkey.ss58_address).uid for m in miners]
    weights = bt.SetWeights(netuid=netuid, uids=uids, weights=[0.5, 0.5])
    assert (await client.execute(weights, validator)).success
    commit = bt.calls.SubtensorModule.commit_timelocked_mechanism_weights(
        netuid=netuid, mecid=0, commit=b"\x01" * 40, reveal_round=1, commit_reveal_version=4
    )
    await client.submit_call(commit, validator, signer="hotkey")  # refused or stored: events
    refused = await client.execute(bt.StartCall(netuid=netuid), subnet.owner)
    assert not refused.success
    chain.advance(24)
    return chain, netuid, validator, miners


def _sample_params(types, entry, chain, netuid, validator) -> list:
    """Keys for a point read: accounts from the busy chain, then netuid, then uid 0."""
    accounts = iter([validator.hotkey.ss58_address, validator.coldkey.ss58_address])
    numbers = iter([netuid, 0])
    params = []
    for type_string in entry.param_types:
        kind = _resolve(types, int(type_string.removeprefix("scale_info::")))
        params.append(next(accounts) if kind[0] == "account" else next(numbers))
    return params


async def test_every_storage_item_and_runtime_api_is_declared_and_encodes(busy, codec, types):
    chain, netuid, validator, _miners = busy
    index = StorageIndex(codec)
    state = chain.state
    view = BlockView(chain.head, chain.block_hash, 0, b"\x01" * 1184)
    served = set(READERS) | set(MAP_READERS) | set(BLOCK_READERS)
    undeclared = []
    for item in sorted(served):
        try:
            entry = codec.codec.storage_entry(*item)
        except Exception:  # not declared
            undeclared.append(item)
            continue
        params = _sample_params(types, entry, chain, netuid, validator)
        value = index.value(entry, params, state, view)
        if value is not None:
            index.encode_value(entry, value)  # raises on a shape the type does not take
    assert set(undeclared) <= set(PRIVATE_STORAGE), sorted(set(undeclared) - set(PRIVATE_STORAGE))
    # Every stored map entry the chain lists reads back and encodes.
    listed = index.keys(b"", 1000, None, state)
    assert len(listed) > 20
    for key in listed:
        assert index.read(key, state, view) is not None, key.hex()

    apis = codec.codec.runtime_api_map
    for api, method in sorted(RUNTIME):
        definition = apis.get(api, {}).get(method)
        assert definition is not None, f"{api}.{method} is not declared"
        args = _runtime_args(definition, netuid, validator)
        value = RUNTIME[(api, method)](state, args)
        from wmnet.localnet.rpc.storage import fit

        output = int(definition["output"].removeprefix("scale_info::"))
        codec.codec.encode(definition["output"], fit(types, output, value))


def _runtime_args(definition, netuid, validator) -> list:
    out = []
    for name, _type in definition["inputs"]:
        if "coldkey_accounts" in name:
            out.append([validator.coldkey.ss58_address])
        elif "coldkey" in name:
            out.append(validator.coldkey.ss58_address)
        elif "hotkey" in name:
            out.append(validator.hotkey.ss58_address)
        elif name == "netuids":
            out.append(None)
        else:
            out.append(netuid if name == "netuid" else 10**9)
    return out


async def test_every_event_the_chain_emitted_encodes(busy, codec):
    chain = busy[0]
    names = set()
    for number in range(chain.head + 1):
        events = chain.block(number)["events"]
        names |= {(e["event"]["module_id"], e["event"]["event_id"]) for e in events}
        decoded = codec.codec.decode(
            codec.codec.storage_entry("System", "Events").value_type,
            encode_events(codec, events),
        )
        public = [e for e in events if (e["event"]["module_id"], e["event"]["event_id"])
                  not in PRIVATE_EVENTS]  # fmt: skip
        assert len(decoded) == len(public)
    assert ("MevShield", "EncryptedSubmitted") in names and ("Sudo", "Sudid") in names
    raw = {p["name"]: p for p in v15.decode(codec.metadata)["pallets"]}
    types = {t["id"]: t["type"] for t in v15.decode(codec.metadata)["types"]}
    for pallet, event in PRIVATE_EVENTS:  # private events really are not subtensor's
        variants = types[raw[pallet]["event"]["ty"]]["def"]["variant"]["variants"]
        assert event not in {v["name"] for v in variants}


def test_every_error_the_chain_raises_is_declared(codec):
    raw = {p["name"]: p for p in v15.decode(codec.metadata)["pallets"]}
    types = {t["id"]: t["type"] for t in v15.decode(codec.metadata)["types"]}
    declared = {
        (pallet, v["name"])
        for pallet, p in raw.items()
        if p["error"]
        for v in types[p["error"]["ty"]]["def"]["variant"]["variants"]
    }
    source = "\n".join(p.read_text() for p in (LOCALNET / "calls").glob("*.py"))
    found = re.findall(r'DispatchError\(\s*"(\w+)"(?:,[^)]*?pallet="(\w+)")?', source)
    found += [(name, "") for name in re.findall(r'\.subnet\([^)]*?"(\w+)"', source)]
    raised = {(pallet or "SubtensorModule", name) for name, pallet in found}
    # BadOrigin and Other are DispatchError variants, not a pallet's errors.
    raised -= {(p, n) for p, n in raised if n in ("BadOrigin", "Other")}
    assert raised and raised <= declared, sorted(raised - declared)
