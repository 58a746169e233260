"""A store failure in the validator's sinks is logged and counted, never fatal: a ledger
that cannot be reached, a sink that refuses a record; and the tee still hands every
record to the sinks after the one that failed."""

from __future__ import annotations

import logging

from wmnet.ledger.db import open_ledger
from wmnet.ledger.usage import LedgerUsageSink
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.usage import CapacityRecord, UsageEvent, WeightAttribution
from wmnet.validator.usage import GuardedSink, MemoryUsageSink, TeeSink, device_seconds

EVENT = UsageEvent(
    request_id="r1", time=1.7e9, netuid=1, validator_hotkey="v", miner_uid=2,
    miner_hotkey="m", workload="rollout", units=8, device_seconds=0.5,
    origin="synthetic", verified=True, reason="ok",
)  # fmt: skip
ROW = WeightAttribution(
    time=1.7e9, netuid=1, block=10, validator_hotkey="v", miner_uid=2, miner_hotkey="m",
    weight=1.0, by_workload={"rollout": 1.0},
)  # fmt: skip
CAPACITY = CapacityRecord(
    netuid=1,
    miner_uid=2,
    report=CapacityReport(
        hotkey="m",
        time=1.7e9,
        device="cpu",
        device_name="x",
        workloads=["rollout"],
        precisions=["fp32"],
        models_loaded=[],
        slots=1,
        queue_limit=1,
        queue_depth=0,
        free_slots=1,
        busy_fraction=0.0,
        window_s=60.0,
    ),  # fmt: skip
)


class Refusing:
    def record(self, event):
        raise RuntimeError("disk full")

    def record_attribution(self, rows):
        raise RuntimeError("disk full")

    def record_capacity(self, record):
        raise RuntimeError("disk full")


def test_an_unreachable_ledger_is_logged_and_counted(tmp_path, caplog) -> None:
    sessions = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    sessions.kw["bind"].dispose()  # no pooled connection keeps the old file open
    (tmp_path / "ledger.db").unlink()
    (tmp_path / "ledger.db").mkdir()  # the file is gone and cannot come back
    memory = MemoryUsageSink()
    sink = GuardedSink(TeeSink(LedgerUsageSink(sessions), memory))
    with caplog.at_level(logging.WARNING, logger="wmnet.validator.usage"):
        sink.record(EVENT)
        sink.record_attribution([ROW])
        sink.record_capacity(CAPACITY)
    assert sink.failures == 3
    assert sink.by_kind == {"usage": 1, "attribution": 1, "capacity": 1}
    assert "usage sink failed to store usage" in caplog.text
    # The sink after the failing one still got every record.
    assert memory.events == [EVENT] and memory.attribution == [ROW]
    assert memory.capacity == [CAPACITY]


def test_a_refusing_sink_never_raises() -> None:
    sink = GuardedSink(Refusing())
    for _ in range(3):
        sink.record(EVENT)
    assert sink.failures == 3


def test_device_seconds_never_exceed_the_measured_wall_time() -> None:
    assert device_seconds(3600.0, 1.25) == 1.25
    assert device_seconds(0.5, 1.25) == 0.5
    assert device_seconds(float("inf"), 1.0) == 0.0
    assert device_seconds(float("nan"), 1.0) == 0.0
    assert device_seconds(-1.0, 1.0) == 0.0
