"""The world model: autoencoder + dynamics, plus the input checks every entry point uses."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from wmnet.worldmodel.autoencoder import AutoEncoder
from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.dynamics import Dynamics, KVCache


def as_tensor(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    if isinstance(x, torch.Tensor):
        return x
    raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")


class WorldModel(nn.Module):
    """Action-conditioned world model. ``precision`` says how its weights are stored."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.ae = AutoEncoder(cfg)
        self.dynamics = Dynamics(cfg)
        self.precision = "fp32"

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- checks: clear ValueErrors instead of shape tracebacks deep in torch ---------

    def check_frames(self, frames: np.ndarray | torch.Tensor, name: str = "frames") -> torch.Tensor:
        """Validate ``(..., 3, H, W)`` frames (uint8, or floats in [0, 1]) -> float in [0, 1]."""
        x = as_tensor(frames, name)
        res = self.cfg.resolution
        if x.dim() < 4 or tuple(x.shape[-3:]) != (3, res, res):
            raise ValueError(
                f"{name} must have shape (..., 3, {res}, {res}) for this model, "
                f"got {tuple(x.shape)}"
            )
        if x.dtype == torch.uint8:
            return x.to(self.device, torch.float32) / 255.0
        if not x.is_floating_point():
            raise ValueError(f"{name} must be uint8 or floating point, got {x.dtype}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
            raise ValueError(f"float {name} must lie in [0, 1]")
        return x.to(self.device, torch.float32)

    def check_actions(
        self, actions: np.ndarray | torch.Tensor, shape: tuple[int, ...], name: str = "actions"
    ) -> torch.Tensor:
        a = as_tensor(actions, name)
        if a.is_floating_point() or a.is_complex() or a.dtype == torch.bool:
            raise ValueError(f"{name} must be integers, got {a.dtype}")
        if tuple(a.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(a.shape)}")
        if a.numel() and (int(a.min()) < 0 or int(a.max()) >= self.cfg.n_actions):
            raise ValueError(
                f"{name} must lie in [0, {self.cfg.n_actions}), got range "
                f"[{int(a.min())}, {int(a.max())}]"
            )
        return a.to(self.device, torch.int64)

    def check_latents(
        self, latents: np.ndarray | torch.Tensor, name: str = "latents"
    ) -> torch.Tensor:
        z = as_tensor(latents, name)
        c, g = self.cfg.latent_channels, self.cfg.grid
        if z.dim() != 5 or tuple(z.shape[2:]) != (c, g, g):
            raise ValueError(f"{name} must have shape (B, T, {c}, {g}, {g}), got {tuple(z.shape)}")
        if not z.is_floating_point():
            raise ValueError(f"{name} must be floating point, got {z.dtype}")
        if not bool(torch.isfinite(z).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
        return z.to(self.device, torch.float32)

    # --- compute ----------------------------------------------------------------------

    def encode(self, frames01: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, H, W)`` floats in [0, 1] -> latents ``(B, T, c, g, g)``."""
        b, t = frames01.shape[:2]
        return self.ae.encoder(frames01.flatten(0, 1)).unflatten(0, (b, t))

    @torch.no_grad()
    def encode_episodes(self, frames: torch.Tensor, batch: int = 64) -> torch.Tensor:
        """uint8 ``(N, L, 3, H, W)`` -> latents ``(N, L, c, g, g)`` on the model's device,
        ``batch`` episodes at a time and without autograd (the latents are data)."""
        parts = []
        for i in range(0, frames.shape[0], batch):
            parts.append(self.encode(frames[i : i + batch].to(self.device, torch.float32) / 255.0))
        return torch.cat(parts)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, T, c, g, g)`` -> frames ``(B, T, 3, H, W)`` floats in [0, 1]."""
        b, t = z.shape[:2]
        return self.ae.decoder(z.flatten(0, 1)).unflatten(0, (b, t))

    def predict(
        self,
        z: torch.Tensor,
        actions: torch.Tensor,
        *,
        sparse: bool,
        start_frame: int = 0,
        cache: KVCache | None = None,
        backend: str = "auto",
    ) -> torch.Tensor:
        """Next-latent predictions for each frame of ``z`` (see :meth:`Dynamics.forward`)."""
        return self.dynamics(
            z, actions, sparse=sparse, start_frame=start_frame, cache=cache, backend=backend
        )

    def open_loop(
        self,
        z_ctx: torch.Tensor,
        actions: torch.Tensor,
        horizon: int,
        *,
        sparse: bool,
        backend: str = "auto",
    ) -> Iterator[torch.Tensor]:
        """The latents ``(B, c, g, g)`` of ``horizon`` steps after the context ``z_ctx``
        ``(B, C, ...)``, one per iteration, each predicted from the previous one through
        a KV cache (one frame's work per step). ``actions[:, i]`` is the action taken at
        frame i (``C + horizon - 1`` are read). Differentiable outside inference mode:
        rollouts and open-loop training run this same computation."""
        c = z_ctx.shape[1]
        cache = KVCache()
        z = self.predict(z_ctx, actions[:, :c], sparse=sparse, cache=cache, backend=backend)
        z = z[:, -1]
        yield z
        for j in range(1, horizon):
            step_acts = actions[:, c - 1 + j : c + j]
            z = self.predict(z[:, None], step_acts, sparse=sparse, cache=cache, backend=backend)
            z = z[:, 0]
            yield z
