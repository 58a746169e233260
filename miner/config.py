"""The miner's settings: one frozen dataclass, built by the CLI, read by every part.

It holds only public facts (the hotkey's ss58 address, never a key), so it can be
logged and passed to uvicorn worker processes as JSON (``WMNET_MINER_CONFIG``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

from wmnet.protocol.spec import MAX_QUEUE, MAX_SLOTS, MAX_WINDOW_S, PRECISIONS

# random, fake10, replay cheat on rollouts (miner/cheats.py); lazy, copy on training
# shards only (miner/shard_cheats.py).
Cheat = Literal["random", "fake10", "replay", "lazy", "copy"]
CHEATS: tuple[str, ...] = ("random", "fake10", "replay", "lazy", "copy")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

# The least stake a caller needs by default, in units of 1e9 rao of the metagraph's
# total stake (alpha on a dynamic subnet). On a small subnet every staked neuron holds a
# validator permit, so a permit alone is no bar: with 0 here any registered miner with a
# little stake could buy rollouts from the others for free (docs/miner.md).
DEFAULT_MIN_STAKE = 100.0

# uvicorn worker processes read their settings from here (see miner/serve.py).
CONFIG_ENV = "WMNET_MINER_CONFIG"


@dataclass(frozen=True)
class MinerConfig:
    """Everything the app factory needs; defaults are a loopback miner on the localnet."""

    hotkey_ss58: str  # this miner's hotkey: requests must be signed for it
    netuid: int
    # Where its key lives (names only), for what the miner signs itself (training-shard
    # updates); each worker loads it (wmnet.miner.keys).
    wallet: str | None = None
    wallet_hotkey: str = "default"
    wallet_path: str | None = None
    network: str = "localnet"
    host: str = "127.0.0.1"
    port: int = 8091
    device: str = "auto"  # auto | cpu | cuda
    precisions: tuple[str, ...] = ("fp32",)
    model_ids: tuple[str, ...] = ()  # empty: the checkpoint shipped in the repo
    model_dirs: tuple[str, ...] = ()
    attention: str = "sdpa"  # attention backend (see wmnet.miner.engine.ATTENTION_BACKENDS)
    # Training shards: the object store shared with validators (a directory or
    # s3://bucket/prefix?endpoint_url=…); None serves rollouts only.
    store: str | None = None
    # Scheduler: at most max_batch tasks run in one rollout call; queue_limit more wait.
    max_batch: int = 8
    queue_limit: int = 64
    batch_wait_ms: float = 2.0  # how long a lone task waits for compatible company
    # Authorization and rate limiting.
    min_stake: float = DEFAULT_MIN_STAKE  # in units of 1e9 rao of the metagraph's total stake
    rate: float = 20.0  # requests/s refilled for a validator holding the mean stake
    burst: float = 40.0  # bucket size
    metagraph_poll_s: float = 1.0  # how often the block number is polled
    # Replay protection shared by several workers.
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    redis_prefix: str = "wmnet:nonce:"
    workers: int = 1
    # Recording results (an honest miner) and the adversarial test behaviours.
    record_dir: str | None = None
    replay_dir: str | None = None
    cheat: Cheat | None = None
    busy_window_s: float = 60.0
    metrics_public: bool = False  # /metrics answers loopback callers only unless set

    def __post_init__(self) -> None:
        bad = [p for p in self.precisions if p not in PRECISIONS]
        if bad or not self.precisions:
            raise ValueError(f"precisions must be a non-empty subset of {PRECISIONS}, got {bad}")
        if self.attention not in ("sdpa", "auto", "flex"):
            raise ValueError(f"attention must be sdpa, auto or flex, got {self.attention!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.cheat is not None and self.cheat not in CHEATS:
            raise ValueError(f"cheat must be one of {CHEATS}, got {self.cheat!r}")
        if not (1 <= self.max_batch <= MAX_SLOTS and 1 <= self.queue_limit <= MAX_QUEUE):
            raise ValueError(
                f"max_batch must be in 1..{MAX_SLOTS} and queue_limit in 1..{MAX_QUEUE}"
            )
        if not 0 < self.busy_window_s <= MAX_WINDOW_S:
            raise ValueError(f"busy_window_s must be in (0, {MAX_WINDOW_S:g}]")
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        if self.min_stake < 0:
            raise ValueError("min_stake must not be negative")
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.workers > 1 and not self.redis_url:
            raise ValueError(
                "--workers > 1 needs --redis-url: each worker is its own process, and "
                "replay protection only holds when they share one nonce store"
            )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MinerConfig:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown miner config fields: {sorted(unknown)}")
        for name in ("precisions", "model_ids", "model_dirs"):
            if name in raw:
                raw[name] = tuple(raw[name])
        return cls(**raw)
