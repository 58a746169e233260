"""Usage events and weight attribution from validators, into the ledger.

Two ways in, one storage path (:func:`store_records`):

* :func:`ingest_jsonl` reads the JSON-lines file a validator writes
  (``wmnet.protocol.usage`` records, one per line). It resumes at the byte offset
  it stored last time, in the same transaction as the records it read, so a kill
  loses nothing and counts nothing twice; a torn last line waits for the next run,
  and an invalid line is skipped and counted. A file shorter than the stored
  offset (rotated) is read again from the start; request ids are unique, so events
  already stored are skipped.
* :class:`LedgerUsageSink` is a validator's sink (``record`` / ``record_attribution``
  / ``record_capacity`` / ``record_audit``) that writes straight to the ledger instead
  of a file.

Audit records go to ``audits``, one row per audited answer (a second record for the
same request id is skipped).

Attribution rows are upserted on (netuid, block, validator, miner uid, workload);
storing them re-splits the subsidies of the epochs they can affect.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from wmnet.ledger import models
from wmnet.ledger.capacity import capacity_row
from wmnet.ledger.models import PPB
from wmnet.ledger.subsidy import reattribute
from wmnet.ledger.upsert import add_to, insert_ignore, insert_new, upsert
from wmnet.protocol.usage import (
    AuditRecord,
    CapacityRecord,
    UsageEvent,
    UsageRecord,
    WeightAttribution,
)

_RECORD: TypeAdapter[UsageEvent | WeightAttribution | CapacityRecord | AuditRecord] = TypeAdapter(
    UsageRecord
)
BATCH_LINES = 5000


def usage_row(event: UsageEvent | AuditRecord) -> dict[str, Any]:
    """The ``usage_events`` (or ``audits``) row of a record: its fields without the
    ``kind`` tag."""
    row = dict(event.__dict__)  # pydantic v2 keeps field values here; no re-validation
    del row["kind"]
    return row


def rollup_rows(new: Sequence[Any]) -> list[dict[str, Any]]:
    """Hourly sums of newly stored events: (time, netuid, workload, origin, verified,
    units, device_seconds) rows in, one row per (hour, netuid, workload, origin) out."""
    sums: dict[tuple, list] = {}
    for t, netuid, workload, origin, verified, units, seconds in new:
        key = (int(t // 3600), netuid, workload, origin)
        acc = sums.setdefault(key, [0, 0, 0, 0.0])
        acc[0] += 1
        acc[1] += 1 if verified else 0
        acc[2] += units
        acc[3] += seconds
    return [
        {"hour": h, "netuid": n, "workload": w, "origin": o, "requests": r, "verified": v,
         "units": u, "device_seconds": d}
        for (h, n, w, o), (r, v, u, d) in sorted(sums.items())
    ]  # fmt: skip


def attribution_rows(row: WeightAttribution) -> list[dict[str, Any]]:
    """One ledger row per workload; weight and share as parts per billion."""
    return [
        {
            "netuid": row.netuid,
            "block": row.block,
            "time": row.time,
            "validator_hotkey": row.validator_hotkey,
            "miner_uid": row.miner_uid,
            "miner_hotkey": row.miner_hotkey,
            "workload": workload,
            "weight_ppb": round(row.weight * PPB),
            "share_ppb": round(share * PPB),
        }
        for workload, share in sorted(row.by_workload.items())
    ]


def store_usage_rows(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert usage rows (``usage_row`` dicts) not stored yet and add them to the hourly
    rollups, in the caller's transaction; how many were new."""
    new = insert_new(
        session,
        models.UsageEvent.__table__,
        rows,
        returning=("time", "netuid", "workload", "origin", "verified", "units", "device_seconds"),
    )
    add_to(
        session,
        models.UsageRollup.__table__,
        rollup_rows(new),
        keys=("hour", "netuid", "workload", "origin"),
        counters=("requests", "verified", "units", "device_seconds"),
    )
    return len(new)


