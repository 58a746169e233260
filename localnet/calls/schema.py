"""Call parameters, decoded with the types subtensor's runtime metadata gives them.

Parameter names and type names come from the SDK's generated call catalogue
(``bittensor/_generated/calls.py``, generated from subtensor's metadata), so a
call decodes here exactly when its SCALE encoding would decode on a node:
integers within their width (no bools, floats, NaN, non-ASCII digits or
5,000-digit strings), ss58 account ids, byte vectors within their bound,
every parameter present and no parameter the call does not declare.

Where the catalogue says ``Any`` or ``BoundedVec`` the bound is spelt out
below with its upstream source.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Any, Protocol

from bittensor._generated import calls as sdk_calls

from wmnet.localnet.codec import ComposedCall
from wmnet.localnet.errors import InvalidTransaction
from wmnet.localnet.keys import is_ss58

# A decimal string a SCALE encoder would turn into an integer: ASCII digits only.
_DECIMAL = re.compile(r"[0-9]{1,40}")
# subtensor's DefaultMaxAllowedUids ceiling: no weight vector is longer.
MAX_UIDS = 4096
# subtensor `MAX_CRV3_COMMIT_SIZE_BYTES` (pallets/subtensor/src/lib.rs).
MAX_COMMIT_BYTES = 5000
# The SDK's executor.py: "Runtime metadata bounds MevShield.submit_encrypted
# ciphertexts to 8192 bytes."
MAX_CIPHERTEXT_BYTES = 8192
# A neuron certificate is an algorithm byte and a public key; subtensor bounds it at 65.
MAX_CERTIFICATE_BYTES = 65
# Subnet identity fields are short strings; subtensor checks each against 256-1024 bytes.
MAX_IDENTITY_FIELD_BYTES = 1024
# Sudo.sudo(Sudo.sudo(...)) is legal but pointless; deeper nesting is refused.
MAX_CALL_DEPTH = 2


def refuse(name: str, why: str) -> InvalidTransaction:
    return InvalidTransaction(f"invalid call parameter: {name} {why}")


class ScaleType(Protocol):
    def decode(self, value: Any, name: str, depth: int) -> Any: ...


@dataclass(frozen=True)
class Integer:
    bits: int
    signed: bool = False

    def decode(self, value: Any, name: str, depth: int = 0) -> int:
        if isinstance(value, str) and _DECIMAL.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise refuse(name, f"must be an integer, got {type(value).__name__}")
        low = -(2 ** (self.bits - 1)) if self.signed else 0
        high = 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1
        if not low <= value <= high:
            kind = f"{'i' if self.signed else 'u'}{self.bits}"
            raise refuse(name, f"does not fit in {kind}")
        return value


@dataclass(frozen=True)
class Boolean:
    def decode(self, value: Any, name: str, depth: int = 0) -> bool:
        if not isinstance(value, bool):
            raise refuse(name, f"must be a bool, got {type(value).__name__}")
        return value


@dataclass(frozen=True)
class AccountId:
    multi_address: bool = False

    def decode(self, value: Any, name: str, depth: int = 0) -> str:
        if self.multi_address and isinstance(value, dict) and set(value) == {"Id"}:
            value = value["Id"]  # MultiAddress::Id
        if not isinstance(value, str) or len(value) > 64 or not is_ss58(value):
            raise refuse(name, "must be an ss58 address")
        return value


@dataclass(frozen=True)
class Bytes:
    max_len: int

    def decode(self, value: Any, name: str, depth: int = 0) -> bytes:
        if isinstance(value, str):
            text = value.removeprefix("0x")
            if len(text) > 2 * self.max_len or not re.fullmatch(r"[0-9a-fA-F]*", text):
                raise refuse(name, f"must be at most {self.max_len} hex-encoded bytes")
            value = bytes.fromhex(text) if len(text) % 2 == 0 else None
        elif isinstance(value, (list, tuple)) and len(value) <= self.max_len:
            value = bytes(Integer(8).decode(v, name) for v in value)
        if not isinstance(value, (bytes, bytearray)):
            raise refuse(name, "must be bytes")
        if len(value) > self.max_len:
            raise refuse(name, f"is longer than its bound of {self.max_len} bytes")
        return bytes(value)


@dataclass(frozen=True)
class Vec:
    inner: ScaleType
    max_len: int

    def decode(self, value: Any, name: str, depth: int = 0) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise refuse(name, "must be a list")
        if len(value) > self.max_len:
            raise refuse(name, f"is longer than its bound of {self.max_len}")
        return [self.inner.decode(v, name, depth) for v in value]


@dataclass(frozen=True)
class SubnetIdentity:
    """``Option<SubnetIdentityOfV3>``: None, or short text fields by name."""

    def decode(self, value: Any, name: str, depth: int = 0) -> dict[str, str] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or len(value) > 16:
            raise refuse(name, "must be a subnet identity (a map of short text fields)")
        out: dict[str, str] = {}
        for key, field in value.items():
            raw = field if isinstance(field, (bytes, bytearray)) else None
            if isinstance(field, str):
                raw = field.encode()
            if raw is None or len(raw) > MAX_IDENTITY_FIELD_BYTES:
                raise refuse(f"{name}.{key}", "must be text of at most 1024 bytes")
            out[str(key)] = raw.decode("utf-8", "replace")
        return out


@dataclass(frozen=True)
class RuntimeCall:
    def decode(self, value: Any, name: str, depth: int = 0) -> ComposedCall:
        if not isinstance(value, ComposedCall):
            raise refuse(name, "must be a composed call")
        if depth >= MAX_CALL_DEPTH:
            raise refuse(name, f"nests calls deeper than {MAX_CALL_DEPTH}")
        return decode_call(value, depth + 1)


U8, U16, U32, U64, U128 = (Integer(b) for b in (8, 16, 32, 64, 128))

# Type names of the SDK's catalogue -> decoders (subtensor's newtypes unwrapped:
# NetUid(u16), MechId(u8), TaoBalance/AlphaBalance(u64), PerU16(u16)).
TYPE_NAMES: dict[str, ScaleType] = {
    "u8": U8,
    "u16": U16,
    "u32": U32,
    "u64": U64,
    "u128": U128,
    "i16": Integer(16, signed=True),
    "bool": Boolean(),
    "NetUid": U16,
    "MechId": U8,
    "TaoBalance": U64,
    "AlphaBalance": U64,
    "PerU16": U16,
    "AccountId32": AccountId(),
    "MultiAddress": AccountId(multi_address=True),
    "RuntimeCall": RuntimeCall(),
}

# Parameters the catalogue types loosely ("Any", "BoundedVec"), by name.
PARAM_OVERRIDES: dict[str, ScaleType] = {
    "value": U64,  # Balances: Compact<Balance>, Balance = u64 on subtensor
    "dests": Vec(U16, MAX_UIDS),
    "weights": Vec(U16, MAX_UIDS),
    "commit": Bytes(MAX_COMMIT_BYTES),
    "ciphertext": Bytes(MAX_CIPHERTEXT_BYTES),
    "certificate": Bytes(MAX_CERTIFICATE_BYTES),
    "identity": SubnetIdentity(),
}

# Calls older clients still send that today's catalogue no longer lists.
LEGACY_SCHEMAS: dict[tuple[str, str], dict[str, ScaleType]] = {
    ("AdminUtils", "sudo_set_burn"): {"netuid": U16, "burn": U64},
    ("AdminUtils", "sudo_set_max_weight_limit"): {"netuid": U16, "max_weight_limit": U16},
    ("SubtensorModule", "commit_crv3_weights"): {
        "netuid": U16,
        "commit": Bytes(MAX_COMMIT_BYTES),
        "reveal_round": U64,
    },
}

SCHEMAS: dict[tuple[str, str], dict[str, ScaleType]] = {}


def schema_for(module: str, function: str) -> dict[str, ScaleType]:
    """The parameter decoders of ``module.function``, from the SDK's catalogue."""
    key = (module, function)
    if key in SCHEMAS:
        return SCHEMAS[key]
    if key in LEGACY_SCHEMAS:
        schema = LEGACY_SCHEMAS[key]
    else:
        builder = getattr(getattr(sdk_calls, module, None), function, None)
        if builder is None:
            raise LookupError(f"no call {module}.{function} in the SDK's call catalogue")
        schema = {}
        for name, param in inspect.signature(builder).parameters.items():
            decoder = PARAM_OVERRIDES.get(name) or TYPE_NAMES.get(str(param.annotation))
            if decoder is None:
                raise LookupError(f"no decoder for {module}.{function}({name}: {param.annotation})")
            schema[name] = decoder
    SCHEMAS[key] = schema
    return schema


def decode_call(call: ComposedCall, depth: int = 0) -> ComposedCall:
    """``call`` with every parameter decoded, or :class:`InvalidTransaction`."""
    try:
        schema = schema_for(call.module, call.function)
    except LookupError:
        raise InvalidTransaction(
            f"Invalid Transaction: the local chain does not implement {call.module}.{call.function}"
        ) from None
    if not isinstance(call.params, dict):
        raise InvalidTransaction("invalid call parameters: not a map of names to values")
    unknown = sorted(str(k) for k in call.params if k not in schema)
    if unknown:
        raise InvalidTransaction(
            f"invalid call parameters: {call.module}.{call.function} takes no {unknown[:3]}"
        )
    missing = [name for name in schema if name not in call.params]
    if missing:
        raise InvalidTransaction(
            f"invalid call parameters: {call.module}.{call.function} needs {missing}"
        )
    params = {name: schema[name].decode(call.params[name], name, depth) for name in schema}
    return ComposedCall(call.module, call.function, params)
