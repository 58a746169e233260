"""The JSON-RPC methods a Substrate node answers, over the served chain's :class:`Node`.

The set is what the bittensor SDK's transport (``bittensor/_transport``), ``btcli``
and general Substrate clients (``async-substrate-interface``, polkadot.js) call.
Each method checks its parameters and raises :class:`RpcError` with JSON-RPC's
codes (``-32602`` invalid params) or a node's (``1001`` bad extrinsic format,
``1010`` invalid transaction, ``4003`` client error with substrate's text). The
subscription methods live in ``rpc/server.py``: they need the connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from wmnet import __version__ as wmnet_version
from wmnet.localnet.errors import InvalidTransaction
from wmnet.localnet.keys import is_ss58
from wmnet.localnet.rpc.node import Node, UnknownBlock
from wmnet.localnet.rpc.runtime_calls import BadRuntimeParams, RuntimeCallError
from wmnet.localnet.scale import MAX_EXTRINSIC_BYTES, UndecodableExtrinsic

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL = (
    -32700, -32600, -32601, -32602, -32603)  # fmt: skip
# jsonrpsee's codes for a request over the size limit and too many subscriptions.
OVERSIZED_REQUEST, TOO_MANY_SUBSCRIPTIONS = -32007, -32006
# sc-rpc-api author errors, and the client error a failed state_call returns.
BAD_FORMAT, POOL_INVALID_TX, CLIENT_ERROR = 1001, 1010, 4003
# A state_getStorage batch or a page of keys is bounded as a node bounds it.
MAX_QUERY_KEYS = 1000
# impl-serde's Bytes: hex digits in pairs, the 0x prefix optional.
_HEX = re.compile(r"(0x)?([0-9a-fA-F]{2})*")
_POOL_TEXT = {
    "Stale": "Transaction is outdated",
    "Future": "Transaction will be valid in the future",
    "BadProof": "Transaction has a bad signature",
    "Payment": "Inability to pay some fees (e.g. account balance too low)",
    "AncientBirthBlock": "Transaction has an ancient birth block",
    "ExhaustsResources": "Transaction would exhaust the block limits",
    "Call": "Transaction call is not expected",
}


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            body["data"] = self.data
        return body


def invalid(why: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Invalid params: {why}")


def pool_error(error: InvalidTransaction | str) -> RpcError:
    """A pool refusal as a node words it: code 1010, substrate's text, our detail."""
    reason = error.reason if isinstance(error, InvalidTransaction) else str(error)
    if isinstance(error, UndecodableExtrinsic):
        return RpcError(BAD_FORMAT, "Extrinsic has invalid format", reason)
    match = re.match(r"Invalid Transaction: (\w+)(?: \((.*)\))?$", reason)
    if match and match.group(1) in _POOL_TEXT:
        text = _POOL_TEXT[match.group(1)]
        detail = f" ({match.group(2)})" if match.group(2) else ""
        return RpcError(POOL_INVALID_TX, "Invalid Transaction", text + detail)
    return RpcError(POOL_INVALID_TX, "Invalid Transaction", reason)


# --- parameter checks ----------------------------------------------------------------


def _params(params: Any, low: int, high: int) -> list[Any]:
    if params is None:
        params = []
    if isinstance(params, dict):
        raise invalid("positional parameters (a list) are expected")
    if not isinstance(params, list):
        raise invalid("params must be a list")
    if not low <= len(params) <= high:
        raise invalid(f"expected {low}..{high} parameters, got {len(params)}")
    return params + [None] * (high - len(params))


def hex_bytes(value: Any, what: str, limit: int = MAX_EXTRINSIC_BYTES * 2) -> bytes:
    if not isinstance(value, str) or len(value) > 2 + 2 * limit or not _HEX.fullmatch(value):
        raise invalid(f"{what} must be hex bytes (at most {limit})")
    return bytes.fromhex(value.removeprefix("0x"))


