"""Cheap dishonest answers that verification must reject, and a slightly wrong model.

Calibration (``wmnet bench verify``) and the tests of ``wmnet.worldmodel.verify`` build
their fakes here, so both measure the same adversaries:

* :func:`lazy_rollout`: a miner that computes most steps but fakes a chosen few with a
  cheap guess, *continuing from its guess* (the faked latent goes into its history and
  KV cache, so every later step is honest given that history and only the faked steps
  themselves are wrong, the hardest case for teacher forcing to catch). Guesses:
  ``"extrapolate"`` ``z_t + (z_t - z_{t-1})`` and ``"copy"`` ``z_t``;
* :func:`random_latents`: noise in the latents' range;
* :func:`perturbed_model`: the model with small multiplicative noise on its dynamics
  weights, i.e. a *different* model that an fp32 answer must not pass for.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from wmnet.worldmodel.dynamics import KVCache
from wmnet.worldmodel.model import WorldModel

GUESSES: tuple[str, ...] = ("extrapolate", "copy")


def _guess(kind: str, last: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    if kind == "extrapolate":
        return last + (last - before)
    if kind == "copy":
        return last
    raise ValueError(f"guess must be one of {GUESSES}, got {kind!r}")


@torch.inference_mode()
def lazy_rollout(
    model: WorldModel,
    context_frames: np.ndarray,
    context_actions: np.ndarray,
    actions: np.ndarray,
    fake: np.ndarray,
    kind: str = "extrapolate",
) -> tuple[np.ndarray, np.ndarray]:
    """A KV-cache sparse rollout (as ``wmnet.worldmodel.rollout.rollout``) whose steps
    where ``fake`` ``(B, T)`` is True are replaced by a guess from the two latents
    before them. Returns ``(context_latents (B, C, c, g, g), latents (B, T, c, g, g))``
    float32; with no step faked the latents equal an honest rollout's."""
    frames = model.check_frames(context_frames, "context_frames")
    b, c = frames.shape[:2]
    t = actions.shape[1]
    acts = torch.cat(
        [
            model.check_actions(context_actions, (b, c - 1), "context_actions"),
            model.check_actions(actions, (b, t)),
        ],
        dim=1,
    )
    mask = torch.as_tensor(np.asarray(fake, dtype=bool), device=frames.device)
    if tuple(mask.shape) != (b, t):
        raise ValueError(f"fake must have shape ({b}, {t}), got {tuple(mask.shape)}")
    z_ctx = model.encode(frames)
    before = z_ctx[:, -2] if c > 1 else z_ctx[:, -1]
    cache = KVCache()
    z = model.predict(z_ctx, acts[:, :c], sparse=True, cache=cache)[:, -1]
    last = z_ctx[:, -1]
    preds = []
    for j in range(t):
        if j:
            z = model.predict(z[:, None], acts[:, c - 1 + j : c + j], sparse=True, cache=cache)
            z = z[:, 0]
        z = torch.where(mask[:, j, None, None, None], _guess(kind, last, before), z)
        preds.append(z)
        before, last = last, z
    lat = torch.stack(preds, dim=1)
    return z_ctx.float().cpu().numpy(), lat.float().cpu().numpy()


def random_latents(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Uniform noise in [-1, 1], the range of the tanh-bounded latents."""
    return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)


def perturbed_model(model: WorldModel, rel: float, seed: int = 0) -> WorldModel:
    """A copy whose dynamics weights are multiplied by ``1 + rel * N(0, 1)``
    (element-wise): a different model of the same shape."""
    out = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in out.dynamics.parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            p.mul_(1.0 + rel * noise.to(p.device, p.dtype))
    return out
