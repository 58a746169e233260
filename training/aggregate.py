"""The outer step over the round's best updates: DiLoCo's Nesterov, or SparseLoCo's.

Follows DiLoCo (Douillard et al. 2023, Algorithm 1): the outer gradient is the mean of
the workers' pseudo-gradients ``delta_i = theta_base - theta_i`` and the outer
optimizer is SGD with Nesterov momentum (lr 0.7, momentum 0.9 in the paper), written
as ``torch.optim.SGD(nesterov=True)`` does it:

1. ``g = mean_i(delta_i)`` over the selected updates (decoded, so sparse);
2. ``m = momentum * m + g`` (``m`` starts at 0 and persists across rounds);
3. ``theta = theta - lr * (g + momentum * m)``.

SparseLoCo (Sarfi et al. 2025, arXiv 2508.15706) replaces the outer momentum with the
workers' error feedback, which already accumulates past pseudo-gradients: its outer
step is ``theta - lr * g`` (momentum 0 here), and that is what a validator aggregating
compressed updates runs by default (``SPARSELOCO_OUTER``). Measured on the shipped
model (docs/benchmarks.md, "Compress"): Nesterov 0.7/0.9 on error-feedback updates
counts the past twice and overshoots after about four rounds (held-out loss rises
again), plain averaged descent keeps falling.

With no update selected there is no step and the base stays the head.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OUTER_LR = 0.7  # DiLoCo's outer Nesterov
OUTER_MOMENTUM = 0.9
SPARSELOCO_OUTER = (1.0, 0.0)  # (lr, momentum): averaged descent, no momentum state


@dataclass
class OuterNesterov:
    lr: float = OUTER_LR
    momentum: float = OUTER_MOMENTUM
    buffer: np.ndarray | None = field(default=None, repr=False)

    def step(self, theta: np.ndarray, deltas: list[np.ndarray]) -> np.ndarray:
        """The next weights from ``theta`` and the selected pseudo-gradients."""
        if not deltas:
            return theta.copy()
        g = np.mean(np.stack(deltas).astype(np.float64), axis=0)
        if self.buffer is None or self.buffer.shape != g.shape:
            self.buffer = np.zeros_like(g)
        self.buffer = self.momentum * self.buffer + g
        step = g + self.momentum * self.buffer
        return (theta.astype(np.float64) - self.lr * step).astype(np.float32)
