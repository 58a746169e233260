"""Usage summed over a window: whole hours from ``usage_rollups``, the partial hours at
either end from ``usage_events``, so a report's cost does not grow with the number of
events (and the sums are exact either way; a test checks them against a scan)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy import BigInteger, Select, case, cast, func, select
from sqlalchemy.orm import Session

from wmnet.ledger.figures import Usage
from wmnet.ledger.models import UsageEvent, UsageRollup

Key = Literal["all", "workload", "hour"]


@dataclass(frozen=True)
class Window:
    """``[since, until)`` in unix seconds (None: open) and the subnet (None: all)."""

    since: float | None = None
    until: float | None = None
    netuid: int | None = None


class Span(Protocol):
    since: float | None
    until: float | None


def in_window(statement: Select, column: Any, span: Span) -> Select:
    """``statement`` limited to ``since <= column < until`` (either end open when None)."""
    if span.since is not None:
        statement = statement.where(column >= span.since)
    if span.until is not None:
        statement = statement.where(column < span.until)
    return statement


def _event_hour(session: Session) -> Any:
    # SQLite's integer cast truncates (floor for positive unix seconds); PostgreSQL's
    # rounds, so it takes floor() first.
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(UsageEvent.time / 3600), BigInteger)
    return cast(UsageEvent.time / 3600, BigInteger)


def _event_keys(session: Session, key: Key) -> tuple[Any, ...]:
    return {"all": (), "workload": (UsageEvent.workload,), "hour": (_event_hour(session),)}[key]


def _filter(statement: Select, w: Window) -> Select:
    statement = in_window(statement, UsageEvent.time, w)
    if w.netuid is not None:
        statement = statement.where(UsageEvent.netuid == w.netuid)
    return statement


def _add(usage: Usage, origin: str, count: Any, verified: Any, units: Any, seconds: Any) -> None:
    if origin == "organic":
        usage.organic += int(count)
    else:
        usage.synthetic += int(count)
    usage.verified += int(verified or 0)
    usage.units += int(units or 0)
    usage.device_seconds += float(seconds or 0.0)


def usage_by(session: Session, w: Window, *keys: Any) -> dict[tuple, Usage]:
    """Usage in ``w`` from a scan of the events, grouped by ``keys`` (columns)."""
    statement = select(
        *keys,
        UsageEvent.origin,
        func.count(),
        func.sum(case((UsageEvent.verified, 1), else_=0)),
        func.coalesce(func.sum(UsageEvent.units), 0),
        func.coalesce(func.sum(UsageEvent.device_seconds), 0.0),
    ).group_by(*keys, UsageEvent.origin)
    out: dict[tuple, Usage] = defaultdict(Usage)
    for *key, origin, count, verified, units, seconds in session.execute(_filter(statement, w)):
        _add(out[tuple(key)], origin, count, verified, units, seconds)
    return out


def _merge(into: dict[tuple, Usage], part: dict[tuple, Usage]) -> None:
    for key, usage in part.items():
        into[key].merge(usage)


def _rollup(
    session: Session, w: Window, h0: int | None, h1: int | None, key: Key
) -> dict[tuple, Usage]:
    keys = {"all": (), "workload": (UsageRollup.workload,), "hour": (UsageRollup.hour,)}[key]
    statement = select(
        *keys,
        UsageRollup.origin,
        func.sum(UsageRollup.requests),
        func.sum(UsageRollup.verified),
        func.sum(UsageRollup.units),
        func.sum(UsageRollup.device_seconds),
    ).group_by(*keys, UsageRollup.origin)
    if h0 is not None:
        statement = statement.where(UsageRollup.hour >= h0)
    if h1 is not None:
        statement = statement.where(UsageRollup.hour < h1)
    if w.netuid is not None:
        statement = statement.where(UsageRollup.netuid == w.netuid)
    out: dict[tuple, Usage] = defaultdict(Usage)
    for *group, origin, count, verified, units, seconds in session.execute(statement):
        _add(out[tuple(int(g) if key == "hour" else g for g in group)], origin, count,
             verified, units, seconds)  # fmt: skip
    return out


def usage_totals(session: Session, w: Window, key: Key = "all") -> dict[tuple, Usage]:
    """Usage in ``w`` grouped by nothing (key ``()``), by workload or by hour
    (``floor(time / 3600)``)."""
    keys = _event_keys(session, key)
    h0 = None if w.since is None else math.ceil(w.since / 3600)
    h1 = None if w.until is None else math.floor(w.until / 3600)
    if h0 is not None and h1 is not None and h0 >= h1:
        return _int_hours(usage_by(session, w, *keys), key)
    out: dict[tuple, Usage] = defaultdict(Usage)
    _merge(out, _rollup(session, w, h0, h1, key))
    if h0 is not None and w.since < h0 * 3600:
        edge = Window(since=w.since, until=h0 * 3600.0, netuid=w.netuid)
        _merge(out, _int_hours(usage_by(session, edge, *keys), key))
    if h1 is not None and h1 * 3600 < w.until:
        edge = Window(since=h1 * 3600.0, until=w.until, netuid=w.netuid)
        _merge(out, _int_hours(usage_by(session, edge, *keys), key))
    return out


def _int_hours(usage: dict[tuple, Usage], key: Key) -> dict[tuple, Usage]:
    if key != "hour":
        return usage
    return {(int(k[0]),): v for k, v in usage.items()}
