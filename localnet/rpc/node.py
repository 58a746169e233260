"""The served chain as a Substrate node sees it: headers, SCALE storage, runtime calls, pool.

One :class:`Node` wraps the one :class:`Chain` (the same state machine and block
producer the private HTTP API and in-process tests use) with what JSON-RPC
needs: block hashes and headers, extrinsics and events as SCALE bytes, storage
by raw key at any block the chain keeps, ``state_call`` runtime APIs, and the
transaction pool's front (decode, check, submit, watch). Its methods are
blocking (the chain's lock, SQLite): the server runs them in worker threads.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from wmnet.localnet import metadata as md
from wmnet.localnet.block import Receipt
from wmnet.localnet.chain import HISTORY_BLOCKS, Chain
from wmnet.localnet.codec import ScaleExtrinsic, SignedExtrinsic
from wmnet.localnet.errors import InvalidTransaction
from wmnet.localnet.replay import HistoryUnavailable
from wmnet.localnet.rpc.events import encode_events
from wmnet.localnet.rpc.runtime_calls import RuntimeCalls
from wmnet.localnet.rpc.shield import ShieldKey
from wmnet.localnet.rpc.storage import BlockView, StorageIndex
from wmnet.localnet.scale import chain_codec

ZERO_HASH = "0x" + "00" * 32
_CACHE_BLOCKS = 256


class UnknownBlock(LookupError):
    """A block hash this chain never produced, or one whose state it no longer keeps."""


class Node:
    def __init__(self, chain: Chain):
        self.chain = chain
        self.slot_ms = max(1, round(chain.block_time * 1000))
        self.codec = chain_codec(self.slot_ms)
        self.index = StorageIndex(self.codec)
        self.shield = ShieldKey.of_store(chain.store)
        self.runtime = RuntimeCalls(self)
        self._lock = threading.Lock()
        self._numbers: OrderedDict[str, int] = OrderedDict()
        self._extrinsics: OrderedDict[int, list[str]] = OrderedDict()
        self._events: OrderedDict[int, bytes] = OrderedDict()

    # --- blocks ------------------------------------------------------------------

    @property
    def genesis_hash(self) -> str:
        return self.chain.state.genesis_hash

    def head(self) -> int:
        return self.chain.head

    def hash_of(self, number: int) -> str:
        return self.chain.block_hash(number)

    def number_of(self, block_hash: str | None) -> int:
        """The block a hash names (the head for None); UnknownBlock otherwise."""
        if block_hash is None:
            return self.head()
        with self._lock:
            if block_hash in self._numbers:
                return self._numbers[block_hash]
        row = self.chain.block(None, block_hash)
        if row is None:
            raise UnknownBlock(f"Header was not found in the local chain: {block_hash}")
        number = int(row["number"])
        with self._lock:
            _put(self._numbers, block_hash, number, 4 * _CACHE_BLOCKS)
        return number

    def header(self, number: int) -> dict[str, Any] | None:
        row = self.chain.block(number, None)
        if row is None:
            return None
        extrinsics = self.block_extrinsics(number)
        root = hashlib.blake2b("".join(extrinsics).encode(), digest_size=32).hexdigest()
        state_root = hashlib.blake2b(f"state:{row['hash']}".encode(), digest_size=32).hexdigest()
        return {
            "parentHash": row["parent_hash"],
            "number": hex(number),
            "stateRoot": "0x" + state_root,
            "extrinsicsRoot": "0x" + root,
            "digest": {"logs": []},
        }

    def block(self, number: int) -> dict[str, Any] | None:
        header = self.header(number)
        if header is None:
            return None
        return {
            "block": {"header": header, "extrinsics": self.block_extrinsics(number)},
            "justifications": None,
        }

    def block_extrinsics(self, number: int) -> list[str]:
        """The block's extrinsics as 0x-hex SCALE: ``Timestamp.set``, then what it included."""
        with self._lock:
            if number in self._extrinsics:
                return self._extrinsics[number]
        row = self.chain.block(number, None)
        if row is None:
            return []
        out = ["0x" + self.codec.timestamp_inherent(int(row["timestamp_ms"])).hex()]
        if number > 0:
            for _, _, journal in self.chain.store.journal(number - 1, number):
                for xt in journal.extrinsics:
                    data = xt.data if isinstance(xt, ScaleExtrinsic) else self._as_scale(xt)
                    out.append("0x" + data.hex())
        with self._lock:
            _put(self._extrinsics, number, out, _CACHE_BLOCKS)
        return out

    def _as_scale(self, xt: SignedExtrinsic) -> bytes:
        try:
            return self.codec.signed_bytes(xt)
        except Exception:  # a JSON-API call the metadata does not declare (legacy setters)
            return b""

    def events(self, number: int) -> bytes:
        with self._lock:
            if number in self._events:
                return self._events[number]
        row = self.chain.block(number, None)
        data = encode_events(self.codec, list(row["events"]) if row else [])
        with self._lock:
            _put(self._events, number, data, _CACHE_BLOCKS)
        return data

    # --- state ---------------------------------------------------------------------

    def at(self, block_hash: str | None) -> int:
        """The block a read names, checked to be one whose state the chain keeps."""
        number = self.number_of(block_hash)
        if number < self.head() - HISTORY_BLOCKS:
            raise UnknownBlock(f"State already discarded for {block_hash}")
        return number

    def read_state(self, number: int, fn: Callable[..., Any]) -> Any:
        """``fn(state, block_view)`` on the state after block ``number``."""
        try:
            state = self.chain.state_at(number)
        except HistoryUnavailable as error:
            raise UnknownBlock(f"State already discarded for {self.hash_of(number)}") from error
        row = self.chain.block(number, None)
        view = BlockView(
            number=number,
            hash_of=self.hash_of,
            timestamp_ms=int(row["timestamp_ms"]) if row else 0,
            shield_key=self.shield.public,
        )
        if number == self.head():
            with self.chain.lock:
                return fn(state, view)
        return fn(state, view)

    def storage(self, key: bytes, number: int) -> bytes | None:
        if key[:32] == self._events_prefix():
            return self.events(number) if self.chain.block(number, None) else None
        return self.read_state(number, lambda state, view: self.index.read(key, state, view))

    def keys(self, prefix: bytes, count: int, start: bytes | None, number: int) -> list[bytes]:
        return self.read_state(
            number, lambda state, view: self.index.keys(prefix, count, start, state)
        )

    def _events_prefix(self) -> bytes:
        entry = self.codec.codec.storage_entry("System", "Events")
        return bytes(self.codec.codec.storage_key(entry, []))

    # --- the pool ------------------------------------------------------------------------

    def decode(self, data: bytes) -> ScaleExtrinsic:
        head = self.head()
        return self.codec.decode_extrinsic(
            data, genesis_hash=self.genesis_hash, head=head, block_hash=self.hash_of
        )

    def submit(self, xt: ScaleExtrinsic) -> Receipt:
        """Hand ``xt`` to the pool without waiting; a refusal comes back as the receipt."""
        if (xt.call.module, xt.call.function) == ("MevShield", "submit_encrypted"):
            self._unshield(xt)
        return self.chain.submit(xt, wait=False)

    def _unshield(self, carrier: ScaleExtrinsic) -> None:
        """Open a shielded carrier as its block author would and deposit the inner
        extrinsic; one that does not open or check is never released (as on a node)."""
        inner = self.shield.open(bytes(carrier.call.params.get("ciphertext") or b""))
        if inner is None:
            return
        try:
            self.chain.announce_shielded(self.decode(inner))
        except InvalidTransaction:
            return

    def next_index(self, address: str) -> int:
        return self.chain.next_nonce(address)

    def account_nonce(self, address: str, number: int) -> int:
        def read(state: Any, view: BlockView) -> int:
            account = state.find_account(address)
            return account.nonce if account else 0

        return int(self.read_state(number, read))

    def runtime_version(self) -> dict[str, Any]:
        from wmnet.localnet.metadata.extend import parse_runtime_version

        version = parse_runtime_version(self.runtime.version_bytes())
        return {
            "specName": version["spec_name"],
            "implName": version["impl_name"],
            "authoringVersion": version["authoring_version"],
            "specVersion": version["spec_version"],
            "implVersion": version["impl_version"],
            "apis": [["0x" + api.hex(), n] for api, n in version["apis"]],
            "transactionVersion": version["transaction_version"],
            "systemVersion": version["system_version"],
            "stateVersion": version["system_version"],
        }

    def metadata_v14(self) -> bytes:
        return md.metadata_v14(self.slot_ms)


def _put(cache: OrderedDict, key: Any, value: Any, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
