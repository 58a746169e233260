"""Raw storage keys to the chain's storage readers and back, values SCALE-encoded.

A key is ``twox128(pallet prefix) ++ twox128(item) ++ hasher(key)…`` as the
metadata declares each item (``StorageIndex`` maps the 32-byte prefix back to
the item); the map keys are recovered from the ``*Concat``/``Identity`` hashers
and the key is rebuilt and compared, so a forged key reads nothing. Values come
from ``localnet/storage.py``'s readers (subtensor's names) and are encoded by
the declared value type (``fit``: a reader's plain value, shaped field by field
to the type). Items the metadata declares that the chain does not model read as
absent (null), as never-written storage does on a node: the client then decodes
the item's declared default.

A few items live in blocks rather than in the state: ``Timestamp.Now``,
``System.BlockHash``, ``System.ParentHash`` (and ``System.Events``, which the
node answers from the block's events, ``rpc/events.py``); and
``MevShield.NextKey``/``CurrentKey`` are the served chain's ML-KEM key
(``rpc/shield.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bittensor._transport.codec import StorageEntry

from wmnet.localnet.scale import ChainCodec
from wmnet.localnet.state import ChainState
from wmnet.localnet.storage import MAP_READERS, READERS

# The most keys one state_getKeysPaged page returns (a node caps it at 1,000).
MAX_KEYS_PAGE = 1000
_HASH_BYTES = {"Identity": 0, "Twox64Concat": 8, "Blake2_128Concat": 16}

# Item readers that need the block, not the state: (state, params, block) -> value.
BlockReader = Callable[[ChainState, list[Any], "BlockView"], Any]


@dataclass
class BlockView:
    """What a read at one block may need besides its state."""

    number: int
    hash_of: Callable[[int], str]
    timestamp_ms: int
    shield_key: bytes


BLOCK_READERS: dict[tuple[str, str], BlockReader] = {
    ("System", "Number"): lambda st, p, b: b.number,
    ("System", "BlockHash"): lambda st, p, b: b.hash_of(p[0]) if p[0] <= b.number else None,
    ("System", "ParentHash"): lambda st, p, b: b.hash_of(max(b.number - 1, 0)),
    ("Timestamp", "Now"): lambda st, p, b: b.timestamp_ms,
    ("MevShield", "NextKey"): lambda st, p, b: b.shield_key,
    ("MevShield", "CurrentKey"): lambda st, p, b: b.shield_key,
}


# Readers the chain has for its private API that JSON-RPC does not serve: names no
# subtensor runtime declares (its own hyperparameter keys), or a subtensor name the
# chain reads with other keys. What they hold is served under subtensor's own names.
PRIVATE_STORAGE: dict[tuple[str, str], str] = {
    ("SubtensorModule", "MinChildkeyTake"): "per subnet here; subtensor's is one global value",
    ("SubtensorModule", "AlphaHigh"): "subtensor's AlphaValues (low, high)",
    ("SubtensorModule", "AlphaLow"): "subtensor's AlphaValues (low, high)",
    ("SubtensorModule", "OwnerImmuneNeuronLimit"): "subtensor's ImmuneOwnerUidsLimit",
    ("SubtensorModule", "PendingEmission"): "subtensor's PendingServerEmission",
}

# Items whose reader answers in the chain's own units where subtensor stores another
# representation: adapted on the way out, for JSON-RPC only.
SCALE_ADAPTERS: dict[tuple[str, str], Callable[[Any], Any]] = {
    # subtensor keeps a staker's *shares* of the hotkey's alpha pool as U64F64; this
    # chain never dilutes a pool, so shares equal alpha rao one for one.
    ("SubtensorModule", "Alpha"): lambda rao: {"bits": int(rao) << 64},
}


class StorageIndex:
    def __init__(self, chain: ChainCodec):
        self.chain = chain
        self.codec = chain.codec
        self.types = {t["id"]: t["type"] for t in self.codec.registry_types()}
        self.entries: dict[bytes, StorageEntry] = {}
        for pallet in self.codec.metadata_ir().pallets:
            for item in pallet.storage:
                entry = self.codec.storage_entry(pallet.name, item.name)
                self.entries[bytes(self.codec.storage_key(entry, []))[:32]] = entry

    # --- reads -----------------------------------------------------------------

    def read(self, key: bytes, state: ChainState, block: BlockView) -> bytes | None:
        """The SCALE value at ``key``, or None where nothing is stored."""
        found = self.resolve(key)
        if found is None:
            return None
        entry, params = found
        value = self.value(entry, params, state, block)
        return None if value is None else self.encode_value(entry, value)

    def resolve(self, key: bytes) -> tuple[StorageEntry, list[Any]] | None:
        """(item, its map keys) of a full storage key, or None for no such item or key."""
        entry = self.entries.get(key[:32])
        if entry is None:
            return None
        if not entry.param_types:
            return (entry, []) if len(key) == 32 else None
        if any(h not in _HASH_BYTES for h in entry.param_hashers):
            return None  # hashed-only keys cannot be read back; the chain has none
        try:
            params = list(self.codec.decode_storage_key_params(entry, key, fixed=0))
            if bytes(self.codec.storage_key(entry, params)) != key:
                return None
        except Exception:  # a key that does not decode is a key nothing is stored at
            return None
        return entry, params

    def value(
        self, entry: StorageEntry, params: list[Any], state: ChainState, block: BlockView
    ) -> Any:
        item = (entry.pallet, entry.name)
        if item in PRIVATE_STORAGE:
            return None
        if item in BLOCK_READERS:
            return BLOCK_READERS[item](state, params, block)
        reader = READERS.get(item)
        if reader is not None:
            return reader(state, list(params))
        map_reader = MAP_READERS.get(item)
        if map_reader is not None and params:  # a map the chain lists but does not point-read
            *fixed, last = params
            for key, value in self._rows(entry, map_reader, state, list(fixed)):
                if key == [*fixed, last]:
                    return value
        return None

    def encode_value(self, entry: StorageEntry, value: Any) -> bytes:
        adapt = SCALE_ADAPTERS.get((entry.pallet, entry.name))
        if adapt is not None:
            value = adapt(value)
        shaped = fit(self.types, _type_id(entry.value_type), value)
        return self.codec.encode(entry.value_type, shaped)

    # --- key listing ---------------------------------------------------------------

    def keys(
        self, prefix: bytes, count: int, start: bytes | None, state: ChainState
    ) -> list[bytes]:
        """Up to ``count`` stored keys under ``prefix``, in order, after ``start``."""
        found: list[bytes] = []
        for item_prefix, entry in self.entries.items():
            if not (item_prefix.startswith(prefix[:32]) or prefix[:32].startswith(item_prefix)):
                continue
            for key in self._stored_keys(entry, prefix, state):
                if key.startswith(prefix) and (start is None or key > start):
                    found.append(key)
        found.sort()
        return found[: min(count, MAX_KEYS_PAGE)]

    def _stored_keys(self, entry: StorageEntry, prefix: bytes, state: ChainState) -> list[bytes]:
        item = (entry.pallet, entry.name)
        if item in PRIVATE_STORAGE:
            return []
        if not entry.param_types:
            reader = READERS.get(item)
            if reader is not None and reader(state, []) is not None:
                return [bytes(self.codec.storage_key(entry, []))]
            return []
        map_reader = MAP_READERS.get(item)
        if map_reader is None:
            return []
        fixed = self._fixed_params(entry, prefix[32:])
        return [
            bytes(self.codec.storage_key(entry, params))
            for params, _value in self._rows(entry, map_reader, state, fixed)
        ]

    def _rows(
        self, entry: StorageEntry, map_reader: Any, state: ChainState, fixed: list[Any]
    ) -> list[tuple[list[Any], Any]]:
        """(full map keys, value) of every stored entry whose keys start with ``fixed``."""
        arity = len(entry.param_types)
        if arity == 1 or fixed:
            rows = map_reader(state, fixed[:1] if arity > 1 else [])
            heads = [fixed[:1] if arity > 1 else []]
        else:  # a double map listed whole: each first key the state knows
            heads = [[first] for first in self._first_keys(entry, state)]
            rows = None
        out: list[tuple[list[Any], Any]] = []
        for head in heads:
            for key, value in rows if rows is not None else map_reader(state, head):
                rest = list(key) if isinstance(key, (list, tuple)) and arity - 1 > 1 else [key]
                params = [*head, *rest] if arity > 1 else rest
                if params[: len(fixed)] == fixed:
                    out.append((params, value))
        return out

    def _first_keys(self, entry: StorageEntry, state: ChainState) -> list[Any]:
        """A double map's possible first keys: the accounts the chain knows, or its subnets."""
        first = self.types[_type_id(entry.param_types[0])]
        if (first.get("path") or [])[-1:] == ["AccountId32"]:
            accounts = set(state.hotkey_owner) | set(state.accounts)
            accounts |= {key.split("|")[0] for key in state.stakes}
            return sorted(accounts)
        return sorted(state.subnets)

    def _fixed_params(self, entry: StorageEntry, rest: bytes) -> list[Any]:
        """The map keys spelt out in a key prefix (after its 32-byte item prefix)."""
        fixed: list[Any] = []
        for hasher, type_string in zip(entry.param_hashers, entry.param_types, strict=True):
            skip = _HASH_BYTES.get(hasher)
            if skip is None or len(rest) <= skip:
                break
            rest = rest[skip:]
            try:
                value = self.codec.decode(type_string, rest, strict=False)
                used = len(self.codec.encode(type_string, value))
            except Exception:  # a partial key: list the whole item and filter
                break
            fixed.append(value)
            rest = rest[used:]
        return fixed


