"""Inner training: H AdamW steps on a shard, and the pseudo-gradient they leave.

DiLoCo's inner loop (Douillard et al., "DiLoCo: Distributed Low-Communication
Training of Language Models"): each worker starts from the round's base weights
``theta_0``, takes ``H`` steps of AdamW with fresh optimizer state on its own data,
and reports the pseudo-gradient ``delta = theta_0 - theta_H`` (what the outer step
averages; SparseLoCo compresses it first, ``wmnet.training.compress``).

The loss is the dynamics' teacher-forced next-latent MSE on latents of the frozen
autoencoder (``wmnet.worldmodel.train``'s phase 2 without the decoded-frame term, with
the same input-latent noise): the same loss the validator's Gauntlet scoring measures
(:func:`latent_loss`, noise-free there).

Steps:

1. encode the shard's frames once (the autoencoder is frozen, so latents never change);
2. for each step ``s``: draw ``batch`` windows of ``seq_len`` frames from a generator
   seeded by ``(seed, s)``, add latent noise, loss, backward, clip, AdamW;
3. ``delta = theta_0 - theta_H`` over the trainable tensors (``wmnet.training.params``).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from wmnet.protocol.shard import InnerHyper
from wmnet.training import params
from wmnet.worldmodel.envs.episodes import Episodes
from wmnet.worldmodel.model import WorldModel


@dataclass(frozen=True)
class Latents:
    """A shard as the dynamics sees it: ``z`` ``(N, L+1, c, g, g)``, actions ``(N, L)``."""

    z: torch.Tensor
    actions: torch.Tensor

    @property
    def n_frames(self) -> int:
        return int(self.z.shape[1])


@torch.no_grad()
def encode(model: WorldModel, episodes: Episodes, batch: int = 64) -> Latents:
    """Encode every frame of ``episodes`` with the model's (frozen) autoencoder."""
    z = model.encode_episodes(torch.from_numpy(episodes.frames), batch)
    return Latents(z, torch.from_numpy(episodes.actions).to(model.device))


def latent_loss(
    model: WorldModel,
    z: torch.Tensor,
    actions: torch.Tensor,
    inputs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Teacher-forced next-latent MSE of windows ``z`` ``(B, T, ...)``, actions ``(B, T)``
    (``actions[:, t]`` leads from frame t to t+1; the last is unused). ``inputs`` (the
    same shape as ``z``, e.g. ``z`` plus noise) is what the model sees, ``z`` otherwise;
    the targets are always ``z``."""
    seen = z if inputs is None else inputs
    pred = model.predict(seen[:, :-1], actions[:, :-1], sparse=True)
    return F.mse_loss(pred, z[:, 1:])


def _windows(data: Latents, ep: torch.Tensor, start: torch.Tensor, seq_len: int):
    """``(z, actions)`` of windows ``(ep[i], start[i] .. start[i] + seq_len - 1)``."""
    idx = start[:, None] + torch.arange(seq_len)[None, :]
    # An episode's last frame has no action after it; latent_loss never uses the last
    # action of a window, so clamping its index keeps the gather in range.
    act = idx.clamp(max=data.actions.shape[1] - 1)
    return data.z[ep[:, None], idx], data.actions[ep[:, None], act]


def window_starts(n_frames: int, seq_len: int) -> list[int]:
    """Non-overlapping window starts covering an episode of ``n_frames`` frames."""
    if seq_len > n_frames:
        raise ValueError(f"seq_len {seq_len} is longer than the episodes ({n_frames} frames)")
    return list(range(0, n_frames - seq_len + 1, seq_len))


@torch.no_grad()
def eval_loss(
    model: WorldModel, data: Latents, seq_len: int, batch: int = 64, max_windows: int = 0
) -> float:
    """Mean :func:`latent_loss` over fixed non-overlapping windows (deterministic; the
    first ``max_windows`` of them when that is positive)."""
    starts = window_starts(data.n_frames, seq_len)
    pairs = [(e, s) for e in range(data.z.shape[0]) for s in starts]
    if max_windows > 0:
        pairs = pairs[:max_windows]
    total, count = 0.0, 0
    for i in range(0, len(pairs), batch):
        ep = torch.tensor([p[0] for p in pairs[i : i + batch]])
        st = torch.tensor([p[1] for p in pairs[i : i + batch]])
        loss = latent_loss(model, *_windows(data, ep, st, seq_len))
        total += float(loss) * len(ep)
        count += len(ep)
    return total / count


@dataclass
class InnerResult:
    delta: np.ndarray  # theta_0 - theta_H over the trainable tensors, float32
    losses: list[float] = field(default_factory=list)
    samples: int = 0  # training windows seen
    seconds: float = 0.0


def inner_train(base: WorldModel, data: Latents, hyper: InnerHyper, seed: int) -> InnerResult:
    """Train a copy of ``base`` for ``hyper.inner_steps`` steps; ``base`` is untouched."""
    start = time.perf_counter()
    model = copy.deepcopy(base)
    model.train()
    for p in model.ae.parameters():
        p.requires_grad_(False)
    weights = [p for _, p in params.trainable(model)]
    theta0 = params.flatten(model)
    opt = torch.optim.AdamW(weights, lr=hyper.lr, weight_decay=hyper.weight_decay)
    n_eps, n_frames = data.z.shape[0], data.n_frames
    seq = min(hyper.seq_len, n_frames)
    losses = []
    for step in range(hyper.inner_steps):
        gen = torch.Generator().manual_seed((seed * 1_000_003 + step) % 2**63)
        ep = torch.randint(0, n_eps, (hyper.batch,), generator=gen)
        st = torch.randint(0, n_frames - seq + 1, (hyper.batch,), generator=gen)
        z, actions = _windows(data, ep, st, seq)
        noise = torch.randn(z.shape, generator=gen).to(z.device)
        loss = latent_loss(model, z, actions, z + hyper.latent_noise * noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights, hyper.grad_clip)
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    delta = theta0 - params.flatten(model)
    return InnerResult(delta, losses, hyper.inner_steps * hyper.batch, time.perf_counter() - start)
