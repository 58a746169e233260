"""The wire models: round trips, strict validation, limits, the digest."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from wmnet.protocol import Array, FramesContext, RolloutResult, RolloutTask, SeededContext, Timing
from wmnet.protocol.digest import latent_digest, step_digests
from wmnet.protocol.spec import MAX_ARRAY_BYTES, MAX_HORIZON, SPEC_VERSION
from wmnet.worldmodel.rollout import latent_digest as torch_digest


def _task(**kw) -> RolloutTask:
    fields = dict(
        task_id="task-0001",
        model_id="ab" * 6,
        context=SeededContext(seed=7, n_frames=4),
        actions=[0, 1, 2],
    )
    fields.update(kw)
    return RolloutTask(**fields)


def test_task_round_trips_through_json():
    task = _task(precision="bf16", deadline_ms=1234)
    again = RolloutTask.model_validate_json(task.model_dump_json())
    assert again == task and again.horizon == 3


def test_frames_context_round_trips_exactly():
    frames = np.random.default_rng(0).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    task = _task(context=FramesContext(frames=Array.of(frames), actions=[1, 4]))
    again = RolloutTask.model_validate_json(task.model_dump_json())
    assert np.array_equal(again.context.frames.numpy(), frames)


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"spec_version": SPEC_VERSION + 1}, "spec_version"),
        ({"actions": []}, "actions"),
        ({"actions": [0] * (MAX_HORIZON + 1)}, "actions"),
        ({"actions": [-1]}, "actions"),
        ({"actions": ["1"]}, "actions"),  # strict: no string-to-int coercion
        ({"model_id": "XYZ"}, "model_id"),
        ({"task_id": "short"}, "task_id"),
        ({"deadline_ms": 1}, "deadline_ms"),
        ({"precision": "fp8"}, "precision"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_task_refuses_bad_fields(patch, field):
    raw = json.loads(_task().model_dump_json())
    raw.update(patch)
    with pytest.raises(ValidationError) as caught:
        RolloutTask.model_validate_json(json.dumps(raw))
    assert field in str(caught.value)


def test_frames_context_needs_one_action_between_frames():
    frames = Array.of(np.zeros((3, 3, 32, 32), np.uint8))
    with pytest.raises(ValidationError, match="need 2 actions"):
        FramesContext(frames=frames, actions=[1])


def test_array_refuses_lengths_that_lie_and_oversize():
    good = Array.of(np.zeros((2, 3), np.float32))
    with pytest.raises(ValidationError, match="exactly 32 bytes for shape"):
        Array(dtype="float32", shape=(2, 4), data=good.data)
    big = (MAX_ARRAY_BYTES // 4) + 1
    with pytest.raises(ValidationError, match="exceeds"):
        Array(dtype="float32", shape=(big,), data="")
    corrupt = Array(dtype="uint8", shape=(3,), data="!!!!")
    with pytest.raises(ValueError, match="base64"):
        corrupt.numpy()
    assert base64.b64decode(good.data) == bytes(24)


def test_result_checks_shapes_and_digest_count():
    lat = np.random.default_rng(1).standard_normal((3, 8, 8, 8)).astype(np.float32)
    fields = dict(
        task_id="task-0001",
        model_id="ab" * 6,
        precision="fp32",
        context_latents=Array.of(lat[:2]),
        latents=Array.of(lat),
        digests=step_digests(lat),
        timing=Timing(queue_ms=0.0, compute_ms=1.0, batch_size=1),
        device="cpu",
    )
    result = RolloutResult(**fields)
    assert np.array_equal(
        RolloutResult.model_validate_json(result.model_dump_json()).latents.numpy(), lat
    )
    with pytest.raises(ValidationError, match="one digest per predicted step"):
        RolloutResult(**{**fields, "digests": fields["digests"][:2]})
    with pytest.raises(ValidationError, match="alike"):
        RolloutResult(**{**fields, "context_latents": Array.of(lat[:, :4])})


def test_digest_matches_the_torch_path_and_hand_computation():
    z = np.array([[[0.5, -1.0 / 4096]], [[1e12, np.nan]]], dtype=np.float32)  # (2, 1, 2)
    import hashlib

    q = np.array([2048, -1, 2**31 - 1, 0], dtype="<i4").tobytes()
    expected = hashlib.sha256(b"wmnet-latent-v1|2,1,2|12|" + q).hexdigest()
    assert latent_digest(z) == expected
    finite = np.random.default_rng(2).standard_normal((8, 8, 8)).astype(np.float32)
    assert latent_digest(finite) == torch_digest(torch.from_numpy(finite))
    # Round half to even, as the spec says: 0.5/4096 -> 0, 1.5/4096 -> 2.
    halves = np.array([[[0.5 / 4096, 1.5 / 4096]]], dtype=np.float32)
    q2 = np.array([0, 2], dtype="<i4").tobytes()
    assert latent_digest(halves) == hashlib.sha256(b"wmnet-latent-v1|1,1,2|12|" + q2).hexdigest()
