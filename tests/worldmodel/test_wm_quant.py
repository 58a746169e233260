"""Lower precisions stay within the documented tolerance of fp32 (docs/worldmodel.md)."""

from __future__ import annotations

import pytest
import torch

from wmnet.worldmodel.checkpoint import load_default
from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET, make_episodes
from wmnet.worldmodel.quant import Int8Linear, quantize, weight_bytes
from wmnet.worldmodel.rollout import RolloutOptions, rollout

# Relative L2 error of predicted latents vs fp32 over an 8-step open-loop rollout of
# the shipped model (measured ~1e-3 int8, ~1e-2 bf16; bounds leave headroom).
TOLERANCE = {"int8": 0.01, "bf16": 0.05}


@pytest.fixture(scope="module")
def shipped():
    model = load_default()
    eps = make_episodes("ballworld", 8, 11, HELDOUT_SEED_OFFSET + 1, model.cfg.resolution)
    args = (eps.frames[:, :4], eps.actions[:, :3], eps.actions[:, 3:11])
    return model, args, rollout(model, *args, RolloutOptions())


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_low_precision_within_tolerance(shipped, precision):
    model, args, ref = shipped
    low = quantize(model, precision)
    out = rollout(low, *args, RolloutOptions())
    rel = float((out.latents - ref.latents).norm() / ref.latents.norm())
    assert rel < TOLERANCE[precision], rel
    assert rel > 0.0  # it really ran at a different precision


def test_int8_really_int8_and_critical_layers_kept(shipped):
    model = shipped[0]
    q = quantize(model, "int8")
    assert isinstance(q.dynamics.blocks[0].fc1, Int8Linear)
    assert q.dynamics.blocks[0].fc1.qweight.dtype == torch.int8
    assert isinstance(q.dynamics.head, torch.nn.Linear)  # dynamics-critical: fp32
    assert q.dynamics.head.weight.dtype == torch.float32
    assert weight_bytes(q.dynamics.blocks) < 0.3 * weight_bytes(model.dynamics.blocks)
    with pytest.raises(ValueError, match="precision"):
        quantize(model, "int4")