def _type_id(type_string: str) -> int:
    return int(type_string.removeprefix("scale_info::"))


def fit(types: dict[int, Any], type_id: int, value: Any) -> Any:
    """``value`` shaped for the encoder as type ``type_id``: struct fields picked by
    name (a reader's extra keys dropped, a missing one an error), newtypes unwrapped."""
    ty = types[type_id]
    definition = ty["def"]
    if (ty.get("path") or [])[-1:] == ["BTreeMap"]:
        key_type, value_type = (p["type"] for p in ty["params"])
        return {fit(types, key_type, k): fit(types, value_type, v) for k, v in value.items()}
    if "composite" in definition:
        fields = definition["composite"].get("fields") or []
        if len(fields) == 1 and not fields[0].get("name"):
            return fit(types, fields[0]["type"], value)  # a newtype: NetUid(u16), ...
        if fields and fields[0].get("name"):
            if not isinstance(value, dict):
                name = "::".join(ty.get("path") or [])
                raise TypeError(f"{name} needs a map, got {type(value).__name__}")
            missing = [f["name"] for f in fields if f["name"] not in value]
            if missing:
                raise KeyError(f"{'::'.join(ty.get('path') or [])} needs {missing}")
            return {f["name"]: fit(types, f["type"], value[f["name"]]) for f in fields}
        return value
    if "variant" in definition and ty.get("path") == ["Option"]:
        if value is None:
            return None
        inner = definition["variant"]["variants"][1]["fields"][0]["type"]
        return fit(types, inner, value)
    if "sequence" in definition or "array" in definition:
        inner = (definition.get("sequence") or definition.get("array"))["type"]
        if isinstance(value, (bytes, bytearray, str)):
            return value  # byte vectors as bytes / 0x-hex
        return [fit(types, inner, v) for v in value]
    if "tuple" in definition:
        return [fit(types, t, v) for t, v in zip(definition["tuple"], value, strict=True)]
    if "compact" in definition:
        return fit(types, definition["compact"]["type"], value)
    return value
