"""Model configuration: one frozen dataclass, serialised into every checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

PRIORS = ("last", "velocity")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the reference world model.

    Frames are ``(3, resolution, resolution)``; the autoencoder maps them to a latent
    grid of ``grid x grid`` tokens with ``latent_channels`` each (``grid = resolution /
    downsample``). The dynamics transformer sees ``grid**2 + n_global`` tokens per frame.
    """

    env: str = "ballworld"
    resolution: int = 32
    n_actions: int = 5
    downsample: int = 4  # power of two
    ae_width: int = 32
    latent_channels: int = 8
    d_model: int = 64
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: int = 4
    n_global: int = 1
    # Sparse pattern: a query at frame t sees frames t-window_frames+1..t, and within
    # those only latent tokens within Chebyshev distance spatial_radius, plus all
    # global tokens (and global tokens see everything in the window).
    # Window 12 bounds the KV cache at 11 past frames; measured on the shipped model,
    # short windows cost rollout accuracy (3 frames: +9 %) while 12 frames with radius 2
    # is 3.5 % *more* accurate than dense (docs/benchmarks.md, "Rollout").
    window_frames: int = 12
    spatial_radius: int = 2
    # Layers kept at fp32 when the rest is cast to bf16 or int8: they map into and out
    # of the latent space, where rounding errors compound over a rollout.
    critical_layers: tuple[str, ...] = ("latent_in", "action_emb", "head")
    # What the transformer's output corrects (see dynamics.py): "last" predicts
    # z_{t+1} = z_t + head, "velocity" predicts z_{t+1} = 2 z_t - z_{t-1} + head (the
    # latents keep moving as they moved, the head learns walls, collisions, pushes).
    # Absent from checkpoints written before the field existed: those are "last".
    prior: str = "last"

    def __post_init__(self) -> None:
        ds = self.downsample
        if ds < 1 or ds & (ds - 1):
            raise ValueError(f"downsample must be a power of two, got {ds}")
        if self.resolution % ds:
            raise ValueError(f"resolution {self.resolution} not divisible by downsample {ds}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError("d_model / n_heads must be an even integer (RoPE pairs dims)")
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {self.prior!r}")
        if self.window_frames < 1 or self.n_global < 0 or self.n_actions < 1:
            raise ValueError("window_frames and n_actions must be >= 1, n_global >= 0")

    @property
    def grid(self) -> int:
        return self.resolution // self.downsample

    @property
    def tokens_per_frame(self) -> int:
        return self.grid * self.grid + self.n_global

    def receptive_frames(self, sparse: bool) -> int | None:
        """Frames that can influence one prediction (None: unbounded, i.e. dense)."""
        if not sparse:
            return None
        return self.n_layers * (self.window_frames - 1) + 1

    def to_json(self) -> str:
        raw = asdict(self)
        if raw["prior"] == "last":  # written as before the field existed: same bytes, same id
            del raw["prior"]
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        if "critical_layers" in raw:
            raw["critical_layers"] = tuple(raw["critical_layers"])
        return cls(**raw)
