"""Lower precisions really run in low precision and stay within tolerance of fp32.

Properties only: the shipped checkpoint gets replaced, so no number measured on one
checkpoint is asserted here except the protocol's own bounds.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from wmnet.protocol.tolerances import TOLERANCES
from wmnet.worldmodel.checkpoint import load_default
from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET, make_episodes
from wmnet.worldmodel.determinism import deterministic
from wmnet.worldmodel.quant import Int8Linear, capabilities, quantize, weight_bytes
from wmnet.worldmodel.rollout import RolloutOptions, rollout
from wmnet.worldmodel.verify import VerifyInput, passes, teacher_forced_errors

# Relative L2 error of predicted latents vs fp32 over an 8-step open-loop rollout:
# a sanity bound far above rounding noise and far below a broken model.
TOLERANCE = {"int8": 0.05, "bf16": 0.05}

_MATMULS = {
    torch.ops.aten.mm,
    torch.ops.aten.addmm,
    torch.ops.aten.bmm,
    torch.ops.aten.linear,
    torch.ops.aten._int_mm,
}


class MatmulDtypes(TorchDispatchMode):
    """Records (op, input dtypes) of every matmul that reaches the dispatcher."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, tuple[torch.dtype, ...]]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket in _MATMULS:
            dtypes = tuple(a.dtype for a in args if isinstance(a, torch.Tensor))
            self.seen.append((func.overloadpacket.__name__, dtypes))
        return func(*args, **(kwargs or {}))


def _block_matmuls(model, cfg) -> list[tuple[str, tuple[torch.dtype, ...]]]:
    """Matmuls of the transformer blocks' linear layers on one batch of tokens."""
    block = model.dynamics.blocks[0]
    x = torch.randn(2, 3 * cfg.tokens_per_frame, cfg.d_model).to(model.dynamics.compute_dtype)
    rec = MatmulDtypes()
    with torch.inference_mode(), rec:
        for name in ("qkv", "fc1"):
            getattr(block, name)(x)
        block.fc2(block.fc1(x))
    return rec.seen


@pytest.fixture(scope="module")
def shipped():
    model = load_default()
    eps = make_episodes("ballworld", 8, 11, HELDOUT_SEED_OFFSET + 1, model.cfg.resolution)
    args = (eps.frames[:, :4], eps.actions[:, :3], eps.actions[:, 3:11])
    return model, args, rollout(model, *args, RolloutOptions())


LOW = [("int8", False), ("int8", True), ("bf16", False)]


@pytest.mark.parametrize(("precision", "int8_matmul"), LOW)
def test_low_precision_within_tolerance(shipped, precision, int8_matmul):
    model, args, ref = shipped
    low = quantize(model, precision, int8_matmul=int8_matmul)
    out = rollout(low, *args, RolloutOptions())
    rel = float((out.latents - ref.latents).norm() / ref.latents.norm())
    assert rel < TOLERANCE[precision], rel
    assert rel > 0.0  # it really ran at a different precision


@pytest.mark.parametrize(("precision", "int8_matmul"), [("int8", False), ("bf16", False)])
def test_shipped_precisions_pass_the_validators_check(shipped, precision, int8_matmul):
    """What quantize builds by default passes the protocol's per-step bounds under the
    validator's teacher-forced check against the fp32 model."""
    model, (frames, ctx_acts, acts), _ = shipped
    out = rollout(quantize(model, precision, int8_matmul=int8_matmul), frames, ctx_acts, acts)
    inputs = [
        VerifyInput(
            frames[i],
            ctx_acts[i],
            acts[i],
            out.context_latents[i].numpy(),
            out.latents[i].numpy(),
        )
        for i in range(len(acts))
    ]
    errors = teacher_forced_errors(model, inputs)
    assert all(passes(e, TOLERANCES[precision]) for e in errors)
    assert max(float(e.max_abs.max()) for e in errors) > 0.0


def test_int8_matmul_runs_int8_x_int8(tiny_model, tiny_cfg):
    q = quantize(tiny_model, "int8", int8_matmul=True)
    seen = _block_matmuls(q, tiny_cfg)
    assert seen, "no matmul recorded"
    assert all(op == "_int_mm" and dtypes == (torch.int8, torch.int8) for op, dtypes in seen), seen


