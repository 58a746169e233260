"""The rollout API shared by miners (who sell rollouts) and validators (who check them).

* :func:`rollout` — batched: B contexts x T actions -> predicted latents, decoded
  frames and one digest per (context, step). Each step is digested, decoded and turned
  into uint8 as it is produced, so peak memory does not grow with T (sparse pattern:
  the KV cache is bounded by the window too).
* :func:`step` — recompute one step, z_{t+1}, from a given latent history z_0..z_t
  and actions a_0..a_t. Validators call it with the *miner's own* previous latents
  (teacher forcing), so an honest miner's small numeric drift never compounds.

Frame convention: ``context_frames`` are frames 0..C-1; ``context_actions[:, i]`` is
the action taken at frame i (leading to frame i+1) for i < C-1; ``actions[:, j]`` is
the action taken at frame C-1+j. Predicted step j is frame C+j.

Digest: one per (context, step), ``wmnet.protocol.digest.latent_digest`` (version
``wmnet-latent-v1``; the wire format is specified there). It binds the returned latents;
it is *not* a tolerance check, so verification compares latents numerically
(``wmnet.worldmodel.verify``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from wmnet.protocol import digest as wire_digest
from wmnet.protocol.spec import DIGEST_BITS, DIGEST_VERSION
from wmnet.worldmodel.envs.episodes import Episodes
from wmnet.worldmodel.model import WorldModel, as_tensor

__all__ = ["DIGEST_BITS", "DIGEST_VERSION", "latent_digest", "rollout", "step"]


def latent_digest(z: torch.Tensor) -> str:
    """Digest of one step's latent ``(c, g, g)`` (``wmnet.protocol.digest``)."""
    if z.dim() != 3:
        raise ValueError(f"latent_digest expects one (c, g, g) latent, got {tuple(z.shape)}")
    return wire_digest.latent_digest(z.detach().float().cpu().numpy())


def digests(latents: torch.Tensor) -> list[list[str]]:
    """``(B, T, c, g, g)`` -> ``[B][T]`` digests."""
    return [
        [latent_digest(latents[b, t]) for t in range(latents.shape[1])]
        for b in range(latents.shape[0])
    ]


@dataclass(frozen=True)
class RolloutOptions:
    """How to run (not what to compute): caching and the attention pattern.

    ``sparse`` changes the model's attention pattern (a documented, small change in
    output); ``kv_cache`` does not (cached == recomputed within 1e-5 per step in fp32;
    open loop, rounding differences compound over the steps).
    """

    kv_cache: bool = True
    sparse: bool = True
    decode: bool = True
    # attention.BACKENDS: "auto" | "sdpa" | "gather" | "sdpa-banded" | "sdpa-masked" | "flex"
    backend: str = "auto"


@dataclass
class RolloutResult:
    context_latents: torch.Tensor  # (B, C, c, g, g) float32
    latents: torch.Tensor  # (B, T, c, g, g) float32: frames C .. C+T-1
    frames: torch.Tensor | None  # (B, T, 3, H, W) uint8, None if decode=False
    digests: list[list[str]]  # [B][T]


@dataclass
class StepResult:
    latent: torch.Tensor  # (B, c, g, g) float32: z_{t+1}
    digests: list[str]  # [B]


def to_uint8(frames01: torch.Tensor) -> torch.Tensor:
    return torch.round(frames01.clamp(0, 1) * 255).to(torch.uint8)


@torch.inference_mode()
def rollout(
    model: WorldModel,
    context_frames: np.ndarray | torch.Tensor,
    context_actions: np.ndarray | torch.Tensor,
    actions: np.ndarray | torch.Tensor,
    options: RolloutOptions | None = None,
) -> RolloutResult:
    """Roll the model forward T steps from each of B contexts.

    ``context_frames``: ``(B, C, 3, H, W)`` uint8 (or floats in [0, 1]), C >= 1;
    ``context_actions``: ``(B, C-1)`` ints; ``actions``: ``(B, T)`` ints, T >= 1.
    """
    opts = options or RolloutOptions()
    frames = model.check_frames(context_frames, "context_frames")
    if frames.dim() != 5 or frames.shape[0] < 1 or frames.shape[1] < 1:
        raise ValueError(
            f"context_frames must be (B, C, 3, H, W) with B, C >= 1, got {tuple(frames.shape)}"
        )
    b, c = frames.shape[:2]
    acts = as_tensor(actions, "actions")
    if acts.dim() != 2 or acts.shape[0] != b or acts.shape[1] < 1:
        raise ValueError(f"actions must have shape ({b}, T) with T >= 1, got {tuple(acts.shape)}")
    t_steps = int(acts.shape[1])
    acts = model.check_actions(acts, (b, t_steps))
    ctx_acts = model.check_actions(context_actions, (b, c - 1), "context_actions")
    all_acts = torch.cat([ctx_acts, acts], dim=1)  # action at frame i = all_acts[:, i]

    z_ctx = model.encode(frames)
    out = _StreamedOutput(model, b, t_steps, decode=opts.decode)
    if opts.kv_cache:
        steps = model.open_loop(z_ctx, all_acts, t_steps, sparse=opts.sparse, backend=opts.backend)
        for j, z in enumerate(steps):
            out.add(j, z)
    else:
        history = z_ctx
        for j in range(t_steps):
            z = _recompute_next(model, history, all_acts[:, : c + j], opts.sparse, opts.backend)
            out.add(j, z)
            history = torch.cat([history, z[:, None]], dim=1)
    return RolloutResult(
        context_latents=z_ctx.float().cpu(),
        latents=out.latents,
        frames=out.frames,
        digests=out.digests,
    )


