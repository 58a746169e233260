"""SCALE codec for runtime metadata V15 itself (and its V14 down-conversion).

``bittensor_core`` and ``bt-decode`` decode metadata but cannot write it, and
``scalecodec`` 1.2.12 stops at V14, so extending a recorded V15 needs an
encoder. The format is frame-metadata's ``RuntimeMetadataV15``
(paritytech/frame-metadata, ``v15.rs``; type registry from scale-info's
``PortableRegistry``): the magic ``meta``, a version byte, then

- ``types``: ``Vec<PortableType>``, each ``{id: Compact<u32>, ty: Type}``;
- ``pallets``: ``Vec<PalletMetadata>`` (storage, calls, event, constants,
  error, index, docs);
- ``extrinsic``: version, address/call/signature/extra type ids, signed
  extensions;
- ``ty``: the runtime type id; ``apis``: runtime API traits and methods;
- ``outer_enums``: call, event and error enum type ids; ``custom``: a map.

A schema below describes each of those structures once; :func:`decode` turns
bytes into plain dicts and lists and :func:`encode` turns them back, byte for
byte (``tests/localnet/test_metadata.py`` round-trips the recorded runtime).
"""

from __future__ import annotations

from typing import Any

MAGIC = b"meta"
V14, V15 = 14, 15

# --- the schema language ----------------------------------------------------
# "str" | "u8" | "u32" | "compact" | "bytes" | ("vec", S) | ("option", S)
# | ("struct", [(name, S), ...]) | ("enum", [(name, S | None), ...]) (index = position)
# | ("map", K, V) (a BTreeMap: a Vec of pairs)

Schema = Any

DOCS = ("vec", "str")
FIELD = ("struct", [("name", ("option", "str")), ("ty", "compact"),
                    ("type_name", ("option", "str")), ("docs", DOCS)])  # fmt: skip
VARIANT = ("struct", [("name", "str"), ("fields", ("vec", FIELD)), ("index", "u8"),
                      ("docs", DOCS)])  # fmt: skip
PRIMITIVE = ("enum", [(n, None) for n in (
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "u256",
    "i8", "i16", "i32", "i64", "i128", "i256")])  # fmt: skip
TYPE_DEF = ("enum", [
    ("composite", ("struct", [("fields", ("vec", FIELD))])),
    ("variant", ("struct", [("variants", ("vec", VARIANT))])),
    ("sequence", ("struct", [("type", "compact")])),
    ("array", ("struct", [("len", "u32"), ("type", "compact")])),
    ("tuple", ("vec", "compact")),
    ("primitive", PRIMITIVE),
    ("compact", ("struct", [("type", "compact")])),
    ("bitsequence", ("struct", [("store", "compact"), ("order", "compact")])),
])  # fmt: skip
TYPE = ("struct", [
    ("path", ("vec", "str")),
    ("params", ("vec", ("struct", [("name", "str"), ("type", ("option", "compact"))]))),
    ("def", TYPE_DEF),
    ("docs", DOCS),
])  # fmt: skip
PORTABLE_TYPE = ("struct", [("id", "compact"), ("type", TYPE)])
HASHER = ("enum", [(n, None) for n in (
    "Blake2_128", "Blake2_256", "Blake2_128Concat", "Twox128", "Twox256",
    "Twox64Concat", "Identity")])  # fmt: skip
STORAGE_ENTRY = ("struct", [
    ("name", "str"),
    ("modifier", ("enum", [("Optional", None), ("Default", None)])),
    ("type", ("enum", [
        ("Plain", "compact"),
        ("Map", ("struct", [("hashers", ("vec", HASHER)), ("key", "compact"),
                            ("value", "compact")])),
    ])),
    ("default", "bytes"),
    ("docs", DOCS),
])  # fmt: skip
TYPE_REF = ("option", ("struct", [("ty", "compact")]))
CONSTANT = ("struct", [("name", "str"), ("ty", "compact"), ("value", "bytes"), ("docs", DOCS)])
PALLET_V15 = ("struct", [
    ("name", "str"),
    ("storage", ("option", ("struct", [("prefix", "str"), ("entries", ("vec", STORAGE_ENTRY))]))),
    ("calls", TYPE_REF),
    ("event", TYPE_REF),
    ("constants", ("vec", CONSTANT)),
    ("error", TYPE_REF),
    ("index", "u8"),
    ("docs", DOCS),
])  # fmt: skip
SIGNED_EXTENSION = ("struct", [("identifier", "str"), ("ty", "compact"),
                               ("additional_signed", "compact")])  # fmt: skip
