"""Frame autoencoder: uint8 frames <-> a grid of latent tokens.

Strided convs down, nearest-upsample + conv up (not transposed convs: those have
nondeterministic CUDA backward kernels and checkerboard artefacts). The encoder ends
in tanh so latents live in [-1, 1]: a bounded range makes the digest's fixed-point
rounding (see rollout.py) well defined.
"""

from __future__ import annotations

import torch
from torch import nn

from wmnet.worldmodel.config import ModelConfig


def _conv_layout(x: torch.Tensor) -> torch.Tensor:
    """Channels-last activations on CPU: torch's CPU convolutions run these layers about
    1.4-2x faster in that layout than in NCHW (measured at batch 1 and 16: decoder 5.4 vs
    7.3-13.9 ms for 16 frames, encoder 12 vs 20 ms for 64), the same values to float
    rounding. Left as is elsewhere (CUDA picks its own kernels).
    """
    if x.device.type != "cpu" or x.dim() != 4:
        return x
    return x.contiguous(memory_format=torch.channels_last)


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.ae_width
        layers: list[nn.Module] = [nn.Conv2d(3, w, 3, padding=1), nn.GELU()]
        for _ in range(cfg.downsample.bit_length() - 1):
            layers += [nn.Conv2d(w, w, 4, stride=2, padding=1), nn.GELU()]
        layers += [nn.Conv2d(w, w, 3, padding=1), nn.GELU(), nn.Conv2d(w, cfg.latent_channels, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` floats in [0, 1] -> ``(N, c, h, w)`` in [-1, 1]."""
        return torch.tanh(self.net(_conv_layout(x * 2.0 - 1.0))).contiguous()


class Decoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.ae_width
        layers: list[nn.Module] = [nn.Conv2d(cfg.latent_channels, w, 3, padding=1), nn.GELU()]
        for _ in range(cfg.downsample.bit_length() - 1):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, w, 3, padding=1)]
            layers += [nn.GELU()]
        layers += [nn.Conv2d(w, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, c, h, w)`` -> ``(N, 3, H, W)`` floats in [0, 1]."""
        return torch.sigmoid(self.net(_conv_layout(z))).contiguous()


class AutoEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
