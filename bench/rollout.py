"""Rollout benchmark: what each speed pillar buys, measured in one run on the same inputs.

Variants (each "+" is naive plus that one change, so each pillar is measured alone):
naive (dense attention, no KV cache, batch 1, fp32), +kv_cache, +batching, +sparse,
+int8, +int8_matmul (int8 activations too, ``torch._int_mm``), +bf16, combined-dense
(every pillar but sparse) and combined (KV cache + batching + sparse + the low
precision that gains on the device: none (fp32) on CPU, where no precision beat fp32
alone on the shipped model, bf16 on CUDA, or ``combined_precision``). Each variant
calls the public APIs (:class:`~wmnet.worldmodel.rollout.RolloutOptions`,
:func:`~wmnet.worldmodel.quant.quantize`), so changes to attention, decoding or
quantization show up here without edits.

Timing is interleaved and repeated: every round runs every variant once (plus the dense
and sparse 128x128 rollouts), the order rotating by one place per round, so load from
other processes falls on all variants alike. Each variant reports its min and median
time; ``speedup`` = median frames/s of combined / median frames/s of naive, with the
per-round paired ratios (``speedup_rounds``) beside it.

Error: ``error_increase_pct`` compares the combined variant's frame MSE against the
simulator's frames with naive's (fp32, dense) over ``error_episodes`` (256) held-out
episodes of :data:`BENCH_SEED`, a seed used by nothing else (not training, not
``wmnet model eval``, not the sparse-pattern tuning). The combined variant runs there
exactly as timed (same options and batch size); the fp32 dense reference runs with the
KV cache and batching, which are exact (``reference_max_abs_latent_diff`` shows the
reference equals naive's own output on the timed contexts). Per-variant ``error_mse``
rows are from the timed runs' own outputs on the ``contexts`` timed episodes.

``sparse_speedup_128``: dense / sparse seconds (medians) of a 12-frame rollout at
128x128 (batch 1, KV cache, fp32) of a random-init model with the shipped architecture
(only ``resolution`` changed), interleaved in the same rounds.

Peak RSS: the combined variant rolled out at horizon 12 and at horizon 96, each in a
fresh subprocess (``python -m wmnet.bench.rollout rss ...``), VmHWM before and after.

FLOPs are counted once per variant with ``torch.utils.flop_counter`` (masked SDPA is
counted dense, so the sparse rows' FLOP/s are an upper bound on useful work).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET

# Dense bf16 tensor-core peaks (FLOP/s) used for MFU; None for unknown devices.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "4090": 165e12}

# Held-out episodes of this bench. Ballworld seeds episode i with (seed, i), so episodes
# of distinct seeds never coincide. Seeds in use elsewhere: training 0 and the shard
# seeds (sha256-derived 63-bit); `wmnet model eval`, validator held-out shards and the
# compress bench HELDOUT_SEED_OFFSET (1_000_003); the quant test 1_000_004; the verify
# bench's SeededContexts 2e9+; TUNING_SEED, the bench's old default, on which the sparse
# pattern (window 12, radius 2) was chosen. Tune on any seed but this one.
BENCH_SEED = 5_000_011
TUNING_SEED = 7_000_001
assert BENCH_SEED not in (0, HELDOUT_SEED_OFFSET, HELDOUT_SEED_OFFSET + 1, TUNING_SEED)


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
    seconds: float  # median over rounds
    seconds_min: float
    frames_per_s: float  # from the median time
    frames_per_s_best: float  # from the min time
    speedup: float | None  # median frames/s vs naive's median
    error_mse: float  # on the timed contexts, from this variant's own output
    error_increase_pct: float | None  # vs naive, same contexts
    flops_per_frame: float
    achieved_flops: float
    mfu: float | None
    repeats: int
    seconds_all: list[float] = field(default_factory=list)


INT8_MATMUL = "int8_matmul"  # a bench label: quantize(model, "int8", int8_matmul=True)


def variants(device: str, combined_precision: str | None = None) -> list[Variant]:
    # The combined variant keeps a low precision only where it gains: on this bench's
    # CPU runs of the shipped d_model-64 model neither int8 (weight-only 0.91x, int8
    # matmuls 0.98x) nor bf16 (0.95x) beat fp32 alone (docs/benchmarks.md, "Rollout"),
    # so CPU combines in fp32; CUDA keeps bf16 (unmeasured here: no GPU).
    low = combined_precision or ("bf16" if device == "cuda" else "fp32")
    return [
        Variant("naive", False, False, False, "fp32"),
        Variant("+kv_cache", True, False, False, "fp32"),
        Variant("+batching", False, True, False, "fp32"),
        Variant("+sparse", False, False, True, "fp32"),
        Variant("+int8", False, False, False, "int8"),
        # int8 matmuls (torch._int_mm, per-token activation scales): not a protocol
        # precision by default (its error exceeds the int8 bound on the shipped model),
        # measured so the choice stays a measured one.
        Variant("+int8_matmul", False, False, False, INT8_MATMUL),
        Variant("+bf16", False, False, False, "bf16"),
        Variant("combined-dense", True, True, False, low),  # every pillar but sparse
        Variant("combined", True, True, True, low),
    ]


QUICK = {
    "contexts": 2,
    "context": 2,
    "horizon": 3,
    "rounds": 2,
    "error_episodes": 8,
    "sparse_resolution": 64,
    "sparse_horizon": 2,
}


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


def _random_at(base, resolution: int, device: str):
    """Random-init model with ``base``'s architecture, only the resolution changed."""
    from wmnet.worldmodel.config import ModelConfig
    from wmnet.worldmodel.model import WorldModel

    cfg = ModelConfig(**{**asdict(base.cfg), "resolution": resolution})
    torch.manual_seed(0)
    return WorldModel(cfg).to(device).eval()


