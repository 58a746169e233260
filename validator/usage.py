"""Where a validator's usage events and weight attribution go.

The records are ``wmnet.protocol.usage`` models; the ledger ingests them. A sink is
anything with ``record(event)``, ``record_attribution(rows)`` and
``record_capacity(record)``;
:class:`JsonlUsageSink` appends JSON lines (one record per line, flushed per record,
so a crash loses at most the line being written; a torn last line is skipped on read).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Protocol

from pydantic import TypeAdapter, ValidationError

from wmnet.protocol.usage import CapacityRecord, UsageEvent, UsageRecord, WeightAttribution

log = logging.getLogger(__name__)

Record = UsageEvent | WeightAttribution | CapacityRecord
_RECORD: TypeAdapter[Record] = TypeAdapter(UsageRecord)


class UsageSink(Protocol):
    def record(self, event: UsageEvent) -> None: ...

    def record_attribution(self, rows: list[WeightAttribution]) -> None: ...

    def record_capacity(self, record: CapacityRecord) -> None: ...


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

    def record(self, event: UsageEvent) -> None:
        self.events.append(event)

    def record_attribution(self, rows: list[WeightAttribution]) -> None:
        self.attribution.extend(rows)

    def record_capacity(self, record: CapacityRecord) -> None:
        self.capacity.append(record)


class TeeSink:
    """Hands every record to each of several sinks (a JSON-lines file and the ledger).

    Every sink gets the record even when one before it fails; the first failure is
    raised after all were tried (``GuardedSink`` logs and counts it)."""

    def __init__(self, *sinks: UsageSink) -> None:
        self.sinks = sinks

    def _each(self, method: str, arg) -> None:  # noqa: ANN001 - a record or rows
        first: Exception | None = None
        for sink in self.sinks:
            try:
                getattr(sink, method)(arg)
            except Exception as error:  # noqa: BLE001 - re-raised below, after the others
                first = first or error
        if first is not None:
            raise first

    def record(self, event: UsageEvent) -> None:
        self._each("record", event)

    def record_attribution(self, rows: list[WeightAttribution]) -> None:
        self._each("record_attribution", rows)

    def record_capacity(self, record: CapacityRecord) -> None:
        self._each("record_capacity", record)


class GuardedSink:
    """A sink whose failures are logged and counted, never raised.

    What the validator records is bookkeeping: a ledger that is down, a full disk or
    a record some store refuses must not stop it scoring miners and setting weights.
    This is the one place that catches every exception a sink raises, on purpose: the
    sinks are pluggable (files, SQL, whatever an operator adds) and each failure is
    logged with its type and counted (``failures``, by method in ``by_kind``).
    """

    def __init__(self, inner: UsageSink) -> None:
        self.inner = inner
        self.failures = 0
        self.by_kind: dict[str, int] = {}

    def _guard(self, kind: str, call, arg) -> None:  # noqa: ANN001 - a bound sink method
        try:
            call(arg)
        except Exception as error:  # noqa: BLE001 - see the class docstring
            self.failures += 1
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            log.warning(
                "usage sink failed to store %s (%s: %s); dropped (%d failures so far)",
                kind,
                type(error).__name__,
                str(error).splitlines()[0][:200] if str(error) else "",
                self.failures,
            )

    def record(self, event: UsageEvent) -> None:
        self._guard("usage", self.inner.record, event)

    def record_attribution(self, rows: list[WeightAttribution]) -> None:
        self._guard("attribution", self.inner.record_attribution, rows)

    def record_capacity(self, record: CapacityRecord) -> None:
        self._guard("capacity", self.inner.record_capacity, record)


def device_seconds(reported_s: float, wall_s: float) -> float:
    """Device seconds to record for one answer: what the miner reported, but never more
    than the wall time the validator measured for the whole exchange (no miner computes
    longer than its request took), and 0 for anything not finite."""
    if not (math.isfinite(reported_s) and math.isfinite(wall_s)):
        return 0.0
    return max(0.0, min(reported_s, wall_s))