def store_records(
    session: Session,
    events: Sequence[UsageEvent],
    attribution: Sequence[WeightAttribution] = (),
    capacity: Sequence[CapacityRecord] = (),
    audits: Sequence[AuditRecord] = (),
) -> None:
    """Store records in the caller's transaction (duplicates skipped or updated)."""
    store_usage_rows(session, [usage_row(e) for e in events])
    if audits:
        insert_ignore(session, models.Audit.__table__, [usage_row(a) for a in audits])
    if capacity:
        insert_ignore(
            session,
            models.CapacityReport.__table__,
            [capacity_row(c.report, c.netuid, c.miner_uid) for c in capacity],
        )
    if not attribution:
        return
    rows = [r for a in attribution for r in attribution_rows(a)]
    upsert(
        session,
        models.WeightAttribution.__table__,
        rows,
        keys=("netuid", "block", "validator_hotkey", "miner_uid", "workload"),
        update=("time", "miner_hotkey", "weight_ppb", "share_ppb"),
    )
    earliest: dict[int, int] = {}
    for a in attribution:
        earliest[a.netuid] = min(a.block, earliest.get(a.netuid, a.block))
    for netuid, block in earliest.items():
        reattribute(session, netuid, block)


@dataclass
class IngestStats:
    lines: int = 0
    events: int = 0
    attribution: int = 0
    capacity: int = 0
    invalid: int = 0
    audits: int = 0
    offset: int = 0
    seconds: float = 0.0


def parse_lines(lines: Iterable[bytes], stats: IngestStats) -> tuple[list, list, list, list]:
    events: list[UsageEvent] = []
    attribution: list[WeightAttribution] = []
    capacity: list[CapacityRecord] = []
    audits: list[AuditRecord] = []
    for line in lines:
        stats.lines += 1
        if not line.strip():
            continue
        try:
            record = _RECORD.validate_json(line)
        except ValidationError:
            stats.invalid += 1
            continue
        if isinstance(record, UsageEvent):
            events.append(record)
        elif isinstance(record, WeightAttribution):
            attribution.append(record)
        elif isinstance(record, AuditRecord):
            audits.append(record)
        else:
            capacity.append(record)
    stats.events += len(events)
    stats.attribution += len(attribution)
    stats.capacity += len(capacity)
    stats.audits += len(audits)
    return events, attribution, capacity, audits


def _stored_offset(session: Session, source: str) -> int:
    offset = session.scalar(
        select(models.IngestOffset.offset).where(models.IngestOffset.source == source)
    )
    return int(offset or 0)


def ingest_jsonl(
    sessions: sessionmaker[Session], path: str | os.PathLike[str], batch_lines: int = BATCH_LINES
) -> IngestStats:
    """Ingest the complete lines of ``path`` after the stored offset; see module doc."""
    started = time.perf_counter()
    path = Path(path)
    source = str(path.resolve())
    stats = IngestStats()
    with sessions() as session:
        offset = _stored_offset(session, source)
    size = path.stat().st_size
    if size < offset:
        offset = 0
    with path.open("rb") as fh:
        fh.seek(offset)
        while True:
            lines: list[bytes] = []
            consumed = 0
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # a torn last line: the writer has not finished it
                lines.append(line)
                consumed += len(line)
                if len(lines) >= batch_lines:
                    break
            if not lines:
                break
            events, attribution, capacity, audits = parse_lines(lines, stats)
            offset += consumed
            with sessions.begin() as session:
                store_records(session, events, attribution, capacity, audits)
                upsert(
                    session,
                    models.IngestOffset.__table__,
                    [{"source": source, "offset": offset, "updated_at": time.time()}],
                    keys=("source",),
                    update=("offset", "updated_at"),
                )
            if len(lines) < batch_lines:
                break
    stats.offset = offset
    stats.seconds = time.perf_counter() - started
    return stats


class LedgerUsageSink:
    """A validator's usage sink that writes to the ledger (one transaction per call).

    Satisfies ``wmnet.validator.usage.UsageSink``: ``record(event)`` and
    ``record_attribution(rows)``. Safe to share between threads (each call opens its
    own session).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def record(self, event: UsageEvent) -> None:
        self.record_many([event])

    def record_many(self, events: Sequence[UsageEvent]) -> None:
        with self.sessions.begin() as session:
            store_records(session, events)

    def record_attribution(self, rows: list[WeightAttribution]) -> None:
        with self.sessions.begin() as session:
            store_records(session, (), rows)

    def record_capacity(self, record: CapacityRecord) -> None:
        with self.sessions.begin() as session:
            store_records(session, (), (), [record])

    def record_audit(self, record: AuditRecord) -> None:
        with self.sessions.begin() as session:
            store_records(session, (), (), (), [record])
