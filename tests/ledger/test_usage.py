"""Usage and attribution ingestion: JSON lines resumable by byte offset, torn and invalid
lines, rotation, unique request ids; the direct sink; capacity reports."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from tests.ledger.helpers import MINERS, NETUID, T0, attribution, usage
from wmnet.ledger import models
from wmnet.ledger.capacity import store_capacity
from wmnet.ledger.usage import LedgerUsageSink, ingest_jsonl
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.spec import MAX_QUEUE, MAX_SLOTS
from wmnet.protocol.usage import CapacityRecord
from wmnet.validator.usage import JsonlUsageSink

MODEL = "ab" * 32


def count(sessions, table) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_jsonl_resumes_by_offset_and_never_double_counts(sessions, tmp_path: Path) -> None:
    path = tmp_path / "usage.jsonl"
    writer = JsonlUsageSink(path)
    for i in range(7):
        writer.record(usage(f"a{i}", T0 + i, 2, "rollout", 4, 0.5))
    writer.record_attribution([attribution(10, 2, MINERS[0], 1.0, {"rollout": 1.0})])

    first = ingest_jsonl(sessions, path, batch_lines=3)
    assert (first.events, first.attribution, first.invalid) == (7, 1, 0)
    assert first.offset == path.stat().st_size
    assert ingest_jsonl(sessions, path).events == 0  # resumes at the end: nothing re-read

    with path.open("a", encoding="utf-8") as fh:
        fh.write("not json\n")
        fh.write(usage("b0", T0, 3, "train_shard", 9, 3.0).model_dump_json() + "\n")
        fh.write(usage("b1", T0, 3, "train_shard", 9, 3.0).model_dump_json()[:40])  # torn
    second = ingest_jsonl(sessions, path)
    assert (second.events, second.invalid) == (1, 1)
    assert second.offset < path.stat().st_size  # the torn line waits
    with path.open("a", encoding="utf-8") as fh:
        fh.write(usage("b1", T0, 3, "train_shard", 9, 3.0).model_dump_json()[40:] + "\n")
    assert ingest_jsonl(sessions, path).events == 1
    assert count(sessions, models.UsageEvent) == 9
    assert count(sessions, models.WeightAttribution) == 1

    # A lost offset (or a rotated, shorter file) re-reads; unique request ids dedupe.
    with sessions.begin() as session:
        session.execute(models.IngestOffset.__table__.delete())
    assert ingest_jsonl(sessions, path).events == 9
    rotated = tmp_path / "rotated.jsonl"
    path.rename(rotated)
    JsonlUsageSink(path).record(usage("c0", T0, 2, "rollout", 1, 0.1))
    assert ingest_jsonl(sessions, path).events == 1
    assert count(sessions, models.UsageEvent) == 10
    with sessions() as session:
        units = session.scalar(select(func.sum(models.UsageEvent.units)))
    assert units == 7 * 4 + 2 * 9 + 1


def test_sink_and_attribution_upsert(sessions) -> None:
    sink = LedgerUsageSink(sessions)
    event = usage("x", T0, 2, "rollout", 8, 1.0, origin="organic")
    sink.record(event)
    sink.record(event)  # a retry: stored once
    sink.record_attribution([attribution(5, 2, MINERS[0], 0.5, {"rollout": 1.0})])
    sink.record_attribution([attribution(5, 2, MINERS[0], 0.25, {"rollout": 1.0})])
    assert count(sessions, models.UsageEvent) == 1
    with sessions() as session:
        rows = session.scalars(select(models.WeightAttribution)).all()
    assert [(r.weight_ppb, r.share_ppb, r.netuid) for r in rows] == [(250_000_000, 10**9, NETUID)]


def test_capacity_report_stored_once(sessions) -> None:
    report = CapacityReport(
        hotkey=MINERS[0], time=T0, device="cuda", device_name="H100", workloads=["rollout"],
        precisions=["bf16", "fp32"], models_loaded=[MODEL], slots=8, queue_limit=32,
        queue_depth=1, free_slots=7, busy_fraction=0.25, window_s=60.0,
    )  # fmt: skip
    store_capacity(sessions, report, netuid=NETUID, miner_uid=2)
    store_capacity(sessions, report, netuid=NETUID, miner_uid=2)
    with sessions() as session:
        (row,) = session.scalars(select(models.CapacityReport)).all()
    assert (row.slots, row.precisions, row.miner_uid, row.device_name) == (
        8,
        "bf16,fp32",
        2,
        "H100",
    )


def test_capacity_lines_from_a_validator_land_once(sessions, tmp_path: Path) -> None:
    report = CapacityReport(
        hotkey=MINERS[1], time=T0, device="cpu", device_name="cpu", workloads=["rollout"],
        precisions=["fp32"], models_loaded=[MODEL], slots=4, queue_limit=16,
        queue_depth=0, free_slots=4, busy_fraction=0.5, window_s=30.0,
    )  # fmt: skip
    path = tmp_path / "usage.jsonl"
    writer = JsonlUsageSink(path)
    writer.record_capacity(CapacityRecord(netuid=NETUID, miner_uid=3, report=report))
    writer.record_capacity(CapacityRecord(netuid=NETUID, miner_uid=3, report=report))
    stats = ingest_jsonl(sessions, path)
    assert (stats.capacity, stats.invalid) == (2, 0)
    LedgerUsageSink(sessions).record_capacity(
        CapacityRecord(netuid=NETUID, miner_uid=3, report=report)
    )
    with sessions() as session:
        (row,) = session.scalars(select(models.CapacityReport)).all()
    assert (row.miner_uid, row.slots, row.busy_fraction) == (3, 4, 0.5)


def test_the_largest_capacity_report_the_protocol_allows_fits_the_columns(sessions) -> None:
    # The protocol's bounds are what stand between a miner and an integer overflow in
    # the ledger (int32 columns on PostgreSQL): the extreme report must store.
    report = CapacityReport(
        hotkey="h" * 64, time=4_102_444_800.0, device="d" * 32, device_name="n" * 128,
        workloads=["rollout", "train_shard"], precisions=["fp32", "bf16", "int8"],
        models_loaded=[MODEL], slots=MAX_SLOTS, queue_limit=MAX_QUEUE, queue_depth=MAX_QUEUE,
        free_slots=MAX_SLOTS, busy_fraction=1.0, window_s=86_400.0,
    )  # fmt: skip
    LedgerUsageSink(sessions).record_capacity(
        CapacityRecord(netuid=65535, miner_uid=65535, report=report)
    )
    with sessions() as session:
        (row,) = session.scalars(select(models.CapacityReport)).all()
    assert (row.slots, row.queue_limit, row.workloads) == (
        MAX_SLOTS,
        MAX_QUEUE,
        "rollout,train_shard",
    )