EXTRINSIC_V15 = ("struct", [
    ("version", "u8"), ("address_ty", "compact"), ("call_ty", "compact"),
    ("signature_ty", "compact"), ("extra_ty", "compact"),
    ("signed_extensions", ("vec", SIGNED_EXTENSION)),
])  # fmt: skip
API_METHOD = ("struct", [
    ("name", "str"),
    ("inputs", ("vec", ("struct", [("name", "str"), ("ty", "compact")]))),
    ("output", "compact"),
    ("docs", DOCS),
])  # fmt: skip
API = ("struct", [("name", "str"), ("methods", ("vec", API_METHOD)), ("docs", DOCS)])
METADATA_V15 = ("struct", [
    ("types", ("vec", PORTABLE_TYPE)),
    ("pallets", ("vec", PALLET_V15)),
    ("extrinsic", EXTRINSIC_V15),
    ("ty", "compact"),
    ("apis", ("vec", API)),
    ("outer_enums", ("struct", [("call_enum_ty", "compact"), ("event_enum_ty", "compact"),
                                ("error_enum_ty", "compact")])),
    ("custom", ("struct", [("map", ("map", "str", ("struct", [("ty", "compact"),
                                                              ("value", "bytes")])))])),
])  # fmt: skip
# V14 (frame-metadata v14.rs): pallets without docs, the extrinsic as one type id.
PALLET_V14 = ("struct", [f for f in PALLET_V15[1] if f[0] != "docs"])
METADATA_V14 = ("struct", [
    ("types", ("vec", PORTABLE_TYPE)),
    ("pallets", ("vec", PALLET_V14)),
    ("extrinsic", ("struct", [("ty", "compact"), ("version", "u8"),
                              ("signed_extensions", ("vec", ("struct", [
                                  ("identifier", "str"), ("ty", "compact"),
                                  ("additional_signed", "compact")])))])),
    ("ty", "compact"),
])  # fmt: skip


class MetadataError(ValueError):
    """Bytes that are not runtime metadata of the expected version."""


# --- SCALE primitives ---------------------------------------------------------


