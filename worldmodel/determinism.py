"""Deterministic mode for reference runs (what a validator re-computes with).

Same model + same inputs + deterministic mode => the same bits on the same kind of
device, whatever the thread count (tested on CPU with 1 vs 2 threads). Across device
kinds (CPU vs GPU, one GPU model vs another) bits still differ: validators compare
latents within a tolerance band, not bit for bit (see docs/worldmodel.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def set_deterministic(enabled: bool = True) -> None:
    # cuBLAS reads this when its first handle is made; set it before any CUDA work.
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled)
    # TF32 rounds fp32 matmul inputs to 10 mantissa bits: fast, but not a reference.
    torch.backends.cuda.matmul.allow_tf32 = not enabled
    torch.backends.cudnn.allow_tf32 = not enabled
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = False
    # oneDNN's CPU convolutions choose a thread-count-dependent reduction order (measured:
    # the autoencoder's 1x1 conv gives different bits with 1 vs 2 threads). Without
    # oneDNN, convs run as im2col + GEMM, whose bits do not depend on the thread count.
    torch.backends.mkldnn.enabled = not enabled


@contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Deterministic mode inside the block; the previous global settings after it."""
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.backends.mkldnn.enabled,
    )
    set_deterministic(enabled)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cuda.matmul.allow_tf32 = before[1]
        torch.backends.cudnn.allow_tf32 = before[2]
        torch.backends.cudnn.deterministic = before[3]
        torch.backends.cudnn.benchmark = before[4]
        torch.backends.mkldnn.enabled = before[5]
