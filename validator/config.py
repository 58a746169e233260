"""A validator's settings: one frozen dataclass, filled by ``wmnet validator run``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wmnet.validator.shards import ShardConfig
from wmnet.validator.tasks import TaskPolicy

# How the weights split between workloads (renormalised over workloads with any score;
# see wmnet.validator.blend). A workload with share 0 is not asked at all.
DEFAULT_SHARES = {"rollout": 0.5, "train_shard": 0.5}


@dataclass(frozen=True)
class ValidatorConfig:
    netuid: int
    network: str = "localnet"
    sample_size: int = 16  # miners asked per round
    round_interval_s: float = 1.0  # pause between rounds
    score_alpha: float = 0.2  # moving-average weight of the newest round
    weights_interval_blocks: int | None = None  # None: once per tempo
    precisions: tuple[str, ...] = ("fp32", "bf16", "int8")
    policy: TaskPolicy = field(default_factory=TaskPolicy)
    state_path: Path = Path("~/.wmnet/validator/state.json")
    usage_path: Path = Path("~/.wmnet/validator/usage.jsonl")
    capacity_refresh_blocks: int = 20
    capacity_timeout_s: float = 5.0  # a capacity report, all in (connect to last byte)
    chain_retry_s: float = 1.0
    seed: int | None = None  # for reproducible task draws in tests
    shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))
    shards: ShardConfig | None = None  # None: no training-shard rounds