def encode_compact(value: int) -> bytes:
    if value < 0:
        raise MetadataError(f"compact integers are unsigned, got {value}")
    if value < 1 << 6:
        return bytes([value << 2])
    if value < 1 << 14:
        return ((value << 2) | 1).to_bytes(2, "little")
    if value < 1 << 30:
        return ((value << 2) | 2).to_bytes(4, "little")
    raw = value.to_bytes((value.bit_length() + 7) // 8, "little")
    return bytes([((len(raw) - 4) << 2) | 3]) + raw


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise MetadataError("metadata ends early")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def compact(self) -> int:
        first = self.take(1)[0]
        mode = first & 3
        if mode == 0:
            return first >> 2
        if mode == 1:
            return int.from_bytes(bytes([first]) + self.take(1), "little") >> 2
        if mode == 2:
            return int.from_bytes(bytes([first]) + self.take(3), "little") >> 2
        return int.from_bytes(self.take((first >> 2) + 4), "little")


def _decode(schema: Schema, r: _Reader) -> Any:
    if schema == "str":
        return r.take(r.compact()).decode("utf-8")
    if schema == "bytes":
        return r.take(r.compact())
    if schema == "u8":
        return r.take(1)[0]
    if schema == "u32":
        return int.from_bytes(r.take(4), "little")
    if schema == "compact":
        return r.compact()
    kind = schema[0]
    if kind == "vec":
        return [_decode(schema[1], r) for _ in range(r.compact())]
    if kind == "map":
        return {_decode(schema[1], r): _decode(schema[2], r) for _ in range(r.compact())}
    if kind == "option":
        flag = r.take(1)[0]
        if flag > 1:
            raise MetadataError(f"bad Option tag {flag}")
        return _decode(schema[1], r) if flag else None
    if kind == "struct":
        return {name: _decode(sub, r) for name, sub in schema[1]}
    if kind == "enum":
        index = r.take(1)[0]
        if index >= len(schema[1]):
            raise MetadataError(f"enum index {index} out of range")
        name, sub = schema[1][index]
        return name if sub is None else {name: _decode(sub, r)}
    raise MetadataError(f"unknown schema {schema!r}")


def _encode(schema: Schema, value: Any, out: bytearray) -> None:
    if schema == "str":
        raw = value.encode("utf-8")
        out += encode_compact(len(raw)) + raw
    elif schema == "bytes":
        out += encode_compact(len(value)) + bytes(value)
    elif schema == "u8":
        out.append(value)
    elif schema == "u32":
        out += int(value).to_bytes(4, "little")
    elif schema == "compact":
        out += encode_compact(int(value))
    elif schema[0] == "vec":
        out += encode_compact(len(value))
        for item in value:
            _encode(schema[1], item, out)
    elif schema[0] == "map":
        out += encode_compact(len(value))
        for key in sorted(value):  # a BTreeMap encodes in key order
            _encode(schema[1], key, out)
            _encode(schema[2], value[key], out)
    elif schema[0] == "option":
        if value is None:
            out.append(0)
        else:
            out.append(1)
            _encode(schema[1], value, out)
    elif schema[0] == "struct":
        for name, sub in schema[1]:
            _encode(sub, value[name], out)
    elif schema[0] == "enum":
        names = [name for name, _ in schema[1]]
        if isinstance(value, str):
            out.append(names.index(value))
        else:
            ((name, inner),) = value.items()
            index = names.index(name)
            out.append(index)
            _encode(schema[1][index][1], inner, out)
    else:
        raise MetadataError(f"unknown schema {schema!r}")


# --- public API -----------------------------------------------------------------


def decode(data: bytes) -> dict[str, Any]:
    """``RuntimeMetadataV15`` (as plain data) from ``MetadataVersioned`` bytes."""
    if data[:4] != MAGIC or len(data) < 5:
        raise MetadataError("not runtime metadata (no 'meta' magic)")
    if data[4] != V15:
        raise MetadataError(f"metadata version {data[4]}, expected {V15}")
    reader = _Reader(data)
    reader.at = 5
    value = _decode(METADATA_V15, reader)
    if reader.at != len(data):
        raise MetadataError(f"{len(data) - reader.at} bytes after the metadata")
    return value


def encode(metadata: dict[str, Any]) -> bytes:
    """``MetadataVersioned`` bytes (magic, version 15, body) of ``metadata``."""
    out = bytearray(MAGIC + bytes([V15]))
    _encode(METADATA_V15, metadata, out)
    return bytes(out)


def encode_v14(metadata: dict[str, Any], extrinsic_type_id: int) -> bytes:
    """The same runtime as V14 (what ``state_getMetadata`` serves): no runtime APIs,
    no outer enums, no pallet docs; the extrinsic named by its own type id."""
    extrinsic = metadata["extrinsic"]
    v14 = {
        "types": metadata["types"],
        "pallets": [{k: v for k, v in p.items() if k != "docs"} for p in metadata["pallets"]],
        "extrinsic": {
            "ty": extrinsic_type_id,
            "version": extrinsic["version"],
            "signed_extensions": extrinsic["signed_extensions"],
        },
        "ty": metadata["ty"],
    }
    out = bytearray(MAGIC + bytes([V14]))
    _encode(METADATA_V14, v14, out)
    return bytes(out)


def opaque(metadata_bytes: bytes) -> bytes:
    """``Option<OpaqueMetadata>`` (``Some(Vec<u8>)``): what ``Metadata_metadata_at_version``
    returns."""
    return b"\x01" + encode_compact(len(metadata_bytes)) + metadata_bytes


def strip_opaque(data: bytes) -> bytes:
    """The inverse of :func:`opaque` (raises on ``None`` or trailing bytes)."""
    if not data or data[0] != 1:
        raise MetadataError("not Some(OpaqueMetadata)")
    reader = _Reader(data)
    reader.at = 1
    body = reader.take(reader.compact())
    if reader.at != len(data):
        raise MetadataError("bytes after the opaque metadata")
    return body
