"""The compressed-update format: exact round trip, error feedback, density and bits,
and a decoder that refuses every malformed field."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wmnet.protocol.shard import UPDATE_HEADER_BYTES
from wmnet.training.compress import (
    Compressed,
    ErrorFeedback,
    UpdateFormatError,
    compress,
    from_bf16_bits,
    layout_for,
    pack_bits,
    unpack_bits,
)

DENSITY = 60 / 4096
N_MODEL = 205_640  # the shipped model's dynamics parameters


def _vec(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def test_round_trip_is_exactly_what_the_encoder_kept():
    x = _vec(10_000)
    sent = compress(x, 0.02, chunk=1024)
    back = Compressed.from_bytes(sent.to_bytes(), expect_n=x.size)
    assert np.array_equal(back.dense(), sent.dense())  # bit for bit
    assert np.array_equal(back.indices, sent.indices)
    assert np.array_equal(back.codes, sent.codes)
    assert back.to_bytes() == sent.to_bytes()  # one encoding per update
    # What was kept: the top-k magnitudes of each chunk, with their signs.
    dense = back.dense()
    kept = back.global_indices()
    assert np.count_nonzero(dense) == kept.size == back.layout.kept
    assert np.array_equal(np.sign(dense[kept]), np.sign(x[kept]))
    for c in range(back.layout.n_chunks):
        part = np.abs(x[c * 1024 : (c + 1) * 1024])
        mine = kept[(kept >= c * 1024) & (kept < (c + 1) * 1024)] - c * 1024
        dropped = np.setdiff1d(np.arange(part.size), mine)
        assert part[mine].min() >= part[dropped].max()


def test_error_feedback_carries_what_was_not_sent():
    n = 5_000
    deltas = [_vec(n, seed) for seed in range(4)]
    ef = ErrorFeedback(n, decay=1.0)
    sent_total = np.zeros(n, dtype=np.float64)
    first = None
    for delta in deltas:
        sent = ef.step(delta, 0.05, chunk=512)
        first = sent if first is None else first
        sent_total += sent.dense()
    # Nothing is lost: what was sent plus what is still owed is everything.
    np.testing.assert_allclose(sent_total + ef.buffer, np.sum(deltas, axis=0), atol=1e-4)
    # A coordinate left out in round 1 is still owed after it (then sent later or kept).
    missed = np.setdiff1d(np.arange(n), first.global_indices())[:5]
    assert np.all(ef.buffer[missed] != 0)


def test_error_feedback_decays_the_residual():
    ef = ErrorFeedback(4096, decay=0.95)
    delta = _vec(4096)
    sent = ef.step(delta, 0.01, chunk=4096)
    residual = delta - sent.dense()
    np.testing.assert_array_equal(ef.buffer, residual)
    ef.step(np.zeros(4096, np.float32), 0.01, chunk=4096)
    carried = np.float32(0.95) * residual
    assert np.abs(ef.buffer - carried).max() <= np.abs(carried).max()  # the top went out


@pytest.mark.parametrize("density,chunk", [(0.01, 4096), (0.05, 256), (0.5, 64), (1.0, 64)])
def test_density_and_bits_are_honoured(density, chunk):
    n = 3 * chunk + chunk // 3
    sent = compress(_vec(n), density, chunk)
    lay = sent.layout
    k = max(1, round(density * chunk))
    assert lay.k == k and lay.k_last == max(1, math.ceil(k * (chunk // 3) / chunk))
    assert lay.kept == 3 * k + lay.k_last
    assert abs(lay.kept / n - density) <= 1.0 / chunk + 1e-9
    b = chunk.bit_length() - 1
    expected = UPDATE_HEADER_BYTES + 4 * lay.n_chunks + math.ceil(2 * lay.kept / 8)
    assert len(sent.to_bytes()) == expected + math.ceil(b * lay.kept / 8)
    # 2-bit values: each chunk decodes to at most 4 distinct values, +-lo and +-hi.
    values, kept = sent.values(), sent.global_indices()
    for c in range(lay.n_chunks):
        in_chunk = values[(kept // chunk) == c]
        lo, hi = from_bf16_bits(sent.scales[c])
        assert set(np.abs(in_chunk).tolist()) <= {float(lo), float(hi)}
        assert len(set(in_chunk.tolist())) <= 4


def test_model_sized_update_is_146_times_smaller_than_fp32():
    data = compress(_vec(N_MODEL), DENSITY).to_bytes()
    assert 4 * N_MODEL / len(data) >= 146


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3000),
    bits=st.integers(6, 10),
    density=st.floats(0.001, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_vector_round_trips(n, bits, density, seed):
    x = _vec(n, seed) * np.float32(10.0 ** (seed % 7 - 3))
    sent = compress(x, density, 1 << bits)
    back = Compressed.from_bytes(sent.to_bytes())
    assert np.array_equal(back.dense(), sent.dense())


def test_bit_packing_is_lsb_first():
    assert pack_bits(np.array([1, 2, 3, 0]), 2) == bytes([0b00111001])
    assert pack_bits(np.array([0xABC, 0x123]), 12) == bytes([0xBC, 0x3A, 0x12])
    assert unpack_bits(bytes([0xBC, 0x3A, 0x12]), 12, 2).tolist() == [0xABC, 0x123]


# --- malformed updates -----------------------------------------------------------------------


def _good() -> bytes:
    return compress(_vec(1000), 0.05, chunk=256).to_bytes()


def _header(data: bytes, **fields) -> bytes:
    names = ("magic", "version", "index_bits", "value_bits", "reserved", "n", "k")
    values = dict(zip(names, struct.unpack_from("<4sBBBBQI", data), strict=True))
    values.update(fields)
    return struct.pack("<4sBBBBQI", *(values[k] for k in names)) + data[UPDATE_HEADER_BYTES:]


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda d: d[:-1], "bytes, the layout needs"),
        (lambda d: d + b"\0", "bytes, the layout needs"),
        (lambda d: d[:10], "shorter than the header"),
        (lambda d: _header(d, magic=b"XXXX"), "magic"),
        (lambda d: _header(d, version=2), "magic or version"),
        (lambda d: _header(d, value_bits=3), "value_bits"),
        (lambda d: _header(d, reserved=1), "reserved"),
        (lambda d: _header(d, index_bits=5), "index_bits"),
        (lambda d: _header(d, k=0), "out of range"),
        (lambda d: _header(d, k=257), "out of range"),
        (lambda d: _header(d, n=0), "out of range"),
    ],
)
def test_malformed_headers_are_refused(mutate, reason):
    with pytest.raises(UpdateFormatError, match=reason):
        Compressed.from_bytes(mutate(_good()))


def _rebuilt(**changes) -> bytes:
    sent = compress(_vec(1000), 0.05, chunk=256)
    fields = {"scales": sent.scales, "codes": sent.codes, "indices": sent.indices}
    fields.update(changes)
    return Compressed(sent.layout, **fields).to_bytes()


def test_unordered_or_out_of_range_indices_are_refused():
    sent = compress(_vec(1000), 0.05, chunk=256)
    swapped = sent.indices.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    with pytest.raises(UpdateFormatError, match="strictly increasing"):
        Compressed.from_bytes(_rebuilt(indices=swapped))
    duplicate = sent.indices.copy()
    duplicate[1] = duplicate[0]
    with pytest.raises(UpdateFormatError, match="strictly increasing"):
        Compressed.from_bytes(_rebuilt(indices=duplicate))
    past_end = sent.indices.copy()
    past_end[-1] = 255  # the last chunk holds 1000 - 3 * 256 = 232 elements
    with pytest.raises(UpdateFormatError, match="past its chunk"):
        Compressed.from_bytes(_rebuilt(indices=past_end))


def test_bad_scales_and_padding_bits_are_refused():
    sent = compress(_vec(1000), 0.05, chunk=256)
    swapped = sent.scales[:, ::-1].copy()  # lo > hi
    with pytest.raises(UpdateFormatError, match="lo <= hi"):
        Compressed.from_bytes(_rebuilt(scales=swapped))
    nan = sent.scales.copy()
    nan[0] = [0x7FC0, 0x7FC0]
    with pytest.raises(UpdateFormatError, match="finite"):
        Compressed.from_bytes(_rebuilt(scales=nan))
    sent = compress(_vec(1000), 0.05, chunk=1024)
    data = bytearray(sent.to_bytes())
    assert (sent.layout.kept * sent.layout.index_bits) % 8  # the last byte has padding
    data[-1] |= 0x80
    with pytest.raises(UpdateFormatError, match="padding"):
        Compressed.from_bytes(bytes(data))


def test_an_update_for_another_model_is_refused():
    with pytest.raises(UpdateFormatError, match="the model trains"):
        Compressed.from_bytes(_good(), expect_n=999)


def test_layout_and_compress_refuse_bad_arguments():
    with pytest.raises(ValueError):
        layout_for(10, 0.0, 64)
    with pytest.raises(ValueError):
        layout_for(10, 0.1, 100)
    with pytest.raises(ValueError):
        compress(np.array([1.0, np.nan], np.float32), 0.5, 64)
