"""The training-shard workload on the wire: a round's task, its result, and the
compressed pseudo-gradient format (``wmnet-sparseloco-v1``).

Flow (DiLoCo rounds, SparseLoCo compression, Templar-style object store):

1. A validator opens a round: ``round_id`` (random, so no miner knows its data before
   the round), the base checkpoint's id (the sha256 of its safetensors file, as
   ``wmnet.worldmodel.checkpoint`` names models), and for each miner a
   ``ShardTask`` whose :class:`ShardData` is derived from ``round_id`` and the miner's
   hotkey (``wmnet.training.shards``): a miner cannot choose its data.
2. The miner fetches the base from the shared object store (verified by hash), runs
   ``hyper.inner_steps`` AdamW steps on its shard, compresses the pseudo-gradient
   ``theta_base - theta_end`` with error feedback, seals the bytes in an envelope
   signed by its hotkey (below), puts the envelope in the object store under its own
   prefix (``updates/<hotkey>/<sha256>``, write-once) and answers ``POST /v1/shard``
   with a :class:`ShardResult` naming the object.
3. The validator reads the object from the answering miner's prefix as soon as the
   answer arrives (verified by hash, its size known in advance), checks the envelope
   (this miner's signature, this task), decodes the update, scores it and aggregates
   the best updates into the next checkpoint.

Envelope, ``wmnet-update-v1`` (the object a miner stores; integers little-endian):

====== ==== ============================================================
offset size field
====== ==== ============================================================
0      4    magic ``b"WMSU"``
4      1    envelope version, 1
5      1    signature scheme, 1 = sr25519
6      2    reserved, 0
8      32   author: the miner's hotkey public key
40     32   ``sha256(task_id)`` (ASCII): the task this update answers
72     32   ``sha256(payload)``
104    64   signature by the author over ``b"wmnet-update-v1|" + bytes[0:104]``
168    ..   payload: the compressed update below
====== ==== ============================================================

A copied object is signed by someone else; a re-signed copy is a new object that can
only be stored after the original (``wmnet.training.envelope``).

Compressed update, version 1, byte for byte (all integers little-endian). The update
is one float32 vector ``x`` of ``n`` elements: the model's trainable tensors
(``wmnet.training.params``) flattened in C order and concatenated in their
``state_dict`` order. ``x`` is cut into chunks of ``C = 2**index_bits`` consecutive
elements (4096 = one 64x64 tile of SparseLoCo by default); the last chunk holds
``r = n - (n_chunks - 1) * C`` elements. A full chunk keeps ``k`` elements, the last
``k_last = max(1, ceil(k * r / C))``; ``K`` is the total kept.

====== ======================== ==================================================
offset size                     field
====== ======================== ==================================================
0      4                        magic ``b"WMSL"``
4      1                        format version, 1
5      1                        ``index_bits`` b, 6..16 (chunk ``C = 2**b``)
6      1                        ``value_bits``, 2
7      1                        reserved, 0
8      8                        ``n`` (u64), 1..``MAX_UPDATE_ELEMENTS``
16     4                        ``k`` (u32), 1..C
20     4 * n_chunks             per chunk ``(lo, hi)``: two u16 bfloat16 bit patterns
..     ceil(2 * K / 8)          value codes, 2 bits each, LSB first
..     ceil(b * K / 8)          in-chunk indices, b bits each, LSB first
====== ======================== ==================================================

"LSB first": item ``t`` of width ``w`` occupies stream bits ``t*w .. t*w+w-1``, stream
bit ``p`` being bit ``p % 8`` of byte ``p // 8``; bits past the last item are 0.
Items run chunk by chunk; within a chunk the indices are strictly increasing and
below the chunk's length. A code's bit 0 says "large" (magnitude ``hi``, else
``lo``), bit 1 says "negative". The decoded vector is 0 everywhere except
``x[c*C + idx] = (-1 if neg else 1) * (hi_c if large else lo_c)`` (bfloat16 widened
to float32, exact). ``lo`` and ``hi`` are finite, ``0 <= lo <= hi``. The object's
length must equal the layout exactly. Nothing else is in the object: which round,
which base and which miner live in the :class:`ShardResult` that names it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wmnet.protocol.rollout import TaskId, TaskSpecVersion
from wmnet.protocol.spec import (
    MAX_EPISODE_LEN,
    MAX_INNER_BATCH,
    MAX_INNER_STEPS,
    MAX_REPORTED_MS,
    MAX_SAMPLES,
    MAX_SHARD_DEADLINE_MS,
    MAX_SHARD_EPISODES,
    MAX_UPDATE_BYTES,
    MIN_DEADLINE_MS,
    SPEC_VERSION,
)

# The signed envelope above.
ENVELOPE_MAGIC = b"WMSU"
ENVELOPE_VERSION = 1
ENVELOPE_SR25519 = 1
ENVELOPE_HEADER_BYTES = 168
ENVELOPE_DOMAIN = b"wmnet-update-v1"

# The compressed-update format above.
UPDATE_MAGIC = b"WMSL"
UPDATE_VERSION = 1
UPDATE_HEADER_BYTES = 20
VALUE_BITS = 2
MIN_INDEX_BITS, MAX_INDEX_BITS = 6, 16
MAX_UPDATE_ELEMENTS = 1 << 34

ObjectId = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]  # sha256 hex of the bytes
RoundId = TaskId

_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ShardData(BaseModel):
    """A miner's data: ``make_ballworld_episodes(n_episodes, episode_len, seed)`` at the
    model's resolution (episode ``i`` is seeded ``(seed, i)``, so shards with different
    seeds never share an episode)."""

    model_config = _STRICT
    env: Literal["ballworld"] = "ballworld"
    seed: int = Field(ge=0, le=2**63 - 1)
    n_episodes: int = Field(ge=1, le=MAX_SHARD_EPISODES)
    episode_len: int = Field(ge=2, le=MAX_EPISODE_LEN)


class InnerHyper(BaseModel):
    """How to train (the same for every miner of a round): ``inner_steps`` AdamW steps
    (fresh optimizer state each round, DiLoCo's inner optimizer) on ``batch`` windows
    of ``seq_len`` frames, then compress with top-``density`` per ``chunk`` elements
    and error feedback ``e = ef_decay * e + delta``."""

    model_config = _STRICT
    inner_steps: int = Field(ge=1, le=MAX_INNER_STEPS)
    batch: int = Field(default=8, ge=1, le=MAX_INNER_BATCH)
    seq_len: int = Field(default=8, ge=2, le=MAX_EPISODE_LEN + 1)
    lr: float = Field(default=3e-4, gt=0, le=1)
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    grad_clip: float = Field(default=1.0, gt=0)
    latent_noise: float = Field(default=0.03, ge=0, le=1)  # as wmnet.worldmodel.train
    density: float = Field(default=60 / 4096, gt=0, le=1)
    chunk: int = Field(default=4096, ge=2**MIN_INDEX_BITS, le=2**MAX_INDEX_BITS)
    ef_decay: float = Field(default=0.95, ge=0, le=1)

    @field_validator("chunk")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v & (v - 1):
            raise ValueError("chunk must be a power of two")
        return v


class ShardTask(BaseModel):
    """``POST /v1/shard`` body: train ``base_id`` on ``shard`` under ``hyper``."""

    model_config = _STRICT
    spec_version: TaskSpecVersion = SPEC_VERSION
    workload: Literal["train_shard"] = "train_shard"
    task_id: TaskId
    round_id: RoundId
    base_id: ObjectId
    shard: ShardData
    hyper: InnerHyper
    deadline_ms: int = Field(default=120_000, ge=MIN_DEADLINE_MS, le=MAX_SHARD_DEADLINE_MS)


class ShardResult(BaseModel):
    """The miner's answer: the object id (sha256) of its sealed update under its own
    prefix in the store and the object's size, and what the work cost (``samples``:
    training windows seen; self-reported, informational: the validator scores the
    update itself)."""

    model_config = _STRICT
    spec_version: int = SPEC_VERSION
    task_id: TaskId
    round_id: RoundId
    base_id: ObjectId
    update_id: ObjectId
    update_bytes: int = Field(ge=ENVELOPE_HEADER_BYTES + UPDATE_HEADER_BYTES, le=MAX_UPDATE_BYTES)
    samples: int = Field(ge=0, le=MAX_SAMPLES)
    inner_steps: int = Field(ge=0, le=MAX_INNER_STEPS)
    compute_ms: float = Field(ge=0, le=MAX_REPORTED_MS)
    loss_first: float | None = None
    loss_last: float | None = None
    device: str = Field(max_length=128)