def _rollout_all(model, eps, context: int, n: int, batch: int, opts):
    """Roll out episodes 0..n-1 in batches of ``batch``: (frames uint8, latents)."""
    from wmnet.worldmodel.rollout import rollout_episodes

    return rollout_episodes(model, eps, context, opts, batch=batch, n=n)


def _mse_per_step(pred_u8: np.ndarray, truth01: np.ndarray) -> np.ndarray:
    return ((pred_u8.astype(np.float64) / 255.0 - truth01) ** 2).mean(axis=(0, 2, 3, 4))


def _median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def run_bench(
    *,
    device: str = "auto",
    resolution: int = 32,
    contexts: int | None = None,
    context: int | None = None,
    horizon: int | None = None,
    model_id: str | None = None,
    skip: tuple[str, ...] = (),
    seed: int = BENCH_SEED,
    rounds: int | None = None,
    error_episodes: int | None = None,
    combined_precision: str | None = None,
    sparse_resolution: int | None = None,
    sparse_horizon: int | None = None,
    rss_horizons: tuple[int, ...] | None = (12, 96),
    quick: bool = False,
    progress: bool = True,
) -> dict:
    """Run the bench; ``None`` arguments take the full defaults, or :data:`QUICK`'s.

    ``sparse_resolution=0`` skips the 128x128 comparison, ``rss_horizons=()`` (or None)
    the subprocess memory runs; ``skip`` drops variants by name.
    """
    from wmnet.worldmodel.data import make_episodes
    from wmnet.worldmodel.quant import quantize
    from wmnet.worldmodel.rollout import RolloutOptions

    full = {
        "contexts": 16,
        "context": 4,
        "horizon": 12,
        "rounds": 5,
        "error_episodes": 256,
        "sparse_resolution": 128,
        "sparse_horizon": 12,
    }
    preset = QUICK if quick else full
    contexts = contexts or preset["contexts"]
    context = context or preset["context"]
    horizon = horizon or preset["horizon"]
    rounds = rounds or preset["rounds"]
    error_episodes = error_episodes if error_episodes is not None else preset["error_episodes"]
    if sparse_resolution is None:
        sparse_resolution = preset["sparse_resolution"]
    sparse_horizon = sparse_horizon or preset["sparse_horizon"]
    if min(contexts, context, horizon, rounds, sparse_horizon) < 1 or error_episodes < 0:
        raise ValueError("contexts, context, horizon, rounds, sparse_horizon must be >= 1")

    t_start = time.perf_counter()

    def log(msg: str) -> None:
        if progress:
            print(f"[bench rollout {time.perf_counter() - t_start:6.1f}s] {msg}", file=sys.stderr)

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda but torch sees no CUDA device")
    base, mid, trained = _load_model(resolution, model_id, device)
    n_eps = max(contexts, error_episodes)
    log(f"{n_eps} held-out episodes (seed {seed}), {resolution}x{resolution}")
    eps = make_episodes(base.cfg.env, n_eps, context + horizon - 1, seed, resolution)
    truth = eps.frames[:contexts, context:].astype(np.float64) / 255.0
    peak = _peak(device)
    vs = [v for v in variants(device, combined_precision) if v.name not in skip]
    by_name = {v.name: v for v in vs}
    models = {"fp32": base}

    def model_for(precision: str):
        if precision not in models:
            if precision == INT8_MATMUL:
                models[precision] = quantize(base, "int8", int8_matmul=True)
            else:
                models[precision] = quantize(base, precision)
        return models[precision]

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    def run(v: Variant, n: int | None = None):
        n = n or contexts
        opts = RolloutOptions(kv_cache=v.kv_cache, sparse=v.sparse)
        return _rollout_all(model_for(v.precision), eps, context, n, n if v.batched else 1, opts)

    # The sparse-attention comparison at sparse_resolution: same architecture, random
    # weights, batch 1, KV cache, fp32; only the attention pattern differs.
    sparse_job = None
    sparse_names = (f"dense-{sparse_resolution}", f"sparse-{sparse_resolution}")
    if sparse_resolution and not set(sparse_names) & set(skip):
        big = _random_at(base, sparse_resolution, device)
        big_eps = make_episodes(
            big.cfg.env, 1, context + sparse_horizon - 1, seed, sparse_resolution
        )

        def run_big(sparse: bool, steps: int = sparse_horizon):
            from wmnet.worldmodel.rollout import rollout

            return rollout(
                big,
                big_eps.frames[:, :context],
                big_eps.actions[:, : context - 1],
                big_eps.actions[:, context - 1 : context - 1 + steps],
                RolloutOptions(kv_cache=True, sparse=sparse),
            )

        sparse_job = (big, run_big)

    # Warm-up: allocator, mask caches, compiled kernels, quantized copies.
    log("warm-up")
    for v in vs:
        run(v, n=min(2, contexts))
    if sparse_job is not None:
        for sp in (False, True):
            sparse_job[1](sp, steps=1)
    sync()

    jobs: list[str] = [v.name for v in vs]
    if sparse_job is not None:
        # Spread the two 128x128 runs apart in the rotation.
        half = len(jobs) // 2
        jobs = [*jobs[:half], sparse_names[0], *jobs[half:], sparse_names[1]]
    times: dict[str, list[float]] = {j: [] for j in jobs}
    outputs: dict[str, tuple[np.ndarray, torch.Tensor]] = {}
    for r in range(rounds):
        k = r % len(jobs)
        order = jobs[k:] + jobs[:k]
        for name in order:
            gc.collect()
            sync()
            t0 = time.perf_counter()
            if name in sparse_names:
                sparse_job[1](name == sparse_names[1])
            else:
                out = run(by_name[name])
            sync()
            secs = time.perf_counter() - t0
            times[name].append(secs)
            if name not in sparse_names and name not in outputs:
                outputs[name] = out
        summary = ", ".join(f"{j} {times[j][-1]:.2f}s" for j in jobs)
        log(f"round {r + 1}/{rounds}: {summary}")

    frames_total = contexts * horizon

    def fps(secs: float) -> float:
        return frames_total / secs

    naive_med = _median(times["naive"]) if "naive" in times else None
    naive_err = (
        float(_mse_per_step(outputs["naive"][0], truth).mean()) if "naive" in outputs else None
    )
    rows: list[VariantResult] = []
    log("counting FLOPs")
    for v in vs:
        ts = times[v.name]
        med, best = _median(ts), min(ts)
        err = float(_mse_per_step(outputs[v.name][0], truth).mean())
        flops = _count_flops(lambda v=v: run(v, n=1)) / horizon
        rows.append(
            VariantResult(
                name=v.name,
                kv_cache=v.kv_cache,
                batch=contexts if v.batched else 1,
                sparse=v.sparse,
                precision=v.precision,
                seconds=med,
                seconds_min=best,
                frames_per_s=fps(med),
                frames_per_s_best=fps(best),
                speedup=None if naive_med is None else naive_med / med,
                error_mse=err,
                error_increase_pct=(None if naive_err is None else 100.0 * (err / naive_err - 1.0)),
                flops_per_frame=flops,
                achieved_flops=flops * fps(med),
                mfu=None if peak is None else flops * fps(med) / peak,
                repeats=len(ts),
                seconds_all=ts,
            )
        )

    combined = next((r for r in rows if r.name == "combined"), None)
    res: dict = {
        "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "resolution": resolution,
        "model_id": mid,
        "trained_model": trained,
        "contexts": contexts,
        "context": context,
        "horizon": horizon,
        "seed": seed,
        "rounds": rounds,
        "quick": quick,
        "combined_precision": by_name["combined"].precision if "combined" in by_name else None,
        "peak_flops": peak,
        "variants": [asdict(r) for r in rows],
        "speedup": None if combined is None else combined.speedup,
        "speedup_best": None,
        "speedup_rounds": [],
    }
    if combined is not None and naive_med is not None:
        res["speedup_best"] = min(times["naive"]) / min(times["combined"])
        pairs = zip(times["naive"], times["combined"], strict=True)
        res["speedup_rounds"] = [n / c for n, c in pairs]

    # --- prediction error over the held-out episodes -----------------------------------
    res.update(
        {
            "error_episodes": error_episodes,
            "error_seed": seed,
            "error_mse_naive": None,
            "error_mse_combined": None,
            "error_mse_per_step_naive": None,
            "error_mse_per_step_combined": None,
            "error_increase_pct": None,
            "reference_max_abs_latent_diff": None,
        }
    )
    if error_episodes and "combined" in by_name:
        log(f"prediction error over {error_episodes} held-out episodes")
        truth_all = eps.frames[:error_episodes, context:].astype(np.float64) / 255.0
        ref_opts = RolloutOptions(kv_cache=True, sparse=False)
        ref_u8, ref_lat = _rollout_all(base, eps, context, error_episodes, contexts, ref_opts)
        c = by_name["combined"]
        comb_u8, _ = _rollout_all(
            model_for(c.precision),
            eps,
            context,
            error_episodes,
            contexts,
            RolloutOptions(kv_cache=c.kv_cache, sparse=c.sparse),
        )
        ref_step = _mse_per_step(ref_u8, truth_all)
        comb_step = _mse_per_step(comb_u8, truth_all)
        res.update(
            {
                "error_mse_naive": float(ref_step.mean()),
                "error_mse_combined": float(comb_step.mean()),
                "error_mse_per_step_naive": [float(x) for x in ref_step],
                "error_mse_per_step_combined": [float(x) for x in comb_step],
                "error_increase_pct": 100.0 * (comb_step.mean() / ref_step.mean() - 1.0),
            }
        )
        if "naive" in outputs:
            diff = (ref_lat[:contexts] - outputs["naive"][1]).abs().max()
            res["reference_max_abs_latent_diff"] = float(diff)

    # --- sparse vs dense at sparse_resolution ------------------------------------------
    res.update(
        {
            "sparse_resolution": sparse_resolution or None,
            "sparse_horizon": sparse_horizon,
            "sparse_grid": None,
            "sparse_tokens_per_frame": None,
            "sparse_dense_seconds": None,
            "sparse_dense_seconds_min": None,
            "sparse_sparse_seconds": None,
            "sparse_sparse_seconds_min": None,
            "sparse_speedup": None,
            "sparse_speedup_rounds": [],
            "sparse_speedup_128": None,
        }
    )
    if sparse_job is not None:
        d, s = times[sparse_names[0]], times[sparse_names[1]]
        ratio = _median(d) / _median(s)
        res.update(
            {
                "sparse_grid": sparse_job[0].cfg.grid,
                "sparse_tokens_per_frame": sparse_job[0].cfg.tokens_per_frame,
                "sparse_dense_seconds": _median(d),
                "sparse_dense_seconds_min": min(d),
                "sparse_sparse_seconds": _median(s),
                "sparse_sparse_seconds_min": min(s),
                "sparse_speedup": ratio,
                "sparse_speedup_rounds": [a / b for a, b in zip(d, s, strict=True)],
                # Only the real thing carries the headline name.
                "sparse_speedup_128": ratio
                if sparse_resolution == 128 and sparse_horizon == 12
                else None,
            }
        )
    del sparse_job

    # --- peak memory against horizon, each horizon in a fresh process ----------------
    res.update({"rss_horizons": [], "rss": [], "peak_rss_mb_h12": None, "peak_rss_mb_h96": None})
    res["peak_rss_ratio_96_12"] = None
    if rss_horizons and "combined" in by_name:
        c = by_name["combined"]
        for h in rss_horizons:
            log(f"peak RSS, horizon {h}, fresh subprocess")
            rec = measure_rss(
                horizon=h,
                contexts=contexts,
                context=context,
                resolution=resolution,
                model_id=mid,
                precision=c.precision,
                kv_cache=c.kv_cache,
                sparse=c.sparse,
                device=device,
                seed=seed,
            )
            res["rss_horizons"].append(h)
            res["rss"].append(rec)
        by_h = dict(zip(res["rss_horizons"], res["rss"], strict=True))
        if 12 in by_h:
            res["peak_rss_mb_h12"] = by_h[12]["peak_mb"]
        if 96 in by_h:
            res["peak_rss_mb_h96"] = by_h[96]["peak_mb"]
        if 12 in by_h and 96 in by_h:
            res["peak_rss_ratio_96_12"] = by_h[96]["peak_mb"] / by_h[12]["peak_mb"]
    res["elapsed_s"] = time.perf_counter() - t_start
    log(
        f"done: speedup {_fmt(res['speedup'])}, error_increase_pct "
        f"{_fmt(res['error_increase_pct'])}, sparse_speedup {_fmt(res['sparse_speedup'])}, "
        f"peak_rss_ratio_96_12 {_fmt(res['peak_rss_ratio_96_12'])}"
    )
    return res


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _count_flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


