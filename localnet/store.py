"""SQLite persistence: one transaction per block.

A block's row, its events, the epoch history it produced and (when anything
changed) the whole state document are written in one transaction, so a crash
mid-block leaves the database at the previous block, never half-way.
The standard library's sqlite3 is used directly: the schema is four tables
that only this module touches, and the hot path is a single INSERT.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from wmnet.localnet.epoch import EpochRecord
from wmnet.localnet.state import ChainState

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (id INTEGER PRIMARY KEY CHECK (id = 1), block INTEGER NOT NULL,
    document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,
    parent_hash TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, extrinsics TEXT NOT NULL,
    events TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epochs (netuid INTEGER NOT NULL, block INTEGER NOT NULL,
    uid INTEGER NOT NULL, hotkey TEXT NOT NULL, coldkey TEXT NOT NULL, stake INTEGER NOT NULL,
    incentive REAL NOT NULL, dividends REAL NOT NULL, emission INTEGER NOT NULL,
    server_emission INTEGER NOT NULL, validator_emission INTEGER NOT NULL,
    validator_permit INTEGER NOT NULL, PRIMARY KEY (netuid, block, uid));
"""


class BlockRow(dict):
    """A stored block: number, hash, parent_hash, timestamp_ms, extrinsics, events."""


class ChainStore:
    def __init__(self, path: str | Path | None = None):
        self.path = str(path) if path else ":memory:"
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def load_state(self) -> ChainState | None:
        with self._lock:
            row = self._db.execute("SELECT block, document FROM state WHERE id = 1").fetchone()
            if row is None:
                return None
            state = ChainState.model_validate_json(row[1])
            head = self._db.execute("SELECT MAX(number) FROM blocks").fetchone()[0]
        # Blocks after the last state write changed nothing but the height.
        state.block = max(int(row[0]), int(head or 0))
        return state

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def commit_blocks(
        self,
        blocks: list[BlockRow],
        state: ChainState | None,
        epochs: list[EpochRecord],
    ) -> None:
        """Write produced blocks (and the state after them, if it changed) atomically."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany(
                    "INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (
                            b["number"],
                            b["hash"],
                            b["parent_hash"],
                            b["timestamp_ms"],
                            json.dumps(b["extrinsics"]),
                            json.dumps(b["events"]),
                        )
                        for b in blocks
                    ],
                )
                if epochs:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO epochs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        [tuple(asdict(r).values()) for r in epochs],
                    )
                if state is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO state VALUES (1, ?, ?)",
                        (state.block, state.model_dump_json()),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def block(self, number: int | None = None, block_hash: str | None = None) -> BlockRow | None:
        with self._lock:
            if block_hash is not None:
                row = self._db.execute(
                    "SELECT * FROM blocks WHERE hash = ?", (block_hash,)
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT * FROM blocks WHERE number = ?", (number,)
                ).fetchone()
        if row is None:
            return None
        return BlockRow(
            number=row[0],
            hash=row[1],
            parent_hash=row[2],
            timestamp_ms=row[3],
            extrinsics=json.loads(row[4]),
            events=json.loads(row[5]),
        )

    def epoch_history(self, netuid: int, since_block: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._db.execute(
                "SELECT * FROM epochs WHERE netuid = ? AND block >= ? ORDER BY block, uid",
                (netuid, since_block),
            )
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]
