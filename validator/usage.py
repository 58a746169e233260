"""Usage events: what work was done, by whom, and whether it was verified.

The validator writes one event per miner answer (synthetic: the validator's own
probes; organic: a paying customer's request through the gateway). The ledger
ingests them; until it has its own store, :class:`JsonlUsageSink` appends JSON lines,
one event per line, flushed per event so a crash loses at most the line being written.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol


@dataclass(frozen=True)
class UsageEvent:
    """One answered (or failed) request. ``units`` are predicted steps for rollouts."""

    request_id: str
    time: float  # unix seconds
    netuid: int
    miner_uid: int
    miner_hotkey: str
    workload: Literal["rollout", "train_shard"]
    units: int
    device_seconds: float  # the miner's reported compute time
    origin: Literal["synthetic", "organic"]
    verified: bool
    reason: str  # "ok" or why the answer failed


class UsageSink(Protocol):
    def record(self, event: UsageEvent) -> None: ...


class JsonlUsageSink:
    """Appends events to a JSON-lines file (created with its folder on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, event: UsageEvent) -> None:
        line = json.dumps(asdict(event), sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()

    def read(self) -> list[UsageEvent]:
        """Every complete event in the file (a torn last line is skipped)."""
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(UsageEvent(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue
        return events


class MemoryUsageSink:
    """Keeps events in a list (tests, and the demo's live display)."""

    def __init__(self) -> None:
        self.events: list[UsageEvent] = []

    def record(self, event: UsageEvent) -> None:
        self.events.append(event)