def block_hash_param(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise invalid("a block hash is 0x and 64 hex digits")
    return value.lower()


def block_number_param(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{1,16}", value):
        return int(value, 16)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32:
        return value
    raise invalid("a block number is an integer (or 0x-hex) in u32")


class Methods:
    def __init__(self, node: Node):
        self.node = node
        self.table: dict[str, Callable[[Any], Any]] = {
            "chain_getBlockHash": self.chain_get_block_hash,
            "chain_getHead": self.chain_get_block_hash,
            "chain_getFinalizedHead": lambda p: self._head_hash(_params(p, 0, 0)),
            "chain_getFinalisedHead": lambda p: self._head_hash(_params(p, 0, 0)),
            "chain_getHeader": self.chain_get_header,
            "chain_getBlock": self.chain_get_block,
            "chain_getRuntimeVersion": self.state_get_runtime_version,
            "state_getRuntimeVersion": self.state_get_runtime_version,
            "state_getMetadata": self.state_get_metadata,
            "state_call": self.state_call,
            "state_callAt": self.state_call,
            "state_getStorage": self.state_get_storage,
            "state_getStorageAt": self.state_get_storage,
            "state_getStorageHash": self.state_get_storage_hash,
            "state_getStorageSize": self.state_get_storage_size,
            "state_queryStorageAt": self.state_query_storage_at,
            "state_getKeysPaged": self.state_get_keys_paged,
            "state_getKeysPagedAt": self.state_get_keys_paged,
            "author_submitExtrinsic": self.author_submit_extrinsic,
            "author_pendingExtrinsics": lambda p: (_params(p, 0, 0), [])[1],
            "system_accountNextIndex": self.account_next_index,
            "account_nextIndex": self.account_next_index,
            "system_chain": lambda p: (_params(p, 0, 0), "wmnet local subtensor")[1],
            "system_name": lambda p: (_params(p, 0, 0), "wmnet-localnet")[1],
            "system_version": lambda p: (_params(p, 0, 0), wmnet_version)[1],
            "system_chainType": lambda p: (_params(p, 0, 0), "Development")[1],
            "system_properties": lambda p: (_params(p, 0, 0), _PROPERTIES)[1],
            "system_health": lambda p: (_params(p, 0, 0), _HEALTH)[1],
            "system_peers": lambda p: (_params(p, 0, 0), [])[1],
            "payment_queryInfo": self.payment_query_info,
        }

    def names(self) -> list[str]:
        return list(self.table)

    # --- chain ------------------------------------------------------------------

    def _head_hash(self, _params_: Any) -> str:
        return self.node.hash_of(self.node.head())

    def chain_get_block_hash(self, params: Any) -> str | None:
        (number,) = _params(params, 0, 1)
        if isinstance(number, list):  # a batch of numbers
            return [self._hash_or_none(block_number_param(n)) for n in number[:MAX_QUERY_KEYS]]
        return self._hash_or_none(block_number_param(number))

    def _hash_or_none(self, number: int | None) -> str | None:
        if number is None:
            return self.node.hash_of(self.node.head())
        return self.node.hash_of(number) if number <= self.node.head() else None

    def _number_or_none(self, block_hash: Any) -> int | None:
        try:
            return self.node.number_of(block_hash_param(block_hash))
        except UnknownBlock:
            return None

    def chain_get_header(self, params: Any) -> dict[str, Any] | None:
        (block_hash,) = _params(params, 0, 1)
        number = self._number_or_none(block_hash)
        return None if number is None else self.node.header(number)

    def chain_get_block(self, params: Any) -> dict[str, Any] | None:
        (block_hash,) = _params(params, 0, 1)
        number = self._number_or_none(block_hash)
        return None if number is None else self.node.block(number)

    # --- state ---------------------------------------------------------------------

    def _at(self, block_hash: Any) -> int:
        try:
            return self.node.at(block_hash_param(block_hash))
        except UnknownBlock as error:
            raise RpcError(CLIENT_ERROR, f"Client error: UnknownBlock: {error}") from error

    def state_get_runtime_version(self, params: Any) -> dict[str, Any]:
        (block_hash,) = _params(params, 0, 1)
        self._at(block_hash)
        return self.node.runtime_version()

    def state_get_metadata(self, params: Any) -> str:
        (block_hash,) = _params(params, 0, 1)
        self._at(block_hash)
        return "0x" + self.node.metadata_v14().hex()

    def state_call(self, params: Any) -> str:
        name, data, block_hash = _params(params, 2, 3)
        if not isinstance(name, str) or not 0 < len(name) <= 128:
            raise invalid("the runtime method name is a string such as Core_version")
        number = self._at(block_hash)
        raw = hex_bytes(data, "call data")
        try:
            return "0x" + self.node.runtime.call(name, raw, number).hex()
        except BadRuntimeParams as error:
            raise RpcError(CLIENT_ERROR, f"Client error: Execution failed: {error}") from error
        except RuntimeCallError as error:
            raise RpcError(CLIENT_ERROR, f"Client error: {error}") from error
        except UnknownBlock as error:
            raise RpcError(CLIENT_ERROR, f"Client error: UnknownBlock: {error}") from error
        except (KeyError, TypeError, ValueError) as error:  # the chain's answer for odd inputs
            raise RpcError(
                CLIENT_ERROR, f"Client error: Execution failed: {type(error).__name__}: {error}"
            ) from error

    def _storage(self, key: Any, number: int) -> bytes | None:
        raw = hex_bytes(key, "a storage key", limit=1024)
        try:
            return self.node.storage(raw, number)
        except UnknownBlock as error:
            raise RpcError(CLIENT_ERROR, f"Client error: UnknownBlock: {error}") from error
        except (KeyError, IndexError, TypeError, ValueError) as error:  # the key's values
            raise RpcError(
                CLIENT_ERROR, f"Client error: cannot read this key: {type(error).__name__}"
            ) from error

    def state_get_storage(self, params: Any) -> str | None:
        key, block_hash = _params(params, 1, 2)
        value = self._storage(key, self._at(block_hash))
        return None if value is None else "0x" + value.hex()

    def state_get_storage_hash(self, params: Any) -> str | None:
        import hashlib

        key, block_hash = _params(params, 1, 2)
        value = self._storage(key, self._at(block_hash))
        return None if value is None else "0x" + hashlib.blake2b(value, digest_size=32).hexdigest()

    def state_get_storage_size(self, params: Any) -> int | None:
        key, block_hash = _params(params, 1, 2)
        value = self._storage(key, self._at(block_hash))
        return None if value is None else len(value)

    def state_query_storage_at(self, params: Any) -> list[dict[str, Any]]:
        keys, block_hash = _params(params, 1, 2)
        if not isinstance(keys, list) or len(keys) > MAX_QUERY_KEYS:
            raise invalid(f"keys must be a list of at most {MAX_QUERY_KEYS}")
        number = self._at(block_hash)
        changes = []
        for key in keys:
            value = self._storage(key, number)
            changes.append([key, None if value is None else "0x" + value.hex()])
        return [{"block": self.node.hash_of(number), "changes": changes}]

    def state_get_keys_paged(self, params: Any) -> list[str]:
        prefix, count, start, block_hash = _params(params, 2, 4)
        raw_prefix = hex_bytes(prefix, "a key prefix", limit=1024)
        if isinstance(count, bool) or not isinstance(count, int) or not count >= 0:
            raise invalid("count must be a non-negative integer")
        if count > MAX_QUERY_KEYS:
            raise invalid(f"count exceeds the maximum of {MAX_QUERY_KEYS}")
        raw_start = None if start is None else hex_bytes(start, "a start key", limit=1024)
        number = self._at(block_hash)
        keys = self.node.keys(raw_prefix, count, raw_start, number)
        return ["0x" + k.hex() for k in keys]

    # --- author / system ------------------------------------------------------------------

    def decode_extrinsic(self, value: Any) -> Any:
        data = hex_bytes(value, "the extrinsic", limit=MAX_EXTRINSIC_BYTES * 2)
        try:
            return self.node.decode(data)
        except InvalidTransaction as error:
            raise pool_error(error) from error

    def author_submit_extrinsic(self, params: Any) -> str:
        (extrinsic,) = _params(params, 1, 1)
        xt = self.decode_extrinsic(extrinsic)
        receipt = self.node.submit(xt)
        if not receipt.included and receipt.error_message != "pending":
            raise pool_error(receipt.error_message or "refused")
        return xt.hash

    def account_next_index(self, params: Any) -> int:
        (address,) = _params(params, 1, 1)
        if not isinstance(address, str) or len(address) > 64 or not is_ss58(address):
            raise invalid("an ss58 address is expected")
        return self.node.next_index(address)

    def payment_query_info(self, params: Any) -> dict[str, Any]:
        extrinsic, block_hash = _params(params, 1, 2)
        data = hex_bytes(extrinsic, "the extrinsic")
        number = self._at(block_hash)
        try:
            raw = self.node.runtime.call(
                "TransactionPaymentApi_query_info", data + len(data).to_bytes(4, "little"), number
            )
        except RuntimeCallError as error:
            raise RpcError(CLIENT_ERROR, f"Client error: Execution failed: {error}") from error
        info = self.node.codec.codec.decode(
            self.node.runtime.apis["TransactionPaymentApi"]["query_info"]["output"], raw
        )
        return {
            "weight": {"refTime": 0, "proofSize": 0},
            "class": "normal",
            "partialFee": str(info["partial_fee"]),
        }


_PROPERTIES = {"ss58Format": 42, "tokenDecimals": 9, "tokenSymbol": "TAO"}
_HEALTH = {"peers": 0, "isSyncing": False, "shouldHavePeers": False}