# --- peak RSS in a fresh process ---------------------------------------------------------


def _vm_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    kb = _vm_kb("VmHWM")
    if kb is None:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0


def measure_rss(
    *,
    horizon: int,
    contexts: int,
    context: int,
    resolution: int,
    model_id: str | None,
    precision: str,
    kv_cache: bool = True,
    sparse: bool = True,
    device: str,
    seed: int,
    timeout: float = 600.0,
) -> dict:
    """Run the combined variant once in a fresh interpreter; its memory record."""
    cmd = [
        sys.executable,
        "-m",
        "wmnet.bench.rollout",
        "rss",
        json.dumps(
            {
                "horizon": horizon,
                "contexts": contexts,
                "context": context,
                "resolution": resolution,
                "model_id": model_id,
                "precision": precision,
                "kv_cache": kv_cache,
                "sparse": sparse,
                "device": device,
                "seed": seed,
                "threads": torch.get_num_threads(),
            }
        ),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"rss subprocess failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rss_child(spec: dict) -> dict:
    from wmnet.worldmodel.data import make_episodes
    from wmnet.worldmodel.quant import quantize
    from wmnet.worldmodel.rollout import RolloutOptions, rollout

    torch.set_num_threads(int(spec["threads"]))
    device = spec["device"]
    base, _, _ = _load_model(spec["resolution"], spec["model_id"], device)
    model = quantize(base, spec["precision"])
    del base
    c, h, b = spec["context"], spec["horizon"], spec["contexts"]
    eps = make_episodes(model.cfg.env, b, c + h - 1, spec["seed"], spec["resolution"])
    gc.collect()
    before = _peak_rss_mb()
    t0 = time.perf_counter()
    out = rollout(
        model,
        eps.frames[:, :c],
        eps.actions[:, : c - 1],
        eps.actions[:, c - 1 :],
        RolloutOptions(kv_cache=bool(spec["kv_cache"]), sparse=bool(spec["sparse"])),
    )
    secs = time.perf_counter() - t0
    rec = {
        "horizon": h,
        "contexts": b,
        "precision": spec["precision"],
        "before_mb": before,  # peak after imports, model load and episode generation
        "peak_mb": _peak_rss_mb(),
        "rollout_mb": _peak_rss_mb() - before,
        "seconds": secs,
        "frames": int(out.latents.shape[0] * out.latents.shape[1]),
    }
    if device == "cuda":
        rec["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return rec


if __name__ == "__main__":  # python -m wmnet.bench.rollout rss '<json spec>'
    if len(sys.argv) != 3 or sys.argv[1] != "rss":
        raise SystemExit("usage: python -m wmnet.bench.rollout rss '<json spec>'")
    print(json.dumps(_rss_child(json.loads(sys.argv[2]))))
