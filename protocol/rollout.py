"""The rollout workload on the wire: a task (what to predict) and its result.

Frame convention (the same as ``wmnet.worldmodel.rollout``): the context is frames
``0..C-1`` and ``context_actions[i]`` is the action taken at frame ``i`` (``C-1`` of
them); ``actions[j]`` is the action taken at frame ``C-1+j``, and predicted step ``j``
is frame ``C+j``. The horizon is ``len(actions)``.

A context is either *seeded* (the environment's own episode for a seed: both sides
render the same frames and actions, so a validator's synthetic task is a few bytes) or
*frames* (a customer's own frames and actions).

A result carries the latents of the context frames as the miner encoded them and one
latent per predicted step, so a validator can re-check every step by teacher forcing
from the miner's *own* history (see ``wmnet.worldmodel.verify``), plus one digest per
step that binds those latents (``wmnet.protocol.digest``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from wmnet.protocol.arrays import Array
from wmnet.protocol.spec import (
    MAX_ACTION,
    MAX_CONTEXT_FRAMES,
    MAX_DEADLINE_MS,
    MAX_HORIZON,
    MAX_REPORTED_MS,
    MAX_SLOTS,
    MIN_DEADLINE_MS,
    SPEC_VERSION,
    Precision,
)

ModelId = Annotated[str, Field(pattern=r"^[0-9a-f]{12,64}$")]
TaskId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Action = Annotated[int, Field(ge=0, le=MAX_ACTION)]
Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

# Strict types, no extra fields, and no NaN or infinity in any float: a miner's
# self-reported figure must never turn a ledger sum into inf.
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _this_spec_version(v: int) -> int:
    if v != SPEC_VERSION:
        raise ValueError(f"spec_version {v} is not this side's {SPEC_VERSION}")
    return v


# A task's spec version: a side refuses tasks written for another version of the spec.
TaskSpecVersion = Annotated[int, AfterValidator(_this_spec_version)]


class SeededContext(BaseModel):
    """The environment's episode for ``seed``: its first ``n_frames`` frames and the
    ``n_frames - 1`` actions between them (``make_ballworld_episodes(1, n_frames - 1,
    seed)`` at the model's resolution)."""

    model_config = _STRICT
    kind: Literal["seed"] = "seed"
    env: Literal["ballworld"] = "ballworld"
    seed: int = Field(ge=0, le=2**63 - 1)
    n_frames: int = Field(ge=1, le=MAX_CONTEXT_FRAMES)


class FramesContext(BaseModel):
    """A caller's own context: ``frames`` uint8 ``(C, 3, H, W)`` and ``C - 1`` actions."""

    model_config = _STRICT
    kind: Literal["frames"] = "frames"
    frames: Array
    actions: list[Action] = Field(max_length=MAX_CONTEXT_FRAMES - 1)

    @model_validator(mode="after")
    def _shape(self) -> FramesContext:
        shape = self.frames.shape
        if self.frames.dtype != "uint8" or len(shape) != 4 or shape[1] != 3:
            raise ValueError("frames must be uint8 with shape (C, 3, H, W)")
        if not 1 <= shape[0] <= MAX_CONTEXT_FRAMES:
            raise ValueError(f"a context holds 1..{MAX_CONTEXT_FRAMES} frames")
        if len(self.actions) != shape[0] - 1:
            raise ValueError(f"{shape[0]} context frames need {shape[0] - 1} actions")
        return self

    @property
    def n_frames(self) -> int:
        return self.frames.shape[0]


Context = Annotated[SeededContext | FramesContext, Field(discriminator="kind")]


class RolloutTask(BaseModel):
    """``POST /v1/rollout`` body: predict ``len(actions)`` steps from ``context``.

    ``precision`` is what the caller accepts and the miner declares it ran at; the
    validator checks the answer under that precision's tolerance. ``deadline_ms`` is
    the caller's budget from sending: a miner that cannot start in time answers 503.
    """

    model_config = _STRICT
    spec_version: TaskSpecVersion = SPEC_VERSION
    workload: Literal["rollout"] = "rollout"
    task_id: TaskId
    model_id: ModelId
    context: Context
    actions: list[Action] = Field(min_length=1, max_length=MAX_HORIZON)
    precision: Precision = "fp32"
    deadline_ms: int = Field(default=30_000, ge=MIN_DEADLINE_MS, le=MAX_DEADLINE_MS)
    return_frames: bool = False

    @property
    def horizon(self) -> int:
        return len(self.actions)


class Timing(BaseModel):
    """Where the miner's time went, in milliseconds (self-reported: informational; the
    validator records at most the wall time it measured)."""

    model_config = _STRICT
    queue_ms: float = Field(ge=0, le=MAX_REPORTED_MS)
    compute_ms: float = Field(ge=0, le=MAX_REPORTED_MS)
    batch_size: int = Field(ge=1, le=MAX_SLOTS)


class RolloutResult(BaseModel):
    """The miner's answer. ``latents`` ``(T, c, g, g)`` float32 are frames ``C..C+T-1``;
    ``context_latents`` ``(C, c, g, g)`` the context as the miner encoded it;
    ``digests[j]`` binds ``latents[j]``; ``frames`` ``(T, 3, H, W)`` uint8 only when
    the task asked for them."""

    model_config = _STRICT
    spec_version: int = SPEC_VERSION
    task_id: TaskId
    model_id: ModelId
    precision: Precision
    context_latents: Array
    latents: Array
    digests: list[Digest] = Field(min_length=1, max_length=MAX_HORIZON)
    frames: Array | None = None
    timing: Timing
    device: str = Field(max_length=128)

    @model_validator(mode="after")
    def _shapes(self) -> RolloutResult:
        lat, ctx = self.latents.shape, self.context_latents.shape
        if self.latents.dtype != "float32" or self.context_latents.dtype != "float32":
            raise ValueError("latents are float32")
        if len(lat) != 4 or len(ctx) != 4 or lat[1:] != ctx[1:]:
            raise ValueError("latents and context_latents must be (n, c, g, g) alike")
        if len(self.digests) != lat[0]:
            raise ValueError("one digest per predicted step")
        if self.frames is not None and (
            self.frames.dtype != "uint8" or self.frames.shape[0] != lat[0]
        ):
            raise ValueError("frames must be uint8, one per predicted step")
        return self
