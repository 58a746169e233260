"""Where a validator's usage events and weight attribution go.

The records are ``wmnet.protocol.usage`` models; the ledger ingests them. A sink is
anything with ``record(event)``, ``record_attribution(rows)``,
``record_capacity(record)`` and ``record_audit(record)``;
:class:`JsonlUsageSink` appends JSON lines (one record per line, flushed per record,
so a crash loses at most the line being written; a torn last line is skipped on read).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

from pydantic import TypeAdapter, ValidationError

from wmnet.protocol.usage import (
    AuditRecord,
    CapacityRecord,
    UsageEvent,
    UsageRecord,
    WeightAttribution,
)

Record = UsageEvent | WeightAttribution | CapacityRecord | AuditRecord
_RECORD: TypeAdapter[Record] = TypeAdapter(UsageRecord)


class UsageSink(Protocol):
    def record(self, event: UsageEvent) -> None: ...

    def record_attribution(self, rows: list[WeightAttribution]) -> None: ...

    def record_capacity(self, record: CapacityRecord) -> None: ...

    def record_audit(self, record: AuditRecord) -> None: ...


class JsonlUsageSink:
    """Appends records to a JSON-lines file (created with its folder on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _append(self, records: list[Record]) -> None:
        text = "".join(r.model_dump_json() + "\n" for r in records)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()

    def record(self, event: UsageEvent) -> None:
        self._append([event])

    def record_attribution(self, rows: list[WeightAttribution]) -> None:
        self._append(list(rows))

    def record_capacity(self, record: CapacityRecord) -> None:
        self._append([record])

    def record_audit(self, record: AuditRecord) -> None:
        self._append([record])

    def read(self) -> list[Record]:
        """Every complete, valid record in the file, in order."""
        if not self.path.exists():
            return []
        records: list[Record] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(_RECORD.validate_json(line))
            except ValidationError:
                continue
        return records


class MemoryUsageSink:
    """Keeps records in lists (tests, and the demo's live display)."""

    def __init__(self) -> None:
        self.events: list[UsageEvent] = []
        self.attribution: list[WeightAttribution] = []
        self.capacity: list[CapacityRecord] = []
        self.audits: list[AuditRecord] = []

    def record(self, event: UsageEvent) -> None:
        self.events.append(event)

    def record_attribution(self, rows: list[WeightAttribution]) -> None:
        self.attribution.extend(rows)

    def record_capacity(self, record: CapacityRecord) -> None:
        self.capacity.append(record)

    def record_audit(self, record: AuditRecord) -> None:
        self.audits.append(record)


class TeeSink:
    """Hands every record to each of several sinks (a JSON-lines file and the ledger)."""

    def __init__(self, *sinks: UsageSink) -> None:
        self.sinks = sinks

    def record(self, event: UsageEvent) -> None:
        for sink in self.sinks:
            sink.record(event)

    def record_attribution(self, rows: list[WeightAttribution]) -> None:
        for sink in self.sinks:
            sink.record_attribution(rows)

    def record_capacity(self, record: CapacityRecord) -> None:
        for sink in self.sinks:
            sink.record_capacity(record)

    def record_audit(self, record: AuditRecord) -> None:
        for sink in self.sinks:
            sink.record_audit(record)
