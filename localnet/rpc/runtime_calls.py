"""``state_call``: runtime APIs by the metadata's signatures, answered by the chain.

``Api_method`` names a method the metadata declares; its SCALE parameters are
decoded by the declared input types, the chain's answer
(``localnet/runtime_api.py``, subtensor's field names) is encoded by the
declared output type. A few APIs every Substrate runtime has are answered here:
``Core_version``, ``Metadata_*`` (V15 and V14), ``AccountNonceApi``, and
``TransactionPaymentApi_query_info`` (the chain's flat fee).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wmnet.localnet.block import fee_for
from wmnet.localnet.metadata import v15
from wmnet.localnet.rpc.storage import fit
from wmnet.localnet.runtime_api import RUNTIME

if TYPE_CHECKING:
    from wmnet.localnet.rpc.node import Node


class RuntimeCallError(Exception):
    """A runtime call that cannot be answered; ``message`` is what a node says."""


class BadRuntimeParams(RuntimeCallError):
    """Parameters that do not decode as the method's declared inputs."""


class RuntimeCalls:
    def __init__(self, node: Node):
        self.node = node
        self.codec = node.codec.codec
        self.types = node.index.types
        self.apis = self.codec.runtime_api_map
        self._version: bytes | None = None

    def version_bytes(self) -> bytes:
        """sp_version ``RuntimeVersion``: the metadata's ``System.Version`` constant."""
        if self._version is None:
            for pallet in v15.decode(self.node.codec.metadata)["pallets"]:
                for constant in pallet["constants"] if pallet["name"] == "System" else []:
                    if constant["name"] == "Version":
                        self._version = bytes(constant["value"])
        if self._version is None:
            raise RuntimeCallError("the metadata has no System.Version")
        return self._version

    def call(self, name: str, params: bytes, number: int) -> bytes:
        api, _, method = name.partition("_")
        builtin = {
            "Core_version": lambda: self.version_bytes(),
            "Metadata_metadata_at_version": lambda: self._metadata_at(params),
            "Metadata_metadata_versions": lambda: self.codec.encode("Vec<u32>", [14, 15]),
            "Metadata_metadata": lambda: _vec(self.node.metadata_v14()),
            "TransactionPaymentApi_query_info": lambda: self._query_info(params),
            "AccountNonceApi_account_nonce": lambda: self._account_nonce(params, number),
        }.get(name)
        if builtin is not None:
            return builtin()
        definition = self.apis.get(api, {}).get(method)
        if definition is None:
            raise RuntimeCallError(f"Execution failed: Other: Exported method {name} is not found")
        fn = RUNTIME.get((api, method))
        if fn is None:
            raise RuntimeCallError(
                f"Execution failed: wmnet's local chain does not implement {api}.{method}"
            )
        args = self._decode_inputs(definition["inputs"], params)
        value = self.node.read_state(number, lambda state, view: fn(state, args))
        output = _type_id(definition["output"])
        return self.codec.encode(definition["output"], fit(self.types, output, value))

    def _decode_inputs(self, inputs: list[tuple[str, str]], params: bytes) -> list[Any]:
        if not inputs:
            if params:
                raise BadRuntimeParams(f"{len(params)} bytes of parameters for a method with none")
            return []
        types = [t for _, t in inputs]
        try:
            if len(types) == 1:
                return [self.codec.decode(types[0], params)]
            return list(self.codec.decode(f"({', '.join(types)})", params))
        except Exception as error:  # bytes that are not the declared inputs
            raise BadRuntimeParams(f"parameters do not decode: {error}") from error

    def _metadata_at(self, params: bytes) -> bytes:
        (version,) = self._decode_inputs([("version", "u32")], params)
        if version == 15:
            return v15.opaque(self.node.codec.metadata)
        if version == 14:
            return v15.opaque(self.node.metadata_v14())
        return b"\x00"

    def _account_nonce(self, params: bytes, number: int) -> bytes:
        (account,) = self._decode_inputs([("account", "scale_info::0")], params)
        return self.codec.encode("u32", self.node.account_nonce(str(account), number))

    def _query_info(self, params: bytes) -> bytes:
        """RuntimeDispatchInfo for an extrinsic (its signature is not checked: fee quotes
        are signed with a dummy signature, as on a node)."""
        if len(params) < 5:
            raise BadRuntimeParams("query_info takes an extrinsic and its length")
        try:
            decoded = self.codec.decode_extrinsic(params[:-4])
            call = self.node.codec._call(decoded["call"])
        except Exception as error:  # not an extrinsic of this runtime
            raise BadRuntimeParams(f"the extrinsic does not decode: {error}") from error
        fee = fee_for(call) + int(decoded.get("tip") or 0)
        return encode_dispatch_info(self, fee)


def encode_dispatch_info(calls: RuntimeCalls, fee: int) -> bytes:
    definition = calls.apis["TransactionPaymentApi"]["query_info"]
    value = {"weight": {"ref_time": 0, "proof_size": 0}, "class": "Normal", "partial_fee": fee}
    return calls.codec.encode(definition["output"], value)


def _type_id(type_string: str) -> int:
    return int(type_string.removeprefix("scale_info::"))


def _vec(data: bytes) -> bytes:
    return v15.encode_compact(len(data)) + data
