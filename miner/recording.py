"""Results written to disk as they are served (``--record-dir``), and read back.

An honest miner started with ``--record-dir D`` writes each ``RolloutResult`` it
answers as ``D/<task_id>-<ns>.json`` (write-then-rename, so a reader never sees half a
file). The replay cheat (``wmnet.miner.cheats``) reads them: that is how tests and the
demo make a miner that answers with *another* miner's work. The directory is capped at
``max_files`` (oldest removed first) so a long run cannot fill the disk.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from pydantic import ValidationError

from wmnet.protocol.rollout import RolloutResult

DEFAULT_MAX_FILES = 512


class ResultRecorder:
    def __init__(self, directory: str | Path, max_files: int = DEFAULT_MAX_FILES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_files = max_files

    def write(self, result: RolloutResult) -> Path:
        path = self.directory / f"{result.task_id}-{time.time_ns()}.json"
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(result.model_dump_json())
        os.replace(tmp, path)
        self._prune()
        return path

    def _prune(self) -> None:
        files = sorted(self.directory.glob("*.json"), key=_mtime)
        for old in files[: max(0, len(files) - self.max_files)]:
            with contextlib.suppress(OSError):  # another process pruned it first
                old.unlink()


def load_recorded(directory: str | Path, limit: int = 64) -> list[RolloutResult]:
    """The newest ``limit`` readable results in ``directory`` (unreadable files skipped)."""
    root = Path(directory)
    if not root.is_dir():
        return []
    files = sorted(root.glob("*.json"), key=_mtime, reverse=True)
    out = []
    for path in files[:limit]:
        with contextlib.suppress(OSError, ValidationError, ValueError):
            out.append(RolloutResult.model_validate_json(path.read_bytes()))
    return out


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:  # removed by a concurrent prune: sorts first, skipped when read
        return 0
