"""Miners' ``GET /v1/capacity`` answers, stored for the utilization figure."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from wmnet.ledger import models
from wmnet.ledger.upsert import insert_ignore
from wmnet.protocol.capacity import CapacityReport


def capacity_row(
    report: CapacityReport, netuid: int | None = None, miner_uid: int | None = None
) -> dict:
    return {
        "netuid": netuid,
        "miner_uid": miner_uid,
        "hotkey": report.hotkey,
        "time": report.time,
        "device": report.device,
        "device_name": report.device_name,
        "workloads": ",".join(sorted(report.workloads)),
        "precisions": ",".join(sorted(report.precisions)),
        "slots": report.slots,
        "queue_limit": report.queue_limit,
        "queue_depth": report.queue_depth,
        "free_slots": report.free_slots,
        "busy_fraction": report.busy_fraction,
        "window_s": report.window_s,
    }


def store_capacity(
    sessions: sessionmaker[Session],
    report: CapacityReport,
    *,
    netuid: int | None = None,
    miner_uid: int | None = None,
) -> None:
    """Store one report; the same (hotkey, time) stored twice is kept once."""
    with sessions.begin() as session:
        insert_ignore(
            session, models.CapacityReport.__table__, [capacity_row(report, netuid, miner_uid)]
        )
