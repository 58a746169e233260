"""The chain operations a ``Substrate`` needs, over an in-process :class:`Chain`.

``HttpBackend`` (localnet/remote.py) offers the same methods over the
loopback server, so :class:`localnet.substrate.LocalnetSubstrate` works the
same whether the chain lives in this process or another.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from wmnet.localnet.chain import Chain, Receipt
from wmnet.localnet.codec import SignedExtrinsic
from wmnet.localnet.runtime_api import RUNTIME
from wmnet.localnet.storage import MAP_READERS, READERS


class UnknownItem(LookupError):
    """The local chain does not model this storage item, runtime API or constant."""


class ChainBackend(Protocol):
    block_time: float

    def genesis_hash(self) -> str: ...
    def head(self) -> int: ...
    def block_hash(self, number: int) -> str: ...
    def block(self, number: int | None = None, block_hash: str | None = None) -> dict | None: ...
    def query(self, module: str, item: str, params: list[Any], at: int | None) -> Any: ...
    def query_map(
        self, module: str, item: str, params: list[Any], at: int | None
    ) -> list[tuple[Any, Any]]: ...
    def runtime_call(self, api: str, method: str, params: Any, at: int | None) -> Any: ...
    def next_nonce(self, address: str) -> int: ...
    def submit(self, xt: SignedExtrinsic, wait: bool) -> Receipt: ...
    def announce_shielded(self, xt: SignedExtrinsic) -> None: ...
    def epoch_history(self, netuid: int, since_block: int) -> list[dict[str, Any]]: ...
    def advance(self, blocks: int) -> int: ...


class InProcessBackend:
    def __init__(self, chain: Chain):
        self.chain = chain
        self.block_time = chain.block_time

    def genesis_hash(self) -> str:
        return self.chain.state.genesis_hash

    def head(self) -> int:
        return self.chain.head

    def block_hash(self, number: int) -> str:
        return self.chain.block_hash(number)

    def block(self, number: int | None = None, block_hash: str | None = None) -> dict | None:
        row = self.chain.block(number, block_hash)
        return None if row is None else dict(row)

    def _read(self, fn: Any, params: Any, at: int | None) -> Any:
        """Run a reader on the state at ``at`` (head when None), copying its answer out."""
        state = self.chain.state_at(at)
        with self.chain.lock:
            return copy.deepcopy(fn(state, params))

    def query(self, module: str, item: str, params: list[Any], at: int | None = None) -> Any:
        reader = READERS.get((module, item))
        if reader is None:
            raise UnknownItem(f"the local chain does not model storage item {module}.{item}")
        return self._read(reader, list(params), at)

    def query_map(
        self, module: str, item: str, params: list[Any], at: int | None = None
    ) -> list[tuple[Any, Any]]:
        reader = MAP_READERS.get((module, item))
        if reader is None:
            raise UnknownItem(f"the local chain does not model storage map {module}.{item}")
        return self._read(reader, list(params), at)

    def runtime_call(self, api: str, method: str, params: Any, at: int | None = None) -> Any:
        fn = RUNTIME.get((api, method))
        if fn is None:
            raise UnknownItem(f"the local chain does not model runtime API {api}.{method}")
        return self._read(fn, params, at)

    def next_nonce(self, address: str) -> int:
        return self.chain.next_nonce(address)

    def submit(self, xt: SignedExtrinsic, wait: bool = True) -> Receipt:
        return self.chain.submit(xt, wait=wait)

    def announce_shielded(self, xt: SignedExtrinsic) -> None:
        self.chain.announce_shielded(xt)

    def epoch_history(self, netuid: int, since_block: int = 0) -> list[dict[str, Any]]:
        return self.chain.epoch_history(netuid, since_block)

    def advance(self, blocks: int) -> int:
        return self.chain.advance(blocks)
