"""Verification benchmark: what a validator's teacher-forced check costs and catches.

For each horizon (16, 64, 256 predicted steps from 4 seeded context frames, shipped
model, contexts from seeds >= 10**9, far from any training seed):

* ``verify_cost_fraction``: validator seconds per verified rollout (``teacher_forced_
  errors`` with the fp32 reference, context encoding included) / miner seconds to
  generate it (KV-cache sparse rollout at the task's precision, no decoding), both at
  the same batch size. Generation and verification alternate in pairs, repeated; the
  ratio of each pair is one sample, reported as median and min (the machine is shared:
  the min is the least disturbed pair). Headline: fp32 tasks; ``..._by_precision``
  has all three.
* ``detection_rate``: share of lazy rollouts (``wmnet.worldmodel.fakes.lazy_rollout``:
  ``ceil(0.1 T)`` random steps replaced by ``z_t + (z_t - z_{t-1})``, the miner
  continuing from its guess) that fail under the tolerance of the precision they claim
  (claims cycle through fp32, bf16, int8; the lazy miner runs at that precision).
* ``false_rejection_rate``: share of honest rollouts that fail, across precisions,
  torch threads 1 and 2, deterministic mode on and off, batch 16 and batch 1.

Counts: ``honest`` and ``rollouts`` at horizons 16 and 64; at 256, 1/16 of ``honest``
and 1/4 of ``rollouts``; the cost pairs of all three precisions at 64, of fp32 at the
others. Every figure's count is in the output. Each horizon also runs copy-last lazy
miners, and horizon 64 random and other-task answers and a perturbed model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")
CONTEXT_FRAMES = 4
FAKE_FRACTION = 0.1
PERTURB_REL = 0.01  # 1 % multiplicative noise on the dynamics weights: another model


@dataclass(frozen=True)
class HonestConfig:
    """How an honest miner ran: what must never change the verdict."""

    precision: str
    threads: int
    deterministic: bool
    batch: int


def honest_configs(batch: int) -> list[HonestConfig]:
    """Every combination, batch ``batch`` first, then batch 1; precision varies fastest,
    then threads, so that even a short run covers both."""
    return [
        HonestConfig(p, th, det, b)
        for b in dict.fromkeys((batch, 1))
        for det in (False, True)
        for th in (2, 1)
        for p in PRECISIONS
    ]


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def tasks(cfg, n: int, horizon: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` seeded contexts (seeds ``seed..seed+n-1``) and random actions."""
    from wmnet.protocol.rollout import SeededContext
    from wmnet.worldmodel.contexts import context_arrays

    pairs = [
        context_arrays(SeededContext(seed=seed + i, n_frames=CONTEXT_FRAMES), cfg) for i in range(n)
    ]
    frames = np.stack([f for f, _ in pairs])
    ctx_acts = np.stack([a for _, a in pairs])
    acts = np.random.default_rng(seed).integers(0, cfg.n_actions, (n, horizon))
    return frames, ctx_acts, acts


def _generate(model, frames, ctx_acts, acts, batch: int) -> tuple[np.ndarray, np.ndarray]:
    from wmnet.worldmodel.rollout import RolloutOptions, rollout

    opts = RolloutOptions(kv_cache=True, sparse=True, decode=False)
    ctx, lat = [], []
    for i in range(0, len(acts), batch):
        sl = slice(i, i + batch)
        r = rollout(model, frames[sl], ctx_acts[sl], acts[sl], opts)
        ctx.append(r.context_latents.numpy())
        lat.append(r.latents.numpy())
    return np.concatenate(ctx), np.concatenate(lat)


def _inputs(frames, ctx_acts, acts, ctx_lat, lat) -> list:
    from wmnet.worldmodel.verify import VerifyInput

    return [
        VerifyInput(frames[i], ctx_acts[i], acts[i], ctx_lat[i], lat[i]) for i in range(len(acts))
    ]


