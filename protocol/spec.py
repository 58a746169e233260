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
MIN_DEADLINE_MS = 50
MAX_DEADLINE_MS = 600_000

# Training shards (see wmnet.protocol.shard): a task asks for at most this much work,
# and an update or a checkpoint in the object store is refused past these sizes.
MAX_INNER_STEPS = 10_000
MAX_SHARD_EPISODES = 4096
MAX_EPISODE_LEN = 256
MAX_UPDATE_BYTES = 64 * 1024 * 1024  # one compressed pseudo-gradient
MAX_CHECKPOINT_BYTES = 512 * 1024 * 1024  # one safetensors checkpoint
MAX_SHARD_DEADLINE_MS = 3_600_000

# The latent digest (see wmnet.protocol.digest): version and rounding bits.
DIGEST_VERSION = "wmnet-latent-v1"
DIGEST_BITS = 12
