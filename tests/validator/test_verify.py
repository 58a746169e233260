"""Teacher-forced verification (wmnet.worldmodel.verify) and the banded attention under it.

Honest answers of every precision, thread count and batch size pass the calibrated
tolerances (wmnet.protocol.tolerances); fakes, a perturbed model and malformed answers
do not. Figures behind the tolerances: docs/validator.md, "Verification and tolerances".
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from wmnet.protocol.rollout import SeededContext
from wmnet.protocol.tolerances import CONTEXT_TOLERANCE, TOLERANCES, Tolerance
from wmnet.worldmodel.attention import MaskSpec, attend
from wmnet.worldmodel.checkpoint import load_default
from wmnet.worldmodel.config import ModelConfig
from wmnet.worldmodel.contexts import context_arrays
from wmnet.worldmodel.determinism import deterministic
from wmnet.worldmodel.dynamics import KVCache
from wmnet.worldmodel.fakes import lazy_rollout, perturbed_model, random_latents
from wmnet.worldmodel.quant import PRECISIONS, quantize
from wmnet.worldmodel.rollout import RolloutOptions, rollout
from wmnet.worldmodel.verify import (
    StepErrors,
    VerifyInput,
    passes,
    teacher_forced_errors,
)

SEED = 3_000_000_000  # held out: training seeds are small, calibration uses 2e9..
HORIZON = 12
N_TASKS = 16
LOOSEST = Tolerance(
    max_abs=max(t.max_abs for t in TOLERANCES.values()),
    rms=max(t.rms for t in TOLERANCES.values()),
)


@pytest.fixture(scope="module")
def model():
    return load_default().eval()


@pytest.fixture(scope="module")
def models(model):
    return {p: quantize(model, p).eval() for p in PRECISIONS}


def _tasks(cfg: ModelConfig, n: int, horizon: int, seed: int, context: int = 4):
    pairs = [context_arrays(SeededContext(seed=seed + i, n_frames=context), cfg) for i in range(n)]
    frames = np.stack([f for f, _ in pairs])
    ctx_acts = np.stack([a for _, a in pairs])
    acts = np.random.default_rng(seed).integers(0, cfg.n_actions, (n, horizon))
    return frames, ctx_acts, acts


@pytest.fixture(scope="module")
def tasks(model):
    return _tasks(model.cfg, N_TASKS, HORIZON, SEED)


def _inputs(tasks, ctx_lat, lat) -> list[VerifyInput]:
    frames, ctx_acts, acts = tasks
    return [
        VerifyInput(frames[i], ctx_acts[i], acts[i], np.asarray(ctx_lat[i]), np.asarray(lat[i]))
        for i in range(len(lat))
    ]


def _rollout(model, tasks, sl=slice(None)):
    frames, ctx_acts, acts = tasks
    r = rollout(model, frames[sl], ctx_acts[sl], acts[sl], RolloutOptions(decode=False))
    return r.context_latents.numpy(), r.latents.numpy()


@pytest.fixture(scope="module")
def honest(model, tasks):
    return _rollout(model, tasks)


# --- banded attention == the dense-masked call ------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        MaskSpec(n_q=40, n_k=40, q_offset=0, sparse=True),  # teacher-forced pass
        MaskSpec(n_q=13, n_k=13, q_offset=0, sparse=True),  # one frame over the window
        MaskSpec(n_q=30, n_k=41, q_offset=11, sparse=True),  # prefill onto a KV cache
        MaskSpec(n_q=17, n_k=20, q_offset=3, sparse=True),  # cache shorter than the window
    ],
)
def test_banded_equals_masked_on_random_inputs(model, spec):
    cfg = model.cfg
    gen = torch.Generator().manual_seed(spec.n_q)
    tpf = cfg.tokens_per_frame
    q = torch.randn(2, cfg.n_heads, spec.n_q * tpf, 16, generator=gen)
    k, v = (torch.randn(2, cfg.n_heads, spec.n_k * tpf, 16, generator=gen) for _ in range(2))
    banded = attend(q, k, v, cfg, spec, backend="sdpa")
    masked = attend(q, k, v, cfg, spec, backend="sdpa-masked")
    assert (banded - masked).abs().max() < 1e-5


def test_banded_equals_masked_small_window():
    cfg = ModelConfig(resolution=16, d_model=32, n_heads=2, window_frames=2, spatial_radius=1)
    spec = MaskSpec(n_q=9, n_k=12, q_offset=3, sparse=True)
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(3, 2, 9 * cfg.tokens_per_frame, 16, generator=gen)
    k, v = (torch.randn(3, 2, 12 * cfg.tokens_per_frame, 16, generator=gen) for _ in range(2))
    diff = attend(q, k, v, cfg, spec, "sdpa") - attend(q, k, v, cfg, spec, "sdpa-masked")
    assert diff.abs().max() < 1e-5


@torch.inference_mode()
@pytest.mark.parametrize("precision", PRECISIONS)
def test_banded_equals_masked_for_the_shipped_model(models, precision):
    m = models[precision]
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 40, *_latent_shape(m), generator=gen).tanh()
    acts = torch.randint(0, m.cfg.n_actions, (2, 40), generator=gen)
    banded = m.predict(z, acts, sparse=True, backend="sdpa")
    masked = m.predict(z, acts, sparse=True, backend="sdpa-masked")
    # With a KV cache: a long prefill (banded) onto cached frames, then more frames.
    outs = {}
    for backend in ("sdpa", "sdpa-masked"):
        cache = KVCache()
        m.predict(z[:, :5], acts[:, :5], sparse=True, cache=cache, backend=backend)
        outs[backend] = m.predict(z[:, 5:], acts[:, 5:], sparse=True, cache=cache, backend=backend)
    # Different kernel shapes round differently in bf16: the same function up to bf16
    # noise (|bf16 - fp32| of the shipped model's predictions reaches 3e-2).
    bound = 3e-2 if precision == "bf16" else 1e-5
    assert (banded - masked).abs().max() < bound
    assert (outs["sdpa"] - outs["sdpa-masked"]).abs().max() < bound
    assert (outs["sdpa"] - banded[:, 5:]).abs().max() < bound  # cache == recompute


def _latent_shape(m) -> tuple[int, int, int]:
    return (m.cfg.latent_channels, m.cfg.grid, m.cfg.grid)


def test_long_context_prefill_is_banded_and_unchanged(model):
    """A 16-frame context (more than the 12-frame window) prefills banded."""
    frames, ctx_acts, acts = _tasks(model.cfg, 2, 4, SEED + 500, context=16)
    out = {
        b: rollout(model, frames, ctx_acts, acts, RolloutOptions(decode=False, backend=b))
        for b in ("sdpa", "sdpa-masked")
    }
    assert (out["sdpa"].latents - out["sdpa-masked"].latents).abs().max() < 1e-5


# --- honest answers pass -----------------------------------------------------------------


def test_verify_reproduces_the_rollout(model, tasks, honest):
    errors = teacher_forced_errors(model, _inputs(tasks, *honest))
    assert len(errors) == N_TASKS
    for e in errors:
        assert e.max_abs.shape == e.rms.shape == (HORIZON,)
        assert e.max_abs.max() < 1e-5 and e.context_max_abs < 1e-5
        assert passes(e, TOLERANCES["fp32"])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_honest_answers_pass(model, models, tasks, precision, threads):
    """Batch 16 and batch 1, deterministic mode on with 1 thread and off with 2."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with deterministic(threads == 1):
            ctx_lat, lat = _rollout(models[precision], tasks)
            singles = [_rollout(models[precision], tasks, slice(i, i + 1)) for i in range(2)]
    finally:
        torch.set_num_threads(before)
    ctx_lat = np.concatenate([ctx_lat, *(c for c, _ in singles)])
    lat = np.concatenate([lat, *(z for _, z in singles)])
    frames, ctx_acts, acts = tasks
    both = (
        np.concatenate([frames, frames[:2]]),
        np.concatenate([ctx_acts, ctx_acts[:2]]),
        np.concatenate([acts, acts[:2]]),
    )
    errors = teacher_forced_errors(model, _inputs(both, ctx_lat, lat))
    tol = TOLERANCES[precision]
    assert all(passes(e, tol) for e in errors)
    worst = max(e.max_abs.max() for e in errors)
    assert worst <= tol.max_abs / 2  # the calibrated margin holds here too
    if precision != "fp32":
        assert worst > 1e-4  # it really ran at the lower precision


