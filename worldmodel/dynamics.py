"""Frame-causal dynamics transformer over latent tokens, with a KV cache.

Frame t's tokens are its latent grid (projected to d_model, plus a learned spatial
embedding) and ``n_global`` learned global tokens; the action taken at frame t is
embedded and added to every token of frame t. The transformer's output at frame t's
latent tokens is a correction to a *prior* guess of z_{t+1} (``ModelConfig.prior``):

- ``"last"``: z_t, i.e. the head predicts the change (the easy default is "nothing
  moves", which the copy-last-frame baseline already is);
- ``"velocity"``: z_t + (z_t - z_{t-1}), i.e. the latents keep changing as they just
  did, and the head only learns what physics adds (walls, collisions, the pushed
  agent) and what linear extrapolation of nonlinear latents gets wrong. Measured on
  ballworld, fine-tuning with this prior cut the one-step error more in 200 steps than
  the "last" prior had in all its training (docs/worldmodel.md, "Shipped model").
  The first frame a pass sees has no z_{t-1} unless a cache holds it; its prior is
  z_t (no velocity seen yet), the same in every path (a rollout's prefill, a
  cached step, a recomputation from frame 0).

Time enters only through rotary embeddings (RoPE) on the frame index: attention scores
depend on frame *differences*, so a KV cache can slide forever and a recomputation from
any start frame gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from wmnet.worldmodel.attention import MaskSpec, attend
from wmnet.worldmodel.config import ModelConfig

_ROPE_BASE = 100.0  # rollouts are tens of frames, not thousands of tokens

# Frames of room past the sparse window in a KV cache's buffer: the window is copied
# back to the buffer's front once every SLACK_FRAMES appended frames. Every frame of
# room is resident memory once the window has slid over it (2.1 MB per frame for a
# batch of 16 on the shipped model); each compaction copies the window. With room for
# a whole second window (what doubling gave) a rollout's memory kept growing until
# step ~26, so horizon 12 and horizon 96 peaked 30-40 MB apart.
SLACK_FRAMES = 4


class _LayerKV:
    """One layer's cached keys and values in a preallocated buffer.

    Appending a frame writes it after the valid region instead of concatenating a new
    tensor (``torch.cat`` copied the whole window every step: 16 % of a batch-16 rollout
    on CPU, measured). Dropping old frames only moves the start; the valid region is
    copied back to the front only when it reaches the buffer's end, which with the
    sparse window happens once every :data:`SLACK_FRAMES` steps. Views of the buffer
    give the same attention bits as contiguous tensors (SDPA reads strides; checked).

    ``capacity`` (tokens) sizes the buffer when the cache's most valid tokens are known
    (the sparse window); without it the buffer doubles what is needed, as a list does.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None
        self.off = 0  # first valid token
        self.n = 0  # valid tokens
        self.capacity = capacity

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k``/``v`` (``(B, H, L, hd)``) after the valid ones; all valid as views."""
        if k.requires_grad or v.requires_grad:  # autograd needs the functional form
            if self.n:
                assert self.k is not None and self.v is not None
                k = torch.cat([self.k[:, :, self.off : self.off + self.n], k], dim=2)
                v = torch.cat([self.v[:, :, self.off : self.off + self.n], v], dim=2)
            self.k, self.v, self.off, self.n = k, v, 0, k.shape[2]
            return k, v
        new = k.shape[2]
        if not (self._holds(k) and self.off + self.n + new <= self.k.shape[2]):
            self._regrow(k, v, need=self.n + new)
        assert self.k is not None and self.v is not None
        end = self.off + self.n
        self.k[:, :, end : end + new] = k
        self.v[:, :, end : end + new] = v
        self.n += new
        return self.k[:, :, self.off : end + new], self.v[:, :, self.off : end + new]

    def _regrow(self, k: torch.Tensor, v: torch.Tensor, need: int) -> None:
        """Copy the valid region to the front of a buffer with room for ``need`` tokens."""
        old_k, old_v, off, n = self.k, self.v, self.off, self.n
        cap = 2 * need if self.capacity is None else max(need, self.capacity)
        if self._holds(k) and old_k.shape[2] >= cap:
            new_k, new_v = old_k, old_v  # room enough: compact in place
        else:
            shape = (*k.shape[:2], cap, k.shape[3])
            new_k = torch.empty(shape, dtype=k.dtype, device=k.device)
            new_v = torch.empty(shape, dtype=v.dtype, device=v.device)
        if n and not (new_k is old_k and off == 0):
            assert old_k is not None and old_v is not None and new_v is not None
            # Compacting in place moves the region left by ``off`` > 0 tokens; chunks of
            # at most ``off`` tokens, front first, never overlap their own destination,
            # so no temporary copy of the window is needed (a clone per compaction was
            # a window-sized allocation every few steps).
            chunk = off if new_k is old_k else n
            for s in range(0, n, chunk):
                e = min(n, s + chunk)
                new_k[:, :, s:e] = old_k[:, :, off + s : off + e]
                new_v[:, :, s:e] = old_v[:, :, off + s : off + e]
        self.k, self.v, self.off = new_k, new_v, 0

    def _holds(self, k: torch.Tensor) -> bool:
        """Whether the buffer can take keys like ``k`` (same batch, heads, dtype, device)."""
        return (
            self.k is not None
            and self.k.shape[:2] == k.shape[:2]
            and self.k.shape[3] == k.shape[3]
            and self.k.dtype == k.dtype
            and self.k.device == k.device
        )

    def keep_last(self, tokens: int) -> None:
        drop = max(0, self.n - tokens)
        self.off += drop
        self.n -= drop

    def valid(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.n or self.k is None or self.v is None:
            return None
        end = self.off + self.n
        return self.k[:, :, self.off : end], self.v[:, :, self.off : end]


@dataclass
class KVCache:
    """Per-layer keys/values of the frames seen so far (``(B, heads, L, head_dim)``).

    ``start`` is the absolute index of the first cached frame, ``n_frames`` how many
    frames are cached. With the sparse pattern only the last ``window_frames - 1``
    frames are kept: older ones can no longer be attended to.
    """

    layers: list[_LayerKV] = field(default_factory=list)
    start: int = 0
    n_frames: int = 0
    # The latest frame's latents (B, c, g, g): the velocity prior's z_{t-1} for the
    # next frame appended.
    last_latent: torch.Tensor | None = None

    @property
    def next_frame(self) -> int:
        return self.start + self.n_frames

    def layer(self, i: int, capacity: int | None = None) -> _LayerKV:
        """Layer ``i``'s keys and values; a layer made here gets a buffer of ``capacity``
        tokens (the sparse window's bound; None: unbounded, doubling as needed)."""
        while len(self.layers) <= i:
            self.layers.append(_LayerKV(capacity))
        return self.layers[i]

    @property
    def keys(self) -> list[torch.Tensor | None]:
        return [None if (kv := layer.valid()) is None else kv[0] for layer in self.layers]

    @property
    def values(self) -> list[torch.Tensor | None]:
        return [None if (kv := layer.valid()) is None else kv[1] for layer in self.layers]


def _rope(frames: torch.Tensor, head_dim: int, tokens_per_frame: int):
    """cos/sin ``(L, head_dim/2)`` for the tokens of the given absolute frame indices."""
    inv = _ROPE_BASE ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    ang = frames.to(torch.float64)[:, None] * inv[None, :]
    ang = ang.repeat_interleave(tokens_per_frame, dim=0)
    return ang.cos().float(), ang.sin().float()


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., 0::2], x[..., 1::2]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, cfg.mlp_ratio * d)
        self.fc2 = nn.Linear(cfg.mlp_ratio * d, d)
        self.act = nn.GELU()

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cfg: ModelConfig,
        spec: MaskSpec,
        kv: _LayerKV | None,
        backend: str,
    ) -> torch.Tensor:
        b, n, d = x.shape
        hd = d // self.n_heads
        qkv = self.qkv(self.ln1(x)).view(b, n, 3, self.n_heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)
        if kv is not None:  # the cached frames' keys/values, then these
            k, v = kv.append(k, v)
        a = attend(q, k, v, cfg, spec, backend)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        x = x + self.fc2(self.act(self.fc1(self.ln2(x))))
        return x