def _verdicts(errors, precisions) -> np.ndarray:
    from wmnet.protocol.tolerances import TOLERANCES
    from wmnet.worldmodel.verify import passes

    return np.array([passes(e, TOLERANCES[p]) for e, p in zip(errors, precisions, strict=True)])


def _spread(errors) -> dict | None:
    """Largest errors over a set of answers (steps and context); None for no answers."""
    if not errors:
        return None
    return {
        "max_abs": float(max(e.max_abs.max() for e in errors)),
        "rms": float(max(e.rms.max() for e in errors)),
        "context_max_abs": float(max(e.context_max_abs for e in errors)),
        "context_rms": float(max(e.context_rms for e in errors)),
    }


def _cost(
    models, ref, horizon: int, batch: int, repeats: int, seed: int, precisions: tuple[str, ...]
) -> dict:
    from wmnet.worldmodel.verify import teacher_forced_errors

    frames, ctx_acts, acts = tasks(ref.cfg, batch, horizon, seed)
    answers = {p: _generate(models[p], frames, ctx_acts, acts, batch) for p in precisions}
    inputs = {p: _inputs(frames, ctx_acts, acts, *answers[p]) for p in precisions}
    teacher_forced_errors(ref, inputs["fp32"])  # warm-up: mask caches, allocator
    ratios: dict[str, list[float]] = {p: [] for p in precisions}
    gen_s: dict[str, list[float]] = {p: [] for p in precisions}
    ver_s: list[float] = []
    for _ in range(repeats):
        for p in precisions:  # interleaved pairs: load from other processes hits both
            t0 = time.perf_counter()
            _generate(models[p], frames, ctx_acts, acts, batch)
            t1 = time.perf_counter()
            teacher_forced_errors(ref, inputs[p])
            t2 = time.perf_counter()
            ratios[p].append((t2 - t1) / (t1 - t0))
            gen_s[p].append((t1 - t0) / batch)
            ver_s.append((t2 - t1) / batch)
    by_p = {
        p: {
            "median": float(np.median(ratios[p])),
            "min": float(np.min(ratios[p])),
            "miner_s_per_rollout": float(np.median(gen_s[p])),
        }
        for p in precisions
    }
    return {
        "verify_cost_fraction": {k: by_p["fp32"][k] for k in ("median", "min")},
        "verify_cost_fraction_by_precision": by_p,
        "validator_s_per_rollout": float(np.median(ver_s)),
        "cost_batch": batch,
        "cost_repeats": repeats,
    }