# --- fakes fail --------------------------------------------------------------------------


def test_perturbed_model_fails_fp32(model, tasks):
    fake = _rollout(perturbed_model(model, 0.01, seed=1), tasks)
    errors = teacher_forced_errors(model, _inputs(tasks, *fake))
    assert not any(passes(e, TOLERANCES["fp32"]) for e in errors)


@pytest.mark.parametrize("kind", ["extrapolate", "copy"])
def test_lazy_steps_fail_every_tolerance(model, tasks, kind):
    frames, ctx_acts, acts = tasks
    rng = np.random.default_rng(7)
    fake = np.zeros(acts.shape, dtype=bool)
    k = math.ceil(0.1 * HORIZON)
    for row in fake:
        row[rng.choice(HORIZON, size=k, replace=False)] = True
    ctx_lat, lat = lazy_rollout(model, frames, ctx_acts, acts, fake, kind)
    errors = teacher_forced_errors(model, _inputs(tasks, ctx_lat, lat))
    for e, f in zip(errors, fake, strict=True):
        assert not passes(e, LOOSEST)
        # Only the faked steps are off: the miner continued honestly from its guesses.
        assert np.all(e.max_abs[~f] < 1e-5)
        assert np.all((e.max_abs[f] > LOOSEST.max_abs) | (e.rms[f] > LOOSEST.rms))