class Dynamics(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, n_lat = cfg.d_model, cfg.grid * cfg.grid
        self.latent_in = nn.Linear(cfg.latent_channels, d)
        self.pos_emb = nn.Parameter(torch.randn(n_lat, d) * 0.02)
        self.global_emb = nn.Parameter(torch.randn(max(cfg.n_global, 1), d) * 0.02)
        self.action_emb = nn.Embedding(cfg.n_actions, d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm_out = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.latent_channels)
        # Start as the identity map (predict "no change"): training then only learns motion.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # bf16 mode casts the blocks (not the critical layers) and runs them in this dtype.
        self.compute_dtype = torch.float32

    def _tokens(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``(B, T, c, g, g)``, ``(B, T)`` -> ``(B, T * tokens_per_frame, d)``."""
        b, t, c = z.shape[:3]
        lat = self.latent_in(z.flatten(3).transpose(2, 3)) + self.pos_emb  # (B, T, N, d)
        glob = self.global_emb[: self.cfg.n_global].expand(b, t, -1, -1)
        x = torch.cat([lat, glob], dim=2) + self.action_emb(actions)[:, :, None, :]
        return x.reshape(b, t * self.cfg.tokens_per_frame, -1)

    def forward(
        self,
        z: torch.Tensor,
        actions: torch.Tensor,
        *,
        sparse: bool,
        start_frame: int = 0,
        cache: KVCache | None = None,
        backend: str = "auto",
    ) -> torch.Tensor:
        """Predict z_{t+1} for every input frame t (teacher forcing over ``z``).

        ``z``: ``(B, T, c, g, g)`` latents of consecutive frames starting at absolute
        frame ``start_frame``; ``actions``: ``(B, T)``. With ``cache`` the frames are
        appended to it (their predictions attend to the cached frames too) and
        ``start_frame`` is taken from the cache.
        """
        cfg = self.cfg
        b, t = z.shape[:2]
        tpf, hd = cfg.tokens_per_frame, cfg.d_model // cfg.n_heads
        if cache is not None:
            start_frame = cache.next_frame
            k_start = cache.start if cache.n_frames else start_frame
        else:
            k_start = start_frame
        n_k = (start_frame - k_start) + t
        spec = MaskSpec(n_q=t, n_k=n_k, q_offset=start_frame - k_start, sparse=sparse)
        # RoPE tables are built on the CPU in float64 and then moved, so they are the same
        # bits on every device (and the CPU-side frequencies need CPU-side frame indices).
        frames = torch.arange(start_frame, start_frame + t)
        cos, sin = _rope(frames, hd, tpf)
        cos, sin = cos.to(z.device), sin.to(z.device)
        x = self._tokens(z, actions).to(self.compute_dtype)
        capacity = (cfg.window_frames + SLACK_FRAMES) * tpf if sparse else None
        for i, block in enumerate(self.blocks):
            kv = cache.layer(i, capacity) if cache is not None else None
            x = block(x, cos, sin, cfg, spec, kv, backend)
        if cache is not None:
            self._update_cache(cache, n_k, k_start, sparse)
        x = x.float().view(b, t, tpf, -1)[:, :, : cfg.grid * cfg.grid]
        delta = self.head(self.norm_out(x))  # (B, T, N, c)
        delta = delta.transpose(2, 3).reshape(z.shape)
        prior = self._prior(z, cache)
        if cache is not None:
            cache.last_latent = z[:, -1]
        return prior + delta

    def _prior(self, z: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """The guess of z_{t+1} that the head corrects, for every frame t of ``z``."""
        if self.cfg.prior == "last":
            return z
        first = z[:, :1]  # no earlier frame seen: no velocity
        if cache is not None and cache.last_latent is not None:
            first = cache.last_latent[:, None].to(z.dtype)
        before = torch.cat([first, z[:, :-1]], dim=1)
        # Clamped to the encoder's range (tanh): extrapolating an error doubles it, and
        # an unbounded prior let long open-loop rollouts run away (measured: |z| 5 by
        # step 12 before training on rollouts).
        return (2 * z - before).clamp(-1.0, 1.0)

    def _update_cache(self, cache: KVCache, n_k: int, k_start: int, sparse: bool) -> None:
        keep = n_k if not sparse else min(n_k, self.cfg.window_frames - 1)
        for layer in cache.layers:
            layer.keep_last(keep * self.cfg.tokens_per_frame)
        cache.start = k_start + (n_k - keep)
        cache.n_frames = keep
