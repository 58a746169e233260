"""The validator's check of a rollout answer: teacher-forced recomputation of every step.

The idea is prefill-style verification, as TOPLOC validates LLM decoding: generating
a rollout is T sequential steps, but checking it is *one* parallel forward pass. The
validator feeds the miner's own history ``z_0..z_{C+T-2}`` (the miner's context
latents, then its predicted latents) with the actions through its fp32 reference model
without a cache; the pass predicts ``z_{t+1}`` for every input frame ``t`` at once
(``WorldModel.predict``), and the prediction for frame ``C+j`` is compared with the
miner's ``latents[j]``. Because every step is predicted from the miner's *own* previous
latents (teacher forcing), an honest miner's small numeric drift (batching, threads,
bf16/int8, another device) never compounds: each step's error is one step's rounding.
The context latents are compared with the validator's own encoding of the context
frames. With the banded sparse attention (``wmnet.worldmodel.attention``) the pass is
linear in the horizon: it does the arithmetic of the miner's KV-cache decoding in one
pass instead of T small ones, so on 2 CPU cores it costs about what generating costs at
batch 16 (both compute-bound there) and less than half of it at batch 1 (``wmnet bench
verify``; docs/validator.md, "Verification and tolerances").

Metric: per step, ``d = latents[j] - z_ref[j]`` in absolute latent units (latents are
tanh-bounded to [-1, 1]): ``max_abs = max|d|`` and ``rms = sqrt(mean(d**2))``; a step
passes under :class:`wmnet.protocol.tolerances.Tolerance` when both are within bounds.

Spot checks: ``steps`` restricts the pass to sampled step indices and computes only the
frames they need (each sampled step's history back over the receptive field,
``cfg.receptive_frames(True)`` frames, overlapping windows merged). If a fraction ``f``
of a rollout's steps is faked and ``k`` steps are sampled uniformly, the chance that at
least one faked step is sampled is ``1 - (1 - f)**k`` (sampling with replacement; it is
higher without): ``f = 0.1`` needs ``k = 44`` for 0.99. A sampled step costs its 45-frame
receptive field, so sampling saves little below a few hundred steps: the default checks
every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from wmnet.protocol.tolerances import CONTEXT_TOLERANCE, Tolerance
from wmnet.worldmodel.model import WorldModel

# Frames (batch x history) per forward pass. Bigger passes stop paying off once the
# activations leave the caches: on 2 CPU cores, 16 rollouts of 68 frames in one pass ran
# as fast as in 8 (~470 frames/s), 60 in one pass at ~180 frames/s.
MAX_FRAMES_PER_PASS = 1088


@dataclass(frozen=True)
class VerifyInput:
    """One rollout to check: the task's context and actions, and the miner's answer."""

    context_frames: np.ndarray  # (C, 3, H, W) uint8
    context_actions: np.ndarray  # (C-1,) int
    actions: np.ndarray  # (T,) int
    context_latents: np.ndarray  # (C, c, g, g) float32, the miner's
    latents: np.ndarray  # (T, c, g, g) float32, the miner's


@dataclass(frozen=True)
class StepErrors:
    """Distance of a miner's answer from the reference. A step that was not checked
    (``steps`` given) holds NaN."""

    max_abs: np.ndarray  # (T,) per predicted step: max |miner - reference|
    rms: np.ndarray  # (T,)
    context_max_abs: float
    context_rms: float


def _checked_latents(model: WorldModel, arr: np.ndarray, n: int, name: str) -> torch.Tensor:
    """The miner's ``(n, c, g, g)`` latents as float32, or ValueError (scored 0)."""
    c, g = model.cfg.latent_channels, model.cfg.grid
    x = np.asarray(arr)
    if x.shape != (n, c, g, g):
        raise ValueError(f"{name} must have shape {(n, c, g, g)}, got {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be floating point, got {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _task_shape(inp: VerifyInput) -> tuple[int, int]:
    frames, ctx_acts, acts = (
        np.asarray(x) for x in (inp.context_frames, inp.context_actions, inp.actions)
    )
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise ValueError(f"context_frames must be (C, 3, H, W) with C >= 1, got {frames.shape}")
    c = frames.shape[0]
    if ctx_acts.shape != (c - 1,):
        raise ValueError(f"context_actions must have shape ({c - 1},), got {ctx_acts.shape}")
    if acts.ndim != 1 or acts.shape[0] < 1:
        raise ValueError(f"actions must have shape (T,) with T >= 1, got {acts.shape}")
    return c, acts.shape[0]


def _segments(steps: Sequence[int], c: int, t: int, receptive: int) -> list[tuple[int, int]]:
    """History frame ranges ``[start, end)`` whose pass predicts the sampled steps.

    Step ``j`` (frame ``c + j``) is predicted at history frame ``c + j - 1`` and depends on
    history frames ``c + j - receptive .. c + j - 1`` only; overlapping or touching ranges
    are merged so that no frame is computed twice.
    """
    out: list[tuple[int, int]] = []
    for j in sorted(set(steps)):
        if not 0 <= j < t:
            raise ValueError(f"step {j} outside the horizon [0, {t})")
        start, end = max(0, c + j - receptive), c + j
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


@torch.inference_mode()
def _group_errors(
    model: WorldModel,
    group: list[VerifyInput],
    c: int,
    t: int,
    steps: Sequence[int] | None,
    backend: str,
) -> list[StepErrors]:
    """Errors of rollouts sharing ``(C, T)``, in one forward pass per history segment."""
    dev = model.device
    ctx_lat = torch.stack(
        [_checked_latents(model, x.context_latents, c, "context_latents") for x in group]
    ).to(dev)
    lat = torch.stack([_checked_latents(model, x.latents, t, "latents") for x in group]).to(dev)
    frames = model.check_frames(np.stack([np.asarray(x.context_frames) for x in group]))
    b = len(group)
    ctx_acts = model.check_actions(
        np.stack([np.asarray(x.context_actions).reshape(c - 1) for x in group]),
        (b, c - 1),
        "context_actions",
    )
    acts = model.check_actions(np.stack([np.asarray(x.actions) for x in group]), (b, t))

    ctx_diff = (ctx_lat - model.encode(frames).float()).double().flatten(1)
    # History z_0..z_{C+T-2} and the action taken at each of those frames.
    hist = torch.cat([ctx_lat, lat[:, : t - 1]], dim=1)
    hist_acts = torch.cat([ctx_acts, acts], dim=1)[:, : c + t - 1]
    ref = torch.full_like(lat, float("nan"))
    if steps is None:
        ref = model.predict(hist, hist_acts, sparse=True, backend=backend)[:, c - 1 :]
    else:
        receptive = model.cfg.receptive_frames(True) or (c + t)
        for start, end in _segments(steps, c, t, receptive):
            pred = model.predict(
                hist[:, start:end],
                hist_acts[:, start:end],
                sparse=True,
                start_frame=start,
                backend=backend,
            )
            # History frame i predicts frame i + 1, i.e. step i + 1 - c; it is exact only
            # when its whole receptive field lies in the segment (always from frame 0).
            first = max(c - 1, start + receptive - 1 if start else 0)
            ref[:, first + 1 - c : end + 1 - c] = pred[:, first - start :]
    diff = (lat - ref.float()).double().flatten(2)  # NaN where not checked
    max_abs = diff.abs().amax(dim=2).cpu().numpy()
    rms = diff.square().mean(dim=2).sqrt().cpu().numpy()
    ctx_max = ctx_diff.abs().amax(dim=1).cpu().numpy()
    ctx_rms = ctx_diff.square().mean(dim=1).sqrt().cpu().numpy()
    return [
        StepErrors(
            max_abs=max_abs[i],
            rms=rms[i],
            context_max_abs=float(ctx_max[i]),
            context_rms=float(ctx_rms[i]),
        )
        for i in range(b)
    ]


def teacher_forced_errors(
    model: WorldModel,
    inputs: Sequence[VerifyInput],
    steps: Sequence[int] | None = None,
    *,
    backend: str = "auto",
) -> list[StepErrors]:
    """Per-step errors of each answer against ``model`` (the fp32 reference), in order.

    Inputs of equal ``(C, T)`` share forward passes (up to ``MAX_FRAMES_PER_PASS``
    frames each). ``steps``: predicted-step indices to check in every input (default:
    all). ValueError when an answer's latents have the wrong shape or are not finite
    (the caller scores it 0), or when a task's arrays or ``steps`` do not fit.
    ``backend``: the attention kernel (``wmnet.worldmodel.attention.attend``).
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for i, inp in enumerate(inputs):
        groups.setdefault(_task_shape(inp), []).append(i)
    out: list[StepErrors | None] = [None] * len(inputs)
    for (c, t), idx in groups.items():
        per_pass = max(1, MAX_FRAMES_PER_PASS // (c + t))
        for lo in range(0, len(idx), per_pass):
            chunk = idx[lo : lo + per_pass]
            errs = _group_errors(model, [inputs[i] for i in chunk], c, t, steps, backend)
            for i, e in zip(chunk, errs, strict=True):
                out[i] = e
    return [e for e in out if e is not None]


def passes(errors: StepErrors, tol: Tolerance, steps: Sequence[int] | None = None) -> bool:
    """True when every checked step is within ``tol`` and the context within ``tol`` and
    ``CONTEXT_TOLERANCE`` (the autoencoder is fp32 at every precision).

    ``steps``: the step indices to judge (each must have been checked); default: every
    step that was checked (non-NaN). Errors are compared with ``<=`` so an exact answer
    passes a zero tolerance.
    """
    ctx_max_abs = min(tol.max_abs, CONTEXT_TOLERANCE.max_abs)
    ctx_rms = min(tol.rms, CONTEXT_TOLERANCE.rms)
    if not (errors.context_max_abs <= ctx_max_abs and errors.context_rms <= ctx_rms):
        return False
    if steps is None:
        sel = ~np.isnan(errors.max_abs)
    else:
        sel = np.asarray(sorted(set(steps)), dtype=np.int64)
    # NaN (a requested step that was not checked) fails the comparison, as it should.
    return bool(np.all(errors.max_abs[sel] <= tol.max_abs) and np.all(errors.rms[sel] <= tol.rms))
