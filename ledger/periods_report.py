"""Reports over time in calendar periods (``--by hour`` or ``--by day``, UTC): one row
per period from the first to the last one with data in the window, zeros included, so a
chart's time axis has no silent gaps.

Per period ``[start, start + period_s)``: usage from the hourly rollups (the partial
hours at the window's ends from the events), emission of the epochs whose block time
falls in it (each valued at its own prices), customers' charges, and the slot-seconds
miners offered in it (capacity reports split at period boundaries), so utilization is
busy ÷ offered within the period.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from wmnet.ledger.capacity import capacity_in_window
from wmnet.ledger.capacity_math import offered_by_period
from wmnet.ledger.figures import Emission, Usage, figures
from wmnet.ledger.models import Epoch, RevenueEvent, Subsidy
from wmnet.ledger.usage_totals import Window, in_window, usage_totals

PERIODS = {"hour": 3600, "day": 86_400}
MAX_PERIODS = 10_000


class TooManyPeriods(ValueError):
    """The window spans more periods than one report returns."""


def _bucket(session: Session, column: Any, period_s: int) -> Any:
    # SQLite's integer cast truncates (floor for positive unix seconds); PostgreSQL's
    # rounds, so it takes floor() first.
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(column / period_s), BigInteger)
    return cast(column / period_s, BigInteger)


def _emission(session: Session, w: Window, period_s: int) -> tuple[dict, dict]:
    """period → Emission, and period → workload → rao of alpha."""
    statement = (
        select(
            Epoch.time,
            Subsidy.workload,
            func.sum(Subsidy.emission_alpha_rao),
            Epoch.alpha_price_tao_rao,
            Epoch.tao_price_micro,
        )
        .join(Epoch, Epoch.id == Subsidy.epoch_id)
        .group_by(Epoch.id, Epoch.time, Subsidy.workload)
        .group_by(Epoch.alpha_price_tao_rao, Epoch.tao_price_micro)
    )
    if w.netuid is not None:
        statement = statement.where(Epoch.netuid == w.netuid)
    emission: dict[int, Emission] = defaultdict(Emission)
    split: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for when, workload, rao, price, tao in session.execute(in_window(statement, Epoch.time, w)):
        period = math.floor(when / period_s)
        emission[period].add(int(rao), price, tao)
        split[period][workload] += int(rao)
    return emission, split


def _revenue(
    session: Session, w: Window, currency: str, period_s: int
) -> dict[int, tuple[int, int]]:
    bucket = _bucket(session, RevenueEvent.time, period_s)
    statement = (
        select(bucket, func.count(), func.coalesce(func.sum(RevenueEvent.amount_micro), 0))
        .where(RevenueEvent.currency == currency)
        .group_by(bucket)
    )
    rows = session.execute(in_window(statement, RevenueEvent.time, w))
    return {int(period): (int(n), int(micro)) for period, n, micro in rows}


def _offered(session: Session, w: Window, period_s: int) -> dict[int, float]:
    reports = capacity_in_window(session, w.since, w.until, w.netuid)
    return offered_by_period(reports, w.since, w.until, period_s)


def by_period(session: Session, w: Window, currency: str, period: str) -> list[dict[str, Any]]:
    """Rows per hour or day (see module doc); :class:`TooManyPeriods` past MAX_PERIODS."""
    period_s = PERIODS[period]
    usage: dict[int, Usage] = defaultdict(Usage)
    for (hour,), part in usage_totals(session, w, "hour").items():
        usage[hour * 3600 // period_s].merge(part)
    emission, split = _emission(session, w, period_s)
    revenue = _revenue(session, w, currency, period_s)
    offered = _offered(session, w, period_s)
    busy = [p for p, u in usage.items() if u.organic + u.synthetic]
    seen = set(busy) | set(emission) | set(revenue) | {p for p, s in offered.items() if s > 0}
    if not seen:
        return []
    first, last = min(seen), max(seen)
    if last - first + 1 > MAX_PERIODS:
        raise TooManyPeriods(
            f"the window spans {last - first + 1} {period}s (at most {MAX_PERIODS}): "
            "narrow it with --since/--until or use --by day"
        )
    rows = []
    for index in range(first, last + 1):
        start = index * period_s
        row = figures(
            usage.get(index, Usage()),
            emission.get(index, Emission()),
            revenue.get(index, (0, 0)),
            offered.get(index, 0.0),
        )
        rows.append(
            {
                "key": datetime.fromtimestamp(start, UTC).isoformat(timespec="minutes"),
                "period_start": float(start),
                "period_s": period_s,
                **row,
                "subsidy_by_workload_alpha_rao": dict(sorted(split.get(index, {}).items())),
            }
        )
    return rows