def test_lazy_rollout_without_fakes_is_the_rollout(model, tasks, honest):
    frames, ctx_acts, acts = tasks
    none = np.zeros(acts.shape, dtype=bool)
    ctx_lat, lat = lazy_rollout(model, frames, ctx_acts, acts, none)
    assert np.array_equal(lat, honest[1]) and np.array_equal(ctx_lat, honest[0])


def test_random_and_other_task_answers_fail(model, tasks, honest):
    ctx_lat, lat = honest
    other = np.roll(np.arange(N_TASKS), 1)
    variants = {
        "random": (ctx_lat, random_latents(lat.shape, np.random.default_rng(0))),
        "other_task": (ctx_lat[other], lat[other]),
        "other_task_own_context": (ctx_lat, lat[other]),
    }
    for name, (c, z) in variants.items():
        errors = teacher_forced_errors(model, _inputs(tasks, c, z))
        assert not any(passes(e, LOOSEST) for e in errors), name


def test_wrong_context_latents_fail(model, tasks, honest):
    ctx_lat, lat = honest
    shifted = ctx_lat + 0.05
    errors = teacher_forced_errors(model, _inputs(tasks, shifted, lat))
    assert all(e.context_max_abs > CONTEXT_TOLERANCE.max_abs for e in errors)
    # Below the loosest step bound, yet rejected: the context is held to fp32's bound.
    assert LOOSEST.max_abs > 0.05
    assert not any(passes(e, LOOSEST) for e in errors)


# --- malformed answers raise -------------------------------------------------------------