class _StreamedOutput:
    """A rollout's outputs, filled step by step as each step's latents are produced.

    Each step is digested, decoded and turned into uint8 right away, so a rollout holds
    only its latents and uint8 frames: peak memory does not grow with the horizon (it
    grew with it when every frame was decoded at once at the end, the decoder's float
    activations for all T frames alive together). Decoding one step at a time gives the
    same frames: the decoder treats every frame on its own.
    """

    def __init__(self, model: WorldModel, b: int, t_steps: int, *, decode: bool) -> None:
        cfg = model.cfg
        self.model = model
        self.latents = torch.empty(b, t_steps, cfg.latent_channels, cfg.grid, cfg.grid)
        self.frames = (
            torch.empty(b, t_steps, 3, cfg.resolution, cfg.resolution, dtype=torch.uint8)
            if decode
            else None
        )
        self.digests: list[list[str]] = [[""] * t_steps for _ in range(b)]

    def add(self, j: int, z: torch.Tensor) -> None:
        """Step ``j``'s latents ``(B, c, g, g)``."""
        self.latents[:, j] = z.float().cpu()
        for i, row in enumerate(self.digests):
            row[j] = latent_digest(z[i])
        if self.frames is not None:
            self.frames[:, j] = to_uint8(self.model.decode(z[:, None]))[:, 0].cpu()


def _recompute_next(
    model: WorldModel, history: torch.Tensor, acts: torch.Tensor, sparse: bool, backend: str
) -> torch.Tensor:
    """z_{t+1} from z_0..z_t without a cache, using only the frames that can matter."""
    n = history.shape[1]
    keep = model.cfg.receptive_frames(sparse) or n
    start = max(0, n - keep)
    out = model.predict(
        history[:, start:], acts[:, start:], sparse=sparse, start_frame=start, backend=backend
    )
    return out[:, -1]


@torch.inference_mode()
def step(
    model: WorldModel,
    latents: np.ndarray | torch.Tensor,
    actions: np.ndarray | torch.Tensor,
    *,
    sparse: bool = True,
    backend: str = "auto",
) -> StepResult:
    """Recompute z_{t+1} from ``latents`` z_0..z_t ``(B, t+1, c, g, g)`` and ``actions``
    a_0..a_t ``(B, t+1)``.

    With ``sparse`` only the last ``cfg.receptive_frames(True)`` frames are used (older
    ones provably cannot influence the result), so a spot check costs O(1) in t.
    """
    z = model.check_latents(latents)
    if z.shape[0] < 1 or z.shape[1] < 1:
        raise ValueError(f"latents must hold at least one frame, got {tuple(z.shape)}")
    acts = model.check_actions(actions, tuple(z.shape[:2]))
    nxt = _recompute_next(model, z, acts, sparse, backend)
    return StepResult(latent=nxt.float().cpu(), digests=[latent_digest(x) for x in nxt])


def rollout_episodes(
    model: WorldModel,
    episodes: Episodes,
    context: int,
    options: RolloutOptions | None = None,
    *,
    batch: int = 16,
    n: int | None = None,
) -> tuple[np.ndarray, torch.Tensor]:
    """Roll out the first ``n`` (default: all) episodes from their first ``context``
    frames under their own later actions, ``batch`` at a time.

    Returns the predicted frames (uint8 ``(n, T, 3, H, W)``, numpy) and latents
    (``(n, T, c, g, g)``), ``T = episodes.length - context + 1``.
    """
    n = episodes.frames.shape[0] if n is None else n
    frames, latents = [], []
    for i in range(0, n, batch):
        sl = slice(i, min(n, i + batch))
        res = rollout(
            model,
            episodes.frames[sl, :context],
            episodes.actions[sl, : context - 1],
            episodes.actions[sl, context - 1 :],
            options,
        )
        frames.append(res.frames)
        latents.append(res.latents)
    return torch.cat(frames).numpy(), torch.cat(latents)
