"""SQLite persistence: an append-only block journal plus periodic snapshots.

Each block writes one transaction: its row (header, extrinsics, events), its
journal (the signed extrinsics replay needs), the epoch history it produced,
and, every ``snapshot_every`` blocks, a snapshot of the whole state. A
block's cost is therefore proportional to what it carried, not to the size of
the state. A crash mid-block leaves the database at the previous block;
opening it again loads the newest snapshot and replays the journal after it
(localnet/replay.py).

The standard library's sqlite3 is used directly: the schema is five tables
that only this module touches.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from wmnet.localnet.block import BlockRow, Journal
from wmnet.localnet.epoch import EpochRecord
from wmnet.localnet.state import ChainState

# SQLite integers are signed 64-bit: anything larger is no block number.
MAX_SQL_INT = 2**63 - 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,
    parent_hash TEXT NOT NULL, timestamp_ms INTEGER NOT NULL, extrinsics TEXT NOT NULL,
    events TEXT NOT NULL, journal TEXT);
CREATE TABLE IF NOT EXISTS snapshots (block INTEGER PRIMARY KEY, document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epochs (netuid INTEGER NOT NULL, block INTEGER NOT NULL,
    uid INTEGER NOT NULL, hotkey TEXT NOT NULL, coldkey TEXT NOT NULL, stake INTEGER NOT NULL,
    incentive REAL NOT NULL, dividends REAL NOT NULL, emission INTEGER NOT NULL,
    server_emission INTEGER NOT NULL, validator_emission INTEGER NOT NULL,
    validator_permit INTEGER NOT NULL, PRIMARY KEY (netuid, block, uid));
"""


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
        self._migrate_whole_document_store()
        self._db.executescript(SCHEMA)

    def _migrate_whole_document_store(self) -> None:
        """A database from before the journal: its one state document becomes a snapshot."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if "state" not in tables:
            return
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(blocks)")}
        if "journal" not in columns:
            self._db.execute("ALTER TABLE blocks ADD COLUMN journal TEXT")
        row = self._db.execute("SELECT document FROM state WHERE id = 1").fetchone()
        head = self._db.execute("SELECT MAX(number) FROM blocks").fetchone()[0] or 0
        if row is not None:
            # Blocks after the last document write changed nothing but the height.
            self._db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?)", (head, row[0]))
        self._db.execute("DROP TABLE state")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- meta ---------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- writes -------------------------------------------------------------

    def commit_block(
        self,
        row: BlockRow,
        journal: Journal | None,
        epochs: list[EpochRecord],
        snapshot: ChainState | None = None,
    ) -> None:
        """Write one block (and, when given, a snapshot of the state after it) atomically."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        row["number"],
                        row["hash"],
                        row["parent_hash"],
                        row["timestamp_ms"],
                        json.dumps(row["extrinsics"]),
                        json.dumps(row["events"]),
                        None if journal is None else json.dumps(journal.to_json()),
                    ),
                )
                if epochs:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO epochs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        [tuple(asdict(r).values()) for r in epochs],
                    )
                if snapshot is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO snapshots VALUES (?, ?)",
                        (snapshot.block, snapshot.model_dump_json()),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def write_snapshot(self, state: ChainState) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?)",
                (state.block, state.model_dump_json()),
            )

    def prune_snapshots(self, keep_from: int) -> None:
        """Drop snapshots no read can need: all before the newest one at or before ``keep_from``."""
        with self._lock:
            floor = self._db.execute(
                "SELECT MAX(block) FROM snapshots WHERE block <= ?", (keep_from,)
            ).fetchone()[0]
            if floor is not None:
                self._db.execute("DELETE FROM snapshots WHERE block < ?", (floor,))

    # --- reads --------------------------------------------------------------

    def head(self) -> int | None:
        with self._lock:
            value = self._db.execute("SELECT MAX(number) FROM blocks").fetchone()[0]
        return None if value is None else int(value)

    def snapshot_at_or_before(self, number: int) -> ChainState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT document FROM snapshots WHERE block <= ? ORDER BY block DESC LIMIT 1",
                (min(number, MAX_SQL_INT),),
            ).fetchone()
        return None if row is None else ChainState.model_validate_json(row[0])

    def oldest_snapshot(self) -> int | None:
        with self._lock:
            value = self._db.execute("SELECT MIN(block) FROM snapshots").fetchone()[0]
        return None if value is None else int(value)

    def journal(self, after: int, upto: int) -> Iterator[tuple[int, int, Journal]]:
        """(number, timestamp_ms, journal) of blocks ``after`` < number ≤ ``upto``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT number, timestamp_ms, journal FROM blocks "
                "WHERE number > ? AND number <= ? ORDER BY number",
                (after, min(upto, MAX_SQL_INT)),
            ).fetchall()
        for number, timestamp_ms, journal in rows:
            yield int(number), int(timestamp_ms), Journal.from_json(json.loads(journal or "{}"))

    def block(self, number: int | None = None, block_hash: str | None = None) -> BlockRow | None:
        with self._lock:
            if block_hash is not None:
                row = self._db.execute(
                    "SELECT * FROM blocks WHERE hash = ?", (str(block_hash),)
                ).fetchone()
            elif number is None or not 0 <= number <= MAX_SQL_INT:
                return None
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
        if not 0 <= netuid <= MAX_SQL_INT:
            return []
        with self._lock:
            cursor = self._db.execute(
                "SELECT * FROM epochs WHERE netuid = ? AND block >= ? ORDER BY block, uid",
                (netuid, max(0, min(since_block, MAX_SQL_INT))),
            )
            names = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]
