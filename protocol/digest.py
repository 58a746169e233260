"""The per-step latent digest, version ``wmnet-latent-v1``.

For one predicted latent ``z`` (float32, shape ``(c, g, g)``):
``q = round_half_even(z * 2**12)`` (NaN as 0, saturated to the int32 range) as
little-endian int32 in C order, and
``sha256(b"wmnet-latent-v1|c,g,g|12|" + q.bytes).hexdigest()``.

What it is for: it *binds* the latents a miner sent (a result's ``digests`` must match
its ``latents``), and two deterministic-mode runs on the same device kind can compare
whole steps in one string. What it is *not* for: checking a miner's numbers against a
validator's recompute. Batch size, KV cache vs recompute, thread count and precision
change low bits, and a value near a rounding edge flips the hash; verification compares
latents numerically under the tolerances in :mod:`wmnet.protocol.tolerances`.
"""

from __future__ import annotations

import hashlib

import numpy as np

from wmnet.protocol.spec import DIGEST_BITS, DIGEST_VERSION


def latent_digest(z: np.ndarray) -> str:
    """Digest of one step's latent ``(c, g, g)``."""
    arr = np.asarray(z, dtype=np.float32)
    if arr.ndim != 3:
        raise ValueError(f"latent_digest expects one (c, g, g) latent, got {arr.shape}")
    # Scaling by a power of two is exact in float32; np.rint rounds half to even. Values
    # outside int32 saturate and NaN counts as 0, so every input has one digest.
    scaled = np.nan_to_num(arr * np.float32(1 << DIGEST_BITS), nan=0.0)
    # Clip in float64: float32 cannot hold 2**31 - 1 exactly.
    q = np.clip(np.rint(scaled).astype(np.float64), -(2**31), 2**31 - 1).astype("<i4")
    header = f"{DIGEST_VERSION}|{','.join(map(str, arr.shape))}|{DIGEST_BITS}|".encode()
    return hashlib.sha256(header + np.ascontiguousarray(q).tobytes()).hexdigest()


def step_digests(latents: np.ndarray) -> list[str]:
    """``(T, c, g, g)`` -> one digest per step."""
    arr = np.asarray(latents, dtype=np.float32)
    if arr.ndim != 4:
        raise ValueError(f"step_digests expects (T, c, g, g) latents, got {arr.shape}")
    return [latent_digest(arr[t]) for t in range(arr.shape[0])]
