"""Rollout benchmark: what each speed pillar buys, measured in one run on the same inputs.

Variants (each "+" is naive plus that one change, so each pillar is measured alone):
naive (dense attention, no KV cache, batch 1, fp32), +kv_cache, +batching, +sparse,
+int8, +bf16, and combined (KV cache + batching + sparse + the low precision that
suits the device: int8 on CPU, bf16 on CUDA). Error is the mean squared pixel error of
the predicted frames against the simulator's true frames (ballworld, held-out seeds).
FLOPs are counted once per variant with ``torch.utils.flop_counter`` (masked SDPA is
counted dense, so the sparse rows' FLOP/s are an upper bound on useful work).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

# Dense bf16 tensor-core peaks (FLOP/s) used for MFU; None for unknown devices.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "4090": 165e12}


@dataclass(frozen=True)
class Variant:
    name: str
    kv_cache: bool
    batched: bool
    sparse: bool
    precision: str


@dataclass
class VariantResult:
    name: str
    kv_cache: bool
    batch: int
    sparse: bool
    precision: str
    seconds: float
    frames_per_s: float
    speedup: float  # vs naive
    error_mse: float
    error_increase_pct: float  # vs naive
    flops_per_frame: float
    achieved_flops: float
    mfu: float | None


def variants(device: str) -> list[Variant]:
    low = "bf16" if device == "cuda" else "int8"
    return [
        Variant("naive", False, False, False, "fp32"),
        Variant("+kv_cache", True, False, False, "fp32"),
        Variant("+batching", False, True, False, "fp32"),
        Variant("+sparse", False, False, True, "fp32"),
        Variant("+int8", False, False, False, "int8"),
        Variant("+bf16", False, False, False, "bf16"),
        Variant("combined-dense", True, True, False, low),  # every pillar but sparse
        Variant("combined", True, True, True, low),
    ]


def _peak(device: str) -> float | None:
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


def _load_model(resolution: int, model_id: str | None, device: str):
    from wmnet.worldmodel.checkpoint import ModelRegistry, default_model_id
    from wmnet.worldmodel.config import ModelConfig
    from wmnet.worldmodel.model import WorldModel

    mid = model_id or default_model_id()
    model = ModelRegistry().load(mid, device)
    if model.cfg.resolution == resolution:
        return model, mid, True
    # No trained checkpoint at this resolution: same widths, random weights, grid 16x16.
    # Speed figures are still real; error figures are then meaningless (flagged).
    ds = max(1, resolution // 16)
    cfg = ModelConfig(**{**asdict(model.cfg), "resolution": resolution, "downsample": ds})
    torch.manual_seed(0)
    return WorldModel(cfg).to(device).eval(), None, False


def run_bench(
    *,
    device: str = "auto",
    resolution: int = 32,
    contexts: int = 16,
    context: int = 4,
    horizon: int = 12,
    model_id: str | None = None,
    skip: tuple[str, ...] = (),
    seed: int = 7_000_001,
) -> dict:
    from wmnet.worldmodel.data import make_episodes
    from wmnet.worldmodel.quant import quantize
    from wmnet.worldmodel.rollout import RolloutOptions, rollout

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda but torch sees no CUDA device")
    base, mid, trained = _load_model(resolution, model_id, device)
    eps = make_episodes(base.cfg.env, contexts, context + horizon - 1, seed, resolution)
    truth = eps.frames[:, context:].astype(np.float64) / 255.0
    peak = _peak(device)
    models = {"fp32": base}

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def run(v: Variant, n: int | None = None):
        m = models.setdefault(v.precision, quantize(base, v.precision))
        opts = RolloutOptions(kv_cache=v.kv_cache, sparse=v.sparse)
        total = n or contexts
        bs = total if v.batched else 1
        frames = []
        for i in range(0, total, bs):
            sl = slice(i, i + bs)
            r = rollout(
                m,
                eps.frames[sl, :context],
                eps.actions[sl, : context - 1],
                eps.actions[sl, context - 1 :],
                opts,
            )
            frames.append(r.frames)
        return torch.cat(frames).numpy()

    rows: list[VariantResult] = []
    naive_fps = naive_err = None
    for v in variants(device):
        if v.name in skip:
            continue
        run(v, n=min(2, contexts))  # warm-up: allocator, mask caches, compiled kernels
        sync()
        t0 = time.perf_counter()
        pred = run(v)
        sync()
        secs = time.perf_counter() - t0
        fps = contexts * horizon / secs
        err = float(((pred.astype(np.float64) / 255.0 - truth) ** 2).mean())
        flops = _count_flops(lambda v=v: run(v, n=1)) / horizon
        if naive_fps is None:
            naive_fps, naive_err = fps, err
        rows.append(
            VariantResult(
                name=v.name,
                kv_cache=v.kv_cache,
                batch=contexts if v.batched else 1,
                sparse=v.sparse,
                precision=v.precision,
                seconds=secs,
                frames_per_s=fps,
                speedup=fps / naive_fps,
                error_mse=err,
                error_increase_pct=100.0 * (err / naive_err - 1.0),
                flops_per_frame=flops,
                achieved_flops=flops * fps,
                mfu=None if peak is None else flops * fps / peak,
            )
        )
    combined = next((r for r in rows if r.name == "combined"), rows[-1])
    return {
        "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "threads": torch.get_num_threads(),
        "resolution": resolution,
        "model_id": mid,
        "trained_model": trained,
        "contexts": contexts,
        "context": context,
        "horizon": horizon,
        "peak_flops": peak,
        "variants": [asdict(r) for r in rows],
        "speedup": combined.speedup,
        "error_increase_pct": combined.error_increase_pct,
    }


def _count_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())