def _false_rejections(models, ref, horizon: int, n: int, batch: int, seed: int) -> dict:
    """``n`` honest rollouts spread over :func:`honest_configs`: every 4th chunk is
    4 rollouts generated one at a time (batch 1), the others one batch each."""
    from wmnet.worldmodel.determinism import deterministic
    from wmnet.worldmodel.verify import teacher_forced_errors

    frames, ctx_acts, acts = tasks(ref.cfg, n, horizon, seed)
    configs = honest_configs(batch)
    small = [c for c in configs if c.batch == 1]
    big = [c for c in configs if c.batch > 1] or small
    chunks: list[tuple[slice, HonestConfig]] = []
    i = k = 0
    while i < n:
        conf = small[k // 4 % len(small)] if k % 4 == 3 else big[(k - k // 4) % len(big)]
        size = 4 if conf.batch == 1 else conf.batch
        chunks.append((slice(i, min(n, i + size)), conf))
        i += size
        k += 1
    ctx_lat = np.empty((n, CONTEXT_FRAMES, *_latent_shape(ref)), np.float32)
    lat = np.empty((n, horizon, *_latent_shape(ref)), np.float32)
    precisions: list[str] = [""] * n
    for sl, conf in chunks:
        with _threads(conf.threads), deterministic(conf.deterministic):
            out = _generate(models[conf.precision], frames[sl], ctx_acts[sl], acts[sl], conf.batch)
        ctx_lat[sl], lat[sl] = out
        precisions[sl] = [conf.precision] * (sl.stop - sl.start)
    errors = teacher_forced_errors(ref, _inputs(frames, ctx_acts, acts, ctx_lat, lat))
    ok = _verdicts(errors, precisions)
    per_p = {}
    for p in PRECISIONS:
        sel = [j for j in range(n) if precisions[j] == p]
        per_p[p] = {
            "n": len(sel),
            "rejected": int((~ok[sel]).sum()),
            "honest_max": _spread([errors[j] for j in sel]),
        }
    return {
        "false_rejection_rate": float((~ok).mean()),
        "honest": n,
        "honest_by_precision": per_p,
        "honest_batch1": sum(sl.stop - sl.start for sl, c in chunks if c.batch == 1),
        "honest_threads1": sum(sl.stop - sl.start for sl, c in chunks if c.threads == 1),
        "honest_deterministic": sum(sl.stop - sl.start for sl, c in chunks if c.deterministic),
    }


def _share(flags: list) -> float | None:
    """Share of True among ``flags``; None (JSON null) for none at all."""
    return float(np.mean(flags)) if flags else None


def _latent_shape(model) -> tuple[int, int, int]:
    return (model.cfg.latent_channels, model.cfg.grid, model.cfg.grid)


def _lazy(models, ref, horizon: int, n: int, batch: int, seed: int, kind: str) -> dict:
    """Lazy miners claiming each precision in turn; detection and the faked steps' errors."""
    from wmnet.protocol.tolerances import TOLERANCES
    from wmnet.worldmodel.fakes import lazy_rollout
    from wmnet.worldmodel.verify import teacher_forced_errors

    frames, ctx_acts, acts = tasks(ref.cfg, n, horizon, seed)
    rng = np.random.default_rng(seed + 1)
    k = math.ceil(FAKE_FRACTION * horizon)
    fake = np.zeros((n, horizon), dtype=bool)
    for i in range(n):
        fake[i, rng.choice(horizon, size=k, replace=False)] = True
    precisions = [PRECISIONS[(i // batch) % len(PRECISIONS)] for i in range(n)]
    ctx_lat, lat = [], []
    for i in range(0, n, batch):
        sl = slice(i, i + batch)
        c, z = lazy_rollout(
            models[precisions[i]], frames[sl], ctx_acts[sl], acts[sl], fake[sl], kind
        )
        ctx_lat.append(c)
        lat.append(z)
    inputs = _inputs(frames, ctx_acts, acts, np.concatenate(ctx_lat), np.concatenate(lat))
    errors = teacher_forced_errors(ref, inputs)
    caught = ~_verdicts(errors, precisions)
    fake_max = np.concatenate([e.max_abs[fake[i]] for i, e in enumerate(errors)])
    fake_rms = np.concatenate([e.rms[fake[i]] for i, e in enumerate(errors)])
    step_caught = {
        p: float(((fake_max > TOLERANCES[p].max_abs) | (fake_rms > TOLERANCES[p].rms)).mean())
        for p in PRECISIONS
    }
    return {
        "detection_rate": float(caught.mean()),
        "rollouts": n,
        "faked_steps_per_rollout": k,
        "detection_by_precision": {
            p: _share([caught[i] for i in range(n) if precisions[i] == p]) for p in PRECISIONS
        },
        "faked_min": {"max_abs": float(fake_max.min()), "rms": float(fake_rms.min())},
        "faked_step_caught_by_tolerance": step_caught,
    }


def _other_fakes(models, ref, horizon: int, n: int, batch: int, seed: int) -> dict:
    """Random latents, another task's answer, and a perturbed model's answers (fp32)."""
    from wmnet.worldmodel.fakes import perturbed_model, random_latents
    from wmnet.worldmodel.verify import teacher_forced_errors

    frames, ctx_acts, acts = tasks(ref.cfg, n, horizon, seed)
    ctx_lat, lat = _generate(models["fp32"], frames, ctx_acts, acts, batch)
    rng = np.random.default_rng(seed)
    other = np.roll(np.arange(n), 1)
    variants = {
        "random": (ctx_lat, random_latents(lat.shape, rng)),
        "other_task": (ctx_lat[other], lat[other]),
        # Cheaper to fake: the right context latents, another task's predictions.
        "other_task_own_context": (ctx_lat, lat[other]),
        "perturbed_model": _generate(
            perturbed_model(models["fp32"], PERTURB_REL, seed), frames, ctx_acts, acts, batch
        ),
    }
    out: dict = {"rollouts": n, "perturb_rel": PERTURB_REL}
    for name, (c, z) in variants.items():
        errors = teacher_forced_errors(ref, _inputs(frames, ctx_acts, acts, c, z))
        out[name] = {
            "rejected_under": {p: float(np.mean(~_verdicts(errors, [p] * n))) for p in PRECISIONS},
            "median_step_max_abs": float(np.median([e.max_abs for e in errors])),
            "median_step_rms": float(np.median([e.rms for e in errors])),
        }
    return out


def run_verify_bench(
    *,
    horizons: tuple[int, ...] = (16, 64, 256),
    rollouts: int = 200,
    honest: int = 1000,
    batch: int = 16,
    repeats: int = 3,
    seed: int = 2_000_000_000,
    progress: Callable[[str], None] | None = None,
    device: str = "cpu",
) -> dict:
    """All figures; the horizon-64 ones at the top level, every horizon under ``h<T>``.

    ``progress`` receives one line per finished part (the CLI prints them to stderr).
    ``device``: where miner and validator models run (the CLI refuses ``cuda`` without
    a CUDA device; not yet measured on one).
    """
    from wmnet.worldmodel.checkpoint import default_model_id, load_default
    from wmnet.worldmodel.quant import quantize

    say = progress or (lambda _line: None)
    started = time.perf_counter()
    ref = load_default().to(device).eval()
    models = {p: quantize(ref, p).to(device).eval() for p in PRECISIONS}
    out: dict = {
        "device": device,
        "model_id": default_model_id(),
        "threads": torch.get_num_threads(),
        "context_frames": CONTEXT_FRAMES,
        "horizons": list(horizons),
    }
    for h_i, h in enumerate(horizons):
        # Horizon 64 gets the full counts; the others about a quarter of its verified
        # frames (16: all rollouts, being short; 256: 1/16 honest, 1/4 lazy), so that
        # the whole run stays within minutes on 2 cores.
        n_honest = honest if h <= 64 else max(1, honest // 16)
        n_lazy = rollouts if h <= 64 else max(1, rollouts // 4)
        base = seed + 10_000_000 * h_i
        cost_p = PRECISIONS if h == 64 else ("fp32",)
        res = _cost(models, ref, h, batch, repeats, base, cost_p)
        say(f"h{h}: cost {res['verify_cost_fraction']} ({time.perf_counter() - started:.0f} s)")
        res.update(_false_rejections(models, ref, h, n_honest, batch, base + 10**6))
        say(f"h{h}: false rejections {res['false_rejection_rate']} of {res['honest']}")
        res.update(_lazy(models, ref, h, n_lazy, batch, base + 2 * 10**6, "extrapolate"))
        say(f"h{h}: detection {res['detection_rate']} of {res['rollouts']}")
        copy = _lazy(models, ref, h, max(3, n_lazy // 4), batch, base + 3 * 10**6, "copy")
        res["copy_last"] = {k: copy[k] for k in ("detection_rate", "rollouts", "faked_min")}
        if h == 64:
            res["other_fakes"] = _other_fakes(models, ref, h, batch, batch, base + 4 * 10**6)
        say(f"h{h}: done ({time.perf_counter() - started:.0f} s)")
        out[f"h{h}"] = res
    top = out.get("h64") or out[f"h{horizons[0]}"]
    for key in ("verify_cost_fraction", "detection_rate", "false_rejection_rate"):
        out[key] = top[key]
    out["seconds"] = time.perf_counter() - started
    return out
