"""One spec version for everything a miner and a validator must agree on.

Templar's lesson: miner and validator read the same hyperparameters from one place,
with a version, so a mismatch is detected (a 400 naming both versions), not debugged.
Bump ``SPEC_VERSION`` whenever a wire model, the digest or a tolerance changes meaning.
"""

from __future__ import annotations

from typing import Literal

SPEC_VERSION = 1

Workload = Literal["rollout", "train_shard"]
WORKLOADS: tuple[str, ...] = ("rollout", "train_shard")

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")

# Endpoints a miner serves (paths are part of the btauth/1 signed payload).
ROLLOUT_PATH = "/v1/rollout"
SHARD_PATH = "/v1/shard"
CAPACITY_PATH = "/v1/capacity"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"

# Size limits: a request or answer outside them is refused before any work is done.
MAX_HORIZON = 256  # predicted steps per task
MAX_CONTEXT_FRAMES = 16
MAX_ACTION = 255  # actions are small integers; the model checks its own n_actions
MAX_ARRAY_BYTES = 8 * 1024 * 1024  # one decoded array
MAX_REQUEST_BYTES = 2 * 1024 * 1024  # a task body (frames of a customer's context)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # a result body (latents, optional frames)
MAX_CAPACITY_BYTES = 64 * 1024  # a capacity report body
MAX_SHARD_RESULT_BYTES = 64 * 1024  # a shard result body (the update itself is in the store)
MIN_DEADLINE_MS = 50
MAX_DEADLINE_MS = 600_000

# Training shards (see wmnet.protocol.shard): a task asks for at most this much work,
# and an update or a checkpoint in the object store is refused past these sizes.
MAX_INNER_STEPS = 10_000
MAX_INNER_BATCH = 1024  # windows per inner step
MAX_SHARD_EPISODES = 4096
MAX_EPISODE_LEN = 256
MAX_UPDATE_BYTES = 64 * 1024 * 1024  # one compressed pseudo-gradient
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024  # one safetensors checkpoint
MAX_SHARD_DEADLINE_MS = 3_600_000

# Values a miner reports about itself (capacity, timings): bounded so that nothing a
# miner says can overflow a ledger column (int32 counts, unix-second floats) or turn a
# figure into inf. A report outside them is refused whole.
MAX_SLOTS = 65_536  # tasks run at once (a batch); int32 columns hold far more
MAX_QUEUE = 1_048_576  # tasks held waiting
MAX_WINDOW_S = 86_400.0  # the busy-fraction window
MAX_REPORTED_MS = float(MAX_SHARD_DEADLINE_MS)  # any self-reported duration
MAX_SAMPLES = 2**31 - 1  # training windows one shard task may report

# The latent digest (see wmnet.protocol.digest): version and rounding bits.
DIGEST_VERSION = "wmnet-latent-v1"
DIGEST_BITS = 12
