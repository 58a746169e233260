"""Training: autoencoder first, then dynamics on frozen latents. Seeded and resumable.

Two phases because the dynamics needs a stable latent space to learn in: phase 1
trains the autoencoder on single frames (pixel MSE); phase 2 freezes it and trains the
transformer with teacher forcing (latent MSE + decoded-frame MSE of the prediction).
Two tricks keep open-loop rollouts stable: Gaussian noise on the input latents (the
model learns to correct small errors instead of compounding them) and a random choice
of dense or sparse attention per step (one set of weights serves both patterns, so
the dense baseline and the sparse fast path are the same model). With ``open_loop``
the loss is a rollout's own error instead: the window's last frames are predicted one
after another from the model's previous predictions, through the KV cache as in
inference, with gradients through the whole chain (backpropagation through time; a
12-frame rollout costs about what a teacher-forced pass over the same frames does,
because the cache makes each step process one frame).

Resuming: a state file holds weights, both optimizers and the step; batches are drawn
from a generator seeded by (seed, step), so a resumed run sees the same batches as an
uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import pickle
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.data import make_episodes
from wmnet.worldmodel.model import WorldModel


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    n_episodes: int = 256
    episode_len: int = 24
    seq_len: int = 10  # frames per training window
    batch: int = 16
    ae_steps: int = 300
    dyn_steps: int = 600
    lr: float = 2e-3
    latent_noise: float = 0.03
    sparse_prob: float = 0.5
    frame_loss_weight: float = 1.0
    object_weight: float = 20.0  # extra pixel-loss weight on non-background pixels
    # Extra dynamics frame-loss weight on "ghost" pixels, where the prediction shows an
    # object and the true frame does not (object_weighted_mse); 0: as the autoencoder.
    ghost_weight: float = 0.0
    # Open-loop loss as the mean over steps of log(step loss): every step's *relative*
    # error counts alike (`wmnet model eval` compares each step with a baseline), where a
    # plain sum is dominated by the late steps' large errors.
    log_step_loss: bool = False
    # Open-loop passes per dynamics step: the model's own (detached) predictions are fed
    # back as inputs and the loss is taken again, so it learns to undo its own drift.
    unroll: int = 0
    # Frames at the end of each window predicted open loop, each from the model's own
    # previous predictions through the KV cache, with gradients through the whole chain
    # (0: teacher forcing). The loss is then the rollout's error, the thing `wmnet model
    # eval` scores; teacher forcing never shows the model its own drift.
    open_loop: int = 0
    save_every: int = 100
    device: str = "cpu"  # not part of the run identity: a run may resume elsewhere

    @property
    def total_steps(self) -> int:
        return self.ae_steps + self.dyn_steps


@dataclass
class TrainResult:
    model: WorldModel
    losses: list[float] = field(default_factory=list)  # one per step, both phases
    steps: int = 0
    resumed_from: int = 0


def _lr(step: int, phase_start: int, phase_len: int, base: float) -> float:
    """Linear warm-up then cosine decay, restarted per phase."""
    i = step - phase_start
    warm = max(1, phase_len // 20)
    if i < warm:
        return base * (i + 1) / warm
    return base * 0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, phase_len - warm)))


def _batch(
    frames: torch.Tensor,
    actions: torch.Tensor,
    seq: int,
    n: int,
    gen: torch.Generator,
    latents: torch.Tensor | None = None,
):
    """``n`` random windows of ``seq`` frames: frames in [0, 1], actions, latents."""
    ep = torch.randint(0, frames.shape[0], (n,), generator=gen)
    start = torch.randint(0, frames.shape[1] - seq + 1, (n,), generator=gen)
    idx = start[:, None] + torch.arange(seq)[None, :]
    f = frames[ep[:, None], idx].float() / 255.0  # (n, seq, 3, H, W)
    a = actions[ep[:, None], idx.clamp(max=actions.shape[1] - 1)]
    z = None if latents is None else latents[ep[:, None], idx]
    return f, a, z


def object_weighted_mse(
    pred: torch.Tensor, target: torch.Tensor, boost: float, ghost_boost: float = 0.0
) -> torch.Tensor:
    """Pixel MSE with object pixels weighted ``1 + boost``, per frame (``(..., 3, H, W)``
    -> ``(...)``; ``.mean()`` it for one number).

    Objects are a few percent of the pixels: with a plain MSE the autoencoder first
    settles on "background everywhere" and stays there for hundreds of steps (measured:
    0.0235 MSE after 300 steps, the mean-frame error). The background is estimated as
    the per-channel median of each frame, which works for ballworld and Atari alike.
    Object pixels are those unlike the background in the true frame; pixels where only
    the prediction shows an object ("ghosts") weigh ``1 + ghost_boost``. With
    ``ghost_boost`` 0 painting an object where there is none costs 1/(1 + boost) of
    missing one, and a dynamics model trained so smears uncertain objects across the
    frame (seen in open-loop rollouts); ``ghost_boost = boost`` prices both alike, and
    then it fades them instead (docs/worldmodel.md, "Shipped model").
    """
    flat = target.flatten(-2)
    bg = flat.median(dim=-1).values[..., None, None]
    fg = (target - bg).abs().sum(dim=-3, keepdim=True) > 0.1
    weight = 1.0 + boost * fg.to(target.dtype)
    if ghost_boost:
        ghost = ((pred.detach() - bg).abs().sum(dim=-3, keepdim=True) > 0.1) & ~fg
        weight = weight + ghost_boost * ghost.to(target.dtype)
    return (weight * (pred - target) ** 2).mean(dim=(-3, -2, -1))


def train(
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    state_path: str | Path | None = None,
    on_step: Callable[[int, int, float], None] | None = None,
    init: WorldModel | None = None,
) -> TrainResult:
    """Train from scratch, or resume from ``state_path`` if it holds a matching run.

    ``on_step(step, total, loss)`` is called after every step (the CLI draws its
    progress bar with it; this module stays free of UI libraries).
    """
    if cfg.seq_len < 2 or cfg.seq_len > cfg.episode_len + 1:
        raise ValueError("seq_len must be in [2, episode_len + 1]")
    if cfg.open_loop < 0 or cfg.open_loop > cfg.seq_len - 1:
        raise ValueError("open_loop must be in [0, seq_len - 1] (at least one context frame)")
    if cfg.ghost_weight < 0:
        raise ValueError("ghost_weight must be >= 0")
    if cfg.log_step_loss and not cfg.open_loop:
        raise ValueError("log_step_loss weighs open-loop steps: set open_loop too")
    if cfg.open_loop and cfg.unroll:
        raise ValueError("open_loop and unroll are alternatives: set one of them")
    torch.manual_seed(cfg.seed)
    model = WorldModel(model_cfg)
    if init is not None:  # fine-tune: start from given weights (e.g. ae_steps=0)
        model.load_state_dict(init.state_dict())
    opt_ae = torch.optim.AdamW(model.ae.parameters(), lr=cfg.lr, weight_decay=0.0)
    opt_dyn = torch.optim.AdamW(model.dynamics.parameters(), lr=cfg.lr, weight_decay=0.01)
    result = TrainResult(model=model)
    ident = {k: v for k, v in asdict(cfg).items() if k != "device"}
    run_id = json.dumps([ident, model_cfg.to_json()], sort_keys=True)
    if state_path is not None and Path(state_path).is_file():
        # weights_only: a state file is data (tensors, numbers, strings), never code;
        # unpickling arbitrary objects from a file on disk would run whatever it holds.
        try:
            state = torch.load(state_path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise ValueError(
                f"{state_path} is not a training state this version wrote (it holds objects "
                f"other than tensors and plain data; refused to unpickle them): {error}"
            ) from None
        if state.get("run_id") != run_id:
            raise ValueError(f"{state_path} belongs to a different run (configs differ)")
        model.load_state_dict(state["model"])
        opt_ae.load_state_dict(state["opt_ae"])
        opt_dyn.load_state_dict(state["opt_dyn"])
        result.losses = list(state["losses"])
        result.steps = result.resumed_from = int(state["step"])
    dev = torch.device(cfg.device)
    model.to(dev)
    for opt in (opt_ae, opt_dyn):  # optimizer state follows its parameters
        for st in opt.state.values():
            for k, v in st.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    st[k] = v.to(dev)

    eps = make_episodes(
        model_cfg.env, cfg.n_episodes, cfg.episode_len, cfg.seed, model_cfg.resolution
    )
    if eps.n_actions != model_cfg.n_actions:
        raise ValueError(
            f"env has {eps.n_actions} actions, model config says {model_cfg.n_actions}"
        )
    frames = torch.from_numpy(eps.frames)
    actions = torch.from_numpy(eps.actions)
    latents: torch.Tensor | None = None  # every frame encoded once the encoder is frozen

    def save(step: int) -> None:
        if state_path is None:
            return
        tmp = f"{state_path}.tmp"
        torch.save(
            {
                "run_id": run_id,
                "model": model.state_dict(),
                "opt_ae": opt_ae.state_dict(),
                "opt_dyn": opt_dyn.state_dict(),
                "losses": result.losses,
                "step": step,
            },
            tmp,
        )
        os.replace(tmp, state_path)

    model.train()
    for step in range(result.steps, cfg.total_steps):
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        if step < cfg.ae_steps:
            f, _, _ = _batch(frames, actions, 1, cfg.batch * 4, gen)
            x = f[:, 0].to(dev)
            loss = object_weighted_mse(model.ae(x), x, cfg.object_weight).mean()
            opt, phase = opt_ae, (0, cfg.ae_steps)
        else:
            if latents is None:
                for p in model.ae.decoder.parameters():  # the frame loss trains no decoder
                    p.requires_grad_(False)
                # The dynamics phase never updates the encoder: encode every frame once
                # (encoding each batch again gave the same latents at several times the
                # cost per step).
                latents = model.encode_episodes(frames)
            f, a, z = _batch(frames, actions, cfg.seq_len, cfg.batch, gen, latents)
            f, a, z = f.to(dev), a.to(dev), z.to(dev)
            noisy = z + cfg.latent_noise * torch.randn(z.shape, generator=gen).to(dev)
            sparse = bool(torch.rand((), generator=gen) < cfg.sparse_prob)
            loss = _dynamics_loss(model, cfg, f, a, z, noisy, sparse)
            opt, phase = opt_dyn, (cfg.ae_steps, cfg.dyn_steps)
        for group in opt.param_groups:
            group["lr"] = _lr(step, phase[0], phase[1], cfg.lr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        result.losses.append(loss.item())
        result.steps = step + 1
        if (step + 1) % cfg.save_every == 0:
            save(step + 1)
        if on_step is not None:
            on_step(step + 1, cfg.total_steps, result.losses[-1])
    for p in model.parameters():
        p.requires_grad_(True)
    save(result.steps)
    model.eval()
    return result


def _dynamics_loss(
    model: WorldModel,
    cfg: TrainConfig,
    f: torch.Tensor,
    a: torch.Tensor,
    z: torch.Tensor,
    noisy: torch.Tensor,
    sparse: bool,
) -> torch.Tensor:
    """One batch's dynamics loss: frames ``f``, actions ``a``, latents ``z`` and the
    noisy latents ``noisy`` the model sees, all ``(B, seq_len, ...)``."""

    def step_losses(pred: torch.Tensor, first: int) -> torch.Tensor:
        """Latent MSE plus weighted frame loss of each predicted frame: ``(T,)``."""
        per_step = (pred - z[:, first:]).square().mean(dim=(0, 2, 3, 4))
        if cfg.frame_loss_weight:
            frames = model.decode(pred)
            frame_loss = object_weighted_mse(
                frames, f[:, first:], cfg.object_weight, cfg.ghost_weight
            )
            per_step = per_step + cfg.frame_loss_weight * frame_loss.mean(dim=0)
        return per_step

    if cfg.open_loop:
        first = cfg.seq_len - cfg.open_loop
        steps = model.open_loop(noisy[:, :first], a, cfg.open_loop, sparse=sparse)
        per_step = step_losses(torch.stack(list(steps), dim=1), first)
        return per_step.log().mean() if cfg.log_step_loss else per_step.mean()
    pred = model.predict(noisy[:, :-1], a[:, :-1], sparse=sparse)
    loss = step_losses(pred, 1).mean()
    for _ in range(cfg.unroll):
        fed = torch.cat([noisy[:, :1], pred[:, :-1].detach()], dim=1)
        pred = model.predict(fed, a[:, :-1], sparse=sparse)
        loss = loss + step_losses(pred, 1).mean()
    return loss


def smoothed(losses: list[float], window: int = 20) -> np.ndarray:
    """Moving average, for showing that the loss falls."""
    x = np.asarray(losses, dtype=np.float64)
    if len(x) < window:
        return x
    return np.convolve(x, np.ones(window) / window, mode="valid")
