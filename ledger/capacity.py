"""Miners' ``GET /v1/capacity`` answers, stored for the utilization figure."""

from __future__ import annotations

from sqlalchemy import select
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


def capacity_in_window(
    session: Session, since: float | None, until: float | None, netuid: int | None
) -> list[models.CapacityReport]:
    """The capacity reports that can cover part of ``[since, until)`` (a report covers up
    to ``window_s`` before its time, at most a day), oldest first per miner; with
    ``netuid``, that subnet's and those that named none."""
    statement = select(models.CapacityReport).order_by(
        models.CapacityReport.hotkey, models.CapacityReport.time
    )
    if since is not None:
        statement = statement.where(models.CapacityReport.time >= since)
    if until is not None:
        statement = statement.where(models.CapacityReport.time < until + 86_400)
    if netuid is not None:
        statement = statement.where(
            (models.CapacityReport.netuid == netuid) | models.CapacityReport.netuid.is_(None)
        )
    return list(session.scalars(statement))
