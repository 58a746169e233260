"""SparseLoCo-style compression of a pseudo-gradient, and its exact decoder.

Follows SparseLoCo (Templar, "Communication-efficient pre-training with sparse
low-bit outer updates"): error feedback, top-k per fixed-size chunk, 2-bit values
with per-chunk scales, packed indices. The byte layout is specified in
``wmnet.protocol.shard`` (format ``wmnet-sparseloco-v1``); this module implements it.

Compressing one vector ``x`` (float32, ``n`` elements):

1. Cut ``x`` into chunks of ``C`` elements (the last may be shorter) and keep the
   ``k`` largest magnitudes of each (``k_last`` for a short last chunk), indices
   sorted ascending so an update has exactly one encoding.
2. Quantize each chunk's kept values to 2 bits: split the magnitudes at their mean
   (one Lloyd step), ``hi`` = bfloat16 of the mean magnitude at or above it, ``lo``
   of the mean below (``hi`` when there is none); a code is (negative, large).
3. Pack: header, scales, codes, indices (see the format).

:class:`Compressed` is the decoded form; ``dense()`` rebuilds exactly the vector the
encoder kept, so with :class:`ErrorFeedback` (``e = decay * e + delta``; send
``compress(e)``; ``e -= dense``) every part of an update that was not sent stays in
``e`` for the next round. ``Compressed.from_bytes`` checks every field before
trusting any (Templar's lesson: a decoder checks the metadata first).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from wmnet.protocol.shard import (
    MAX_INDEX_BITS,
    MAX_UPDATE_ELEMENTS,
    MIN_INDEX_BITS,
    UPDATE_HEADER_BYTES,
    UPDATE_MAGIC,
    UPDATE_VERSION,
    VALUE_BITS,
)

_HEADER = struct.Struct("<4sBBBBQI")
assert _HEADER.size == UPDATE_HEADER_BYTES


class UpdateFormatError(ValueError):
    """Bytes that are not a well-formed ``wmnet-sparseloco-v1`` update."""


@dataclass(frozen=True)
class Layout:
    """How many elements each chunk holds and keeps, from ``(n, chunk, k)``."""

    n: int
    chunk: int
    k: int

    @property
    def index_bits(self) -> int:
        return self.chunk.bit_length() - 1

    @property
    def n_chunks(self) -> int:
        return -(-self.n // self.chunk)

    @property
    def last_len(self) -> int:
        return self.n - (self.n_chunks - 1) * self.chunk

    @property
    def k_last(self) -> int:
        return max(1, math.ceil(self.k * self.last_len / self.chunk))

    @property
    def kept(self) -> int:
        return (self.n_chunks - 1) * self.k + self.k_last

    def nbytes(self) -> int:
        codes = -(-VALUE_BITS * self.kept // 8)
        indices = -(-self.index_bits * self.kept // 8)
        return UPDATE_HEADER_BYTES + 4 * self.n_chunks + codes + indices

    def counts(self) -> np.ndarray:
        """Kept elements per chunk."""
        out = np.full(self.n_chunks, self.k, dtype=np.int64)
        out[-1] = self.k_last
        return out


def layout_for(n: int, density: float, chunk: int) -> Layout:
    """The layout compressing ``n`` elements at ``density`` (k = round(density * C))."""
    if n < 1 or n > MAX_UPDATE_ELEMENTS:
        raise ValueError(f"n must be in [1, {MAX_UPDATE_ELEMENTS}], got {n}")
    if chunk & (chunk - 1) or not MIN_INDEX_BITS <= chunk.bit_length() - 1 <= MAX_INDEX_BITS:
        raise ValueError(f"chunk must be a power of two in [64, 65536], got {chunk}")
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    return Layout(n, chunk, max(1, min(chunk, round(density * chunk))))


# --- bfloat16 and bit packing --------------------------------------------------------------


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (u16), rounding to nearest even (finite input)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns -> float32 (exact)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def pack_bits(values: np.ndarray, width: int) -> bytes:
    """Unsigned ints of ``width`` bits each, LSB first, zero padded to whole bytes."""
    v = np.asarray(values, dtype=np.uint32)
    bits = ((v[:, None] >> np.arange(width, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(bits.ravel(), bitorder="little").tobytes()


def unpack_bits(data: bytes, width: int, count: int) -> np.ndarray:
    """The inverse of :func:`pack_bits`; UpdateFormatError when padding bits are set."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    if bits[count * width :].any():
        raise UpdateFormatError("padding bits after the last item are not zero")
    items = bits[: count * width].reshape(count, width).astype(np.uint32)
    return (items << np.arange(width, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)


# --- the compressed update --------------------------------------------------------------------


@dataclass(frozen=True)
class Compressed:
    """A decoded update: per chunk (lo, hi) scales, and per kept element its code and
    in-chunk index, chunk by chunk."""

    layout: Layout
    scales: np.ndarray  # (n_chunks, 2) uint16 bfloat16 bits: lo, hi
    codes: np.ndarray  # (kept,) uint8 in 0..3: bit 0 large, bit 1 negative
    indices: np.ndarray  # (kept,) uint32, ascending within each chunk

    def global_indices(self) -> np.ndarray:
        """Positions in the flat vector of every kept element (int64, ascending)."""
        starts = np.repeat(
            np.arange(self.layout.n_chunks, dtype=np.int64) * self.layout.chunk,
            self.layout.counts(),
        )
        return starts + self.indices.astype(np.int64)

    def values(self) -> np.ndarray:
        """The kept values, as decoded (float32)."""
        scales = from_bf16_bits(self.scales)  # (n_chunks, 2)
        chunk_of = np.repeat(np.arange(self.layout.n_chunks), self.layout.counts())
        magnitude = scales[chunk_of, (self.codes & 1).astype(np.int64)]
        return np.where(self.codes & 2, -magnitude, magnitude).astype(np.float32)

    def dense(self) -> np.ndarray:
        """The decoded vector (float32, ``n``): exactly what the encoder kept."""
        out = np.zeros(self.layout.n, dtype=np.float32)
        out[self.global_indices()] = self.values()
        return out

    def to_bytes(self) -> bytes:
        lay = self.layout
        header = _HEADER.pack(
            UPDATE_MAGIC, UPDATE_VERSION, lay.index_bits, VALUE_BITS, 0, lay.n, lay.k
        )
        scales = np.ascontiguousarray(self.scales, dtype="<u2").tobytes()
        return (
            header
            + scales
            + pack_bits(self.codes, VALUE_BITS)
            + pack_bits(self.indices, lay.index_bits)
        )

    @classmethod
    def from_bytes(cls, data: bytes, expect_n: int | None = None) -> Compressed:
        """Parse and check ``data``; UpdateFormatError naming the first problem."""
        if len(data) < UPDATE_HEADER_BYTES:
            raise UpdateFormatError(f"{len(data)} bytes is shorter than the header")
        magic, version, index_bits, value_bits, reserved, n, k = _HEADER.unpack_from(data)
        if magic != UPDATE_MAGIC or version != UPDATE_VERSION:
            raise UpdateFormatError("not a wmnet-sparseloco-v1 update (magic or version)")
        if value_bits != VALUE_BITS or reserved != 0:
            raise UpdateFormatError("value_bits must be 2 and the reserved byte 0")
        if not MIN_INDEX_BITS <= index_bits <= MAX_INDEX_BITS:
            raise UpdateFormatError(f"index_bits {index_bits} outside [6, 16]")
        chunk = 1 << index_bits
        if not 1 <= n <= MAX_UPDATE_ELEMENTS or not 1 <= k <= chunk:
            raise UpdateFormatError(f"n={n} or k={k} out of range for chunk {chunk}")
        if expect_n is not None and n != expect_n:
            raise UpdateFormatError(f"update has {n} elements, the model trains {expect_n}")
        lay = Layout(n, chunk, k)
        if len(data) != lay.nbytes():
            raise UpdateFormatError(f"{len(data)} bytes, the layout needs {lay.nbytes()}")
        pos = UPDATE_HEADER_BYTES
        scales = np.frombuffer(data, dtype="<u2", count=2 * lay.n_chunks, offset=pos)
        scales = scales.astype(np.uint16).reshape(lay.n_chunks, 2)
        pos += 4 * lay.n_chunks
        code_bytes = -(-VALUE_BITS * lay.kept // 8)
        codes = unpack_bits(data[pos : pos + code_bytes], VALUE_BITS, lay.kept).astype(np.uint8)
        pos += code_bytes
        indices = unpack_bits(data[pos:], index_bits, lay.kept)
        floats = from_bf16_bits(scales)
        ordered = (floats[:, 0] >= 0) & (floats[:, 0] <= floats[:, 1])
        if not (np.isfinite(floats).all() and ordered.all()):
            raise UpdateFormatError("scales must be finite with 0 <= lo <= hi")
        _check_indices(lay, indices)
        return cls(lay, scales, codes, indices)


def _check_indices(lay: Layout, indices: np.ndarray) -> None:
    counts = lay.counts()
    limits = np.full(lay.n_chunks, lay.chunk, dtype=np.int64)
    limits[-1] = lay.last_len
    chunk_of = np.repeat(np.arange(lay.n_chunks), counts)
    if (indices.astype(np.int64) >= limits[chunk_of]).any():
        raise UpdateFormatError("an index lies past its chunk's end")
    steps = np.diff(indices.astype(np.int64))
    first_of_chunk = np.cumsum(counts)[:-1] - 1  # a new chunk starts after these
    inside = np.ones(len(steps), dtype=bool)
    inside[first_of_chunk] = False
    if (steps[inside] <= 0).any():
        raise UpdateFormatError("indices within a chunk must be strictly increasing")


# --- encoding ---------------------------------------------------------------------------------


def _quantize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of kept values -> (scales (rows, 2) bf16 bits, codes) per the format."""
    mag = np.abs(values)
    large = mag >= mag.mean(axis=1, keepdims=True)
    n_large = large.sum(axis=1)
    hi = np.where(large, mag, 0).sum(axis=1) / np.maximum(n_large, 1)
    n_small = values.shape[1] - n_large
    lo_sum = np.where(large, 0, mag).sum(axis=1)
    lo = np.where(n_small > 0, lo_sum / np.maximum(n_small, 1), hi)
    scales = to_bf16_bits(np.stack([lo, hi], axis=1).astype(np.float32))
    # Rounding both means to bfloat16 keeps lo <= hi (rounding is monotonic).
    codes = large.astype(np.uint8) | (np.signbit(values).astype(np.uint8) << 1)
    return scales, codes


def _top_k(rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the ``k`` largest magnitudes' indices (ascending) and values."""
    idx = np.argpartition(-np.abs(rows), k - 1, axis=1)[:, :k]
    idx.sort(axis=1)
    return idx.astype(np.uint32), np.take_along_axis(rows, idx.astype(np.int64), axis=1)


def compress(x: np.ndarray, density: float, chunk: int = 4096) -> Compressed:
    """Top-k per chunk and 2-bit values of the float32 vector ``x`` (finite)."""
    flat = np.ascontiguousarray(x, dtype=np.float32).ravel()
    if not np.isfinite(flat).all():
        raise ValueError("cannot compress a vector with NaN or infinite values")
    lay = layout_for(flat.size, density, chunk)
    full = (lay.n_chunks - 1) * lay.chunk
    parts_idx, parts_val, parts_scales, parts_codes = [], [], [], []
    if lay.n_chunks > 1:
        idx, val = _top_k(flat[:full].reshape(lay.n_chunks - 1, lay.chunk), lay.k)
        parts_idx.append(idx.ravel())
        parts_val.append(val)
    idx, val = _top_k(flat[full:].reshape(1, lay.last_len), lay.k_last)
    parts_idx.append(idx.ravel())
    parts_val.append(val)
    for val in parts_val:
        scales, codes = _quantize(val)
        parts_scales.append(scales)
        parts_codes.append(codes.ravel())
    return Compressed(
        lay,
        np.concatenate(parts_scales),
        np.concatenate(parts_codes),
        np.concatenate(parts_idx),
    )


class ErrorFeedback:
    """SparseLoCo's error feedback: ``e = decay * e + delta``; send ``compress(e)``;
    keep ``e - decoded`` for the next round."""

    def __init__(self, n: int, decay: float = 0.95) -> None:
        self.buffer = np.zeros(n, dtype=np.float32)
        self.decay = decay

    def step(self, delta: np.ndarray, density: float, chunk: int = 4096) -> Compressed:
        delta = np.asarray(delta, dtype=np.float32).ravel()
        if delta.size != self.buffer.size:
            raise ValueError(f"delta has {delta.size} elements, the buffer {self.buffer.size}")
        self.buffer *= np.float32(self.decay)
        self.buffer += delta
        sent = compress(self.buffer, density, chunk)
        self.buffer -= sent.dense()
        return sent