@pytest.mark.parametrize("bad", ["nan", "inf", "short", "channels", "ctx_nan", "ctx_frames"])
def test_malformed_answers_raise(model, tasks, honest, bad):
    inp = _inputs(tasks, *honest)[0]
    lat, ctx = inp.latents.copy(), inp.context_latents.copy()
    if bad == "nan":
        lat[3, 0, 0, 0] = np.nan
    elif bad == "inf":
        lat[0, 1, 2, 3] = np.inf
    elif bad == "short":
        lat = lat[:-1]
    elif bad == "channels":
        lat = lat[:, :-1]
    elif bad == "ctx_nan":
        ctx[0, 0, 0, 0] = np.nan
    elif bad == "ctx_frames":
        ctx = ctx[:-1]
    with pytest.raises(ValueError):
        teacher_forced_errors(model, [replace(inp, latents=lat, context_latents=ctx)])


def test_integer_latents_raise(model, tasks, honest):
    inp = _inputs(tasks, *honest)[0]
    with pytest.raises(ValueError, match="floating"):
        teacher_forced_errors(model, [replace(inp, latents=inp.latents.astype(np.int32))])


# --- grouping and sampled steps ----------------------------------------------------------


def test_mixed_shapes_are_grouped_in_order(model, tasks, honest):
    inputs = _inputs(tasks, *honest)[:3]
    short = replace(inputs[1], actions=inputs[1].actions[:7], latents=inputs[1].latents[:7])
    mixed = teacher_forced_errors(model, [inputs[0], short, inputs[2]])
    alone = teacher_forced_errors(model, [short])[0]
    assert mixed[1].max_abs.shape == (7,)
    np.testing.assert_allclose(mixed[1].max_abs, alone.max_abs, atol=1e-6)
    full = teacher_forced_errors(model, [inputs[0], inputs[2]])
    np.testing.assert_allclose(mixed[2].max_abs, full[1].max_abs, atol=1e-6)


def test_sampled_steps_match_the_full_check(model):
    horizon = 64  # longer than the 45-frame receptive field: segments, not one pass
    t = _tasks(model.cfg, 2, horizon, SEED + 900)
    frames, ctx_acts, acts = t
    fake = np.zeros((2, horizon), dtype=bool)
    fake[:, 30] = True
    ctx_lat, lat = lazy_rollout(model, frames, ctx_acts, acts, fake)
    inputs = _inputs(t, ctx_lat, lat)
    full = teacher_forced_errors(model, inputs)
    steps = [0, 2, 50, 63]
    sampled = teacher_forced_errors(model, inputs, steps=steps)
    for f, s in zip(full, sampled, strict=True):
        np.testing.assert_allclose(s.max_abs[steps], f.max_abs[steps], atol=1e-6)
        np.testing.assert_allclose(s.rms[steps], f.rms[steps], atol=1e-7)
        assert np.isnan(s.max_abs[30])  # not sampled, not computed
        assert passes(s, TOLERANCES["fp32"])  # the faked step was not sampled
        assert passes(s, TOLERANCES["fp32"], steps=steps)
        assert not passes(f, TOLERANCES["fp32"])
        assert not passes(s, TOLERANCES["fp32"], steps=[30])  # asked, not checked: fail
    with_fake = teacher_forced_errors(model, inputs, steps=[30])
    assert not any(passes(e, TOLERANCES["fp32"], steps=[30]) for e in with_fake)
    with pytest.raises(ValueError, match="horizon"):
        teacher_forced_errors(model, inputs, steps=[horizon])


def test_passes_bounds_are_inclusive_and_check_the_context():
    errors = StepErrors(
        max_abs=np.array([0.1, 0.2]),
        rms=np.array([0.01, 0.02]),
        context_max_abs=0.0,
        context_rms=0.0,
    )
    assert passes(errors, Tolerance(max_abs=0.2, rms=0.02))
    assert not passes(errors, Tolerance(max_abs=0.19, rms=0.02))
    assert not passes(errors, Tolerance(max_abs=0.2, rms=0.019))
    assert passes(errors, Tolerance(max_abs=0.1, rms=0.01), steps=[0])
    ctx_off = replace(errors, context_max_abs=0.5)
    assert not passes(ctx_off, Tolerance(max_abs=0.2, rms=0.02))