def test_int8_default_keeps_int8_weights_fp32_arithmetic(tiny_model, tiny_cfg):
    seen = _block_matmuls(quantize(tiny_model, "int8"), tiny_cfg)
    assert seen and all(torch.float32 in dtypes and torch.int8 not in dtypes for _, dtypes in seen)


def test_bf16_matmuls_take_bf16_inputs(tiny_model, tiny_cfg):
    seen = _block_matmuls(quantize(tiny_model, "bf16"), tiny_cfg)
    assert seen and all(set(dtypes) == {torch.bfloat16} for _, dtypes in seen), seen


def test_bf16_whole_rollout_runs_blocks_in_bf16(tiny_model, tiny_episodes):
    rec = MatmulDtypes()
    eps = tiny_episodes
    with rec:
        rollout(
            quantize(tiny_model, "bf16"), eps.frames[:, :3], eps.actions[:, :2], eps.actions[:, 2:5]
        )
    dtypes = {d for _, ds in rec.seen for d in ds}
    assert torch.bfloat16 in dtypes  # the blocks
    assert torch.float32 in dtypes  # the critical layers stay fp32


@torch.inference_mode()
def test_int8_linear_matches_float_product():
    torch.manual_seed(1)
    lin = torch.nn.Linear(32, 48)
    x = torch.randn(4, 7, 32)
    ref = lin(x)
    for int8_matmul in (False, True):
        y = Int8Linear(lin, int8_matmul=int8_matmul)(x)
        assert y.shape == ref.shape and y.dtype == torch.float32
        rel = float((y - ref).norm() / ref.norm())
        assert 0.0 < rel < 0.02, (int8_matmul, rel)


def test_int8_matmul_rows_do_not_depend_on_the_batch():
    """Per-token scales: a row's result is the same bits whatever else is batched."""
    torch.manual_seed(2)
    layer = Int8Linear(torch.nn.Linear(64, 256), int8_matmul=True)
    x = torch.randn(40, 64)
    with torch.inference_mode():
        whole = layer(x)
        scaled = x.clone()
        scaled[1:] *= 100.0  # the other rows' range must not change row 0's scale
        assert torch.equal(layer(x[:1]), whole[:1])
        assert torch.equal(layer(scaled)[:1], whole[:1])


def test_int8_really_int8_and_critical_layers_kept(shipped):
    model = shipped[0]
    for int8_matmul in (False, True):
        q = quantize(model, "int8", int8_matmul=int8_matmul)
        assert isinstance(q.dynamics.blocks[0].fc1, Int8Linear)
        assert q.dynamics.blocks[0].fc1.qweight.dtype == torch.int8
        assert isinstance(q.dynamics.head, torch.nn.Linear)  # dynamics-critical: fp32
        assert q.dynamics.head.weight.dtype == torch.float32
        assert weight_bytes(q.dynamics.blocks) < 0.3 * weight_bytes(model.dynamics.blocks)
    with pytest.raises(ValueError, match="precision"):
        quantize(model, "int4")


def test_capabilities_reports_booleans():
    caps = capabilities()
    assert set(caps) == {"bf16", "int8"}
    assert all(isinstance(v, bool) for v in caps.values())


def _run(model, eps, threads: int):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with deterministic():
            return rollout(model, eps.frames[:, :3], eps.actions[:, :2], eps.actions[:, 2:10])
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("precision", "int8_matmul"), LOW)
def test_low_precision_bit_identical_across_runs_and_threads(
    tiny_model, tiny_episodes, precision, int8_matmul
):
    low = quantize(tiny_model, precision, int8_matmul=int8_matmul)
    a = _run(low, tiny_episodes, 1)
    b = _run(low, tiny_episodes, 1)
    c = _run(low, tiny_episodes, 2)
    assert a.latents.numpy().tobytes() == b.latents.numpy().tobytes()
    assert a.latents.numpy().tobytes() == c.latents.numpy().tobytes()
    assert a.digests == c.digests
