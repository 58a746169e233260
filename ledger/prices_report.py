"""The prices a report assumed, and how fresh its data is.

* per epoch: the alpha price (TAO rao per alpha, with its origin and source) and the
  TAO price (currency micro-units per TAO) that valued that epoch's emission;
* over a window: the range and the newest of each, how many epochs each origin priced,
  and the customer price per workload unit in force at the window's end (or now);
* the newest epoch, usage event, charge and capacity report stored, so a dashboard can
  say how current its figures are.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from wmnet.ledger.figures import decimal_text
from wmnet.ledger.models import (
    MICRO,
    RAO_PER_TAO,
    CapacityReport,
    Epoch,
    Price,
    RevenueEvent,
    UsageEvent,
)


def epoch_prices(epoch: Epoch) -> dict[str, Any]:
    return {
        "alpha_price_tao_rao": epoch.alpha_price_tao_rao,
        "alpha_price": decimal_text(epoch.alpha_price_tao_rao, RAO_PER_TAO),  # TAO per α
        "alpha_price_origin": epoch.alpha_price_origin,
        "alpha_price_source": epoch.alpha_price_source,
        "tao_price_micro": epoch.tao_price_micro,
        "tao_price": decimal_text(epoch.tao_price_micro, MICRO),  # currency per TAO
        "tao_price_source": epoch.tao_price_source,
    }


def _epochs(
    statement: Select, since: float | None, until: float | None, netuid: int | None
) -> Select:
    if since is not None:
        statement = statement.where(Epoch.time >= since)
    if until is not None:
        statement = statement.where(Epoch.time < until)
    if netuid is not None:
        statement = statement.where(Epoch.netuid == netuid)
    return statement


def _range(low: int | None, high: int | None, latest: int | None, unit: str, scale: int):
    return {
        f"latest_{unit}": latest,
        "latest": decimal_text(latest, scale),
        f"min_{unit}": low,
        "min": decimal_text(low, scale),
        f"max_{unit}": high,
        "max": decimal_text(high, scale),
    }


def workload_prices(session: Session, currency: str, at: float) -> dict[str, dict[str, Any]]:
    """The customer price per unit of each workload in force at ``at``."""
    newest = (
        select(Price.workload, func.max(Price.valid_from).label("valid_from"))
        .where(Price.currency == currency, Price.valid_from <= at)
        .group_by(Price.workload)
        .subquery()
    )
    rows = session.execute(
        select(Price.workload, Price.micro_per_unit, Price.valid_from)
        .join(
            newest,
            (Price.workload == newest.c.workload) & (Price.valid_from == newest.c.valid_from),
        )
        .where(Price.currency == currency)
        .order_by(Price.workload)
    )
    return {
        workload: {
            "micro_per_unit": micro,
            "per_unit": decimal_text(micro, MICRO),
            "valid_from": valid_from,
        }
        for workload, micro, valid_from in rows
    }


def prices_summary(
    session: Session,
    currency: str,
    since: float | None,
    until: float | None,
    netuid: int | None,
) -> dict[str, Any]:
    low_a, high_a, low_t, high_t, count = session.execute(
        _epochs(
            select(
                func.min(Epoch.alpha_price_tao_rao),
                func.max(Epoch.alpha_price_tao_rao),
                func.min(Epoch.tao_price_micro),
                func.max(Epoch.tao_price_micro),
                func.count(),
            ),
            since,
            until,
            netuid,
        )
    ).one()
    origins = dict(
        session.execute(
            _epochs(
                select(Epoch.alpha_price_origin, func.count()).group_by(Epoch.alpha_price_origin),
                since,
                until,
                netuid,
            )
        ).all()
    )
    latest = session.scalars(
        _epochs(select(Epoch), since, until, netuid).order_by(Epoch.time.desc()).limit(1)
    ).first()
    alpha = _range(
        low_a, high_a, latest.alpha_price_tao_rao if latest else None, "tao_rao", RAO_PER_TAO
    )
    tao = _range(low_t, high_t, latest.tao_price_micro if latest else None, "micro", MICRO)
    return {
        "epochs": int(count),
        "alpha_price": {
            "unit": "TAO per alpha",
            **alpha,
            "latest_origin": latest.alpha_price_origin if latest else None,
            "latest_source": latest.alpha_price_source if latest else None,
            "epochs_by_origin": {k: int(v) for k, v in sorted(origins.items())},
        },
        "tao_price": {
            "unit": f"{currency} per TAO",
            **tao,
            "latest_source": latest.tao_price_source if latest else None,
        },
        "workload_prices": workload_prices(
            session, currency, until if until is not None else time.time()
        ),
    }


def latest_data(session: Session, netuid: int | None) -> dict[str, Any]:
    """The newest epoch, usage event, charge and capacity report stored (unix seconds)."""
    epochs = select(Epoch.block, Epoch.time).order_by(Epoch.time.desc()).limit(1)
    usage = select(func.max(UsageEvent.time))
    capacity = select(func.max(CapacityReport.time))
    if netuid is not None:
        epochs = epochs.where(Epoch.netuid == netuid)
        usage = usage.where(UsageEvent.netuid == netuid)
        capacity = capacity.where(CapacityReport.netuid == netuid)
    epoch = session.execute(epochs).first()
    return {
        "epoch_block": epoch[0] if epoch else None,
        "epoch_time": epoch[1] if epoch else None,
        "usage_time": session.scalar(usage),
        "revenue_time": session.scalar(select(func.max(RevenueEvent.time))),
        "capacity_time": session.scalar(capacity),
    }
