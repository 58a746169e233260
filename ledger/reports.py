"""Ledger reports: per workload, per miner, per epoch or per customer, as JSON-ready
dicts.

Every figure is defined in docs/ledger.md. In short, over ``[since, until)``:

* requests: usage events (organic: customers' requests; synthetic: validators' probes),
  verified or failed, units and device seconds summed from them;
* utilization: busy device seconds ÷ offered slot-seconds (see :mod:`capacity_math`);
* emissions: miner emission attributed to the workload in epochs whose block time is
  in the window, in alpha (the subnet's token), its TAO value at each epoch's alpha
  price and its currency value at each epoch's TAO price (see :mod:`figures`);
* revenue: customers' charges (currency micro-units);
* subsidy ratio: emission value ÷ revenue ("∞" when revenue is zero);
* cost per unit: emission value ÷ units.

Money stays integer (``*_alpha_rao``, ``*_tao_rao``, ``*_micro``) in the JSON, beside
decimal strings of the same amounts; ratios are floats and the ``*_text`` fields are
for people.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from wmnet.ledger.capacity import capacity_in_window
from wmnet.ledger.capacity_math import offered_slot_seconds
from wmnet.ledger.customers_report import customer_rows, customer_totals
from wmnet.ledger.figures import INFINITY, Emission, Usage, figures, totals
from wmnet.ledger.models import (
    UNATTRIBUTED,
    CapacityReport,
    Epoch,
    EpochEmission,
    RevenueEvent,
    Subsidy,
    UsageEvent,
)
from wmnet.ledger.periods_report import TooManyPeriods, by_period
from wmnet.ledger.prices_report import epoch_prices, latest_data, prices_summary
from wmnet.ledger.usage_totals import Window, in_window, usage_by, usage_totals
from wmnet.ledger.valuation import DEFAULT_CURRENCY, tao_rao
from wmnet.protocol.spec import WORKLOADS

GROUPINGS = ("workload", "miner", "epoch", "customer", "hour", "day")


class ReportError(ValueError):
    """A malformed report argument (the CLI prints it and exits non-zero)."""


# Times a report accepts: unix seconds from 1970 to the end of year 9999 (what ISO 8601
# dates can name). NaN, infinities and anything beyond are refused, not queried.
MIN_TIME, MAX_TIME = 0.0, 253_402_300_799.0


def parse_time(text: str | None, name: str) -> float | None:
    """ISO 8601 (a date, or a date and time; UTC when no offset) or unix seconds, from
    1970 to 9999; :class:`ReportError` otherwise (never NaN or an infinity)."""
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            value = moment.timestamp()
        except (ValueError, OverflowError):
            raise ReportError(
                f"--{name} {text[:64]!r} is not a time: use ISO 8601 (2025-06-01 or "
                "2025-06-01T12:00:00Z) or unix seconds"
            ) from None
    if not (math.isfinite(value) and MIN_TIME <= value <= MAX_TIME):
        raise ReportError(
            f"--{name} {text[:64]!r} is out of range: give a time from 1970 to 9999 "
            f"(unix seconds {MIN_TIME:.0f} to {MAX_TIME:.0f})"
        )
    return value


@dataclass(frozen=True)
class ReportQuery:
    by: str = "workload"
    since: float | None = None
    until: float | None = None
    netuid: int | None = None
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def parse(
        cls,
        by: str = "workload",
        since: str | None = None,
        until: str | None = None,
        netuid: int | str | None = None,
        currency: str = DEFAULT_CURRENCY,
    ) -> ReportQuery:
        """Validate user-typed arguments; :class:`ReportError` says what is wrong."""
        if by not in GROUPINGS:
            raise ReportError(f"--by must be one of {', '.join(GROUPINGS)}, not {by!r}")
        start, end = parse_time(since, "since"), parse_time(until, "until")
        if start is not None and end is not None and start >= end:
            raise ReportError("--since must be before --until")
        if netuid is not None and netuid != "":
            try:
                netuid = int(netuid)
            except (TypeError, ValueError):
                raise ReportError(f"--netuid must be an integer, not {netuid!r}") from None
            if not 0 <= netuid <= 65535:
                raise ReportError(f"--netuid must be in 0..65535, not {netuid}")
        else:
            netuid = None
        return cls(by=by, since=start, until=end, netuid=netuid, currency=currency.upper())


def _epoch_filter(statement: Select, q: ReportQuery) -> Select:
    statement = in_window(statement, Epoch.time, q)
    if q.netuid is not None:
        statement = statement.where(Epoch.netuid == q.netuid)
    return statement


def _revenue_by(session: Session, q: ReportQuery, key: Any) -> dict[Any, tuple[int, int]]:
    statement = (
        select(key, func.count(), func.coalesce(func.sum(RevenueEvent.amount_micro), 0))
        .where(RevenueEvent.currency == q.currency)
        .group_by(key)
    )
    if key is UsageEvent.miner_hotkey:
        statement = statement.join(UsageEvent, UsageEvent.request_id == RevenueEvent.request_id)
        if q.netuid is not None:
            statement = statement.where(UsageEvent.netuid == q.netuid)
    statement = in_window(statement, RevenueEvent.time, q)
    return {k: (int(n), int(amount)) for k, n, amount in session.execute(statement)}


def _capacity(session: Session, q: ReportQuery) -> list[CapacityReport]:
    return capacity_in_window(session, q.since, q.until, q.netuid)


def _notes(rows: list[dict[str, Any]], q: ReportQuery, unpriced: int, unvalued: int) -> list[str]:
    notes = []
    infinite = [str(r["key"]) for r in rows if r.get("subsidy_ratio_text") == INFINITY]
    if infinite:
        named = ", ".join(infinite[:5]) + (f" and {len(infinite) - 5} more" if infinite[5:] else "")
        notes.append(
            f"subsidy ratio ∞ for {named}: no external revenue in the window, "
            "so emissions paid for all of that work"
        )
    if unpriced:
        notes.append(
            f"{unpriced} epoch(s) have no alpha price (the chain reported none; set "
            "--alpha-price when ingesting): their emission has no TAO or currency value"
        )
    if unvalued:
        notes.append(
            f"{unvalued} epoch(s) have no TAO→{q.currency} price (set --tao-price or "
            "WMNET_TAO_PRICE when ingesting): their emissions are not valued in currency"
        )
    if any(r["key"] == UNATTRIBUTED for r in rows):
        notes.append(
            "'unattributed': miner emission in epochs with no weight attribution recorded "
            "for that miner"
        )
    if q.netuid is not None and q.by not in ("miner",):
        notes.append("revenue is not per subnet: it counts every customer charge in the window")
    return notes


def by_workload(session: Session, q: ReportQuery) -> list[dict[str, Any]]:
    window = Window(q.since, q.until, q.netuid)
    usage = {k[0]: v for k, v in usage_totals(session, window, "workload").items()}
    emission: dict[str, Emission] = defaultdict(Emission)
    statement = (
        select(
            Subsidy.workload,
            func.sum(Subsidy.emission_alpha_rao),
            Epoch.alpha_price_tao_rao,
            Epoch.tao_price_micro,
        )
        .join(Epoch, Epoch.id == Subsidy.epoch_id)
        .group_by(Subsidy.workload, Epoch.id, Epoch.alpha_price_tao_rao, Epoch.tao_price_micro)
    )
    for workload, rao, price, tao in session.execute(_epoch_filter(statement, q)):
        emission[workload].add(int(rao), price, tao)
    revenue = _revenue_by(session, q, RevenueEvent.workload)
    offered = offered_slot_seconds(_capacity(session, q), q.since, q.until, by="workload")
    keys = list(WORKLOADS) + sorted((set(usage) | set(emission) | set(revenue)) - set(WORKLOADS))
    return [
        {
            "key": w,
            "workload": w,
            **figures(usage.get(w, Usage()), emission[w], revenue.get(w, (0, 0)), offered[w]),
        }
        for w in keys
    ]


def by_miner(session: Session, q: ReportQuery) -> list[dict[str, Any]]:
    window = Window(q.since, q.until, q.netuid)
    usage = usage_by(session, window, UsageEvent.miner_uid, UsageEvent.miner_hotkey)
    emission: dict[tuple[int, str], Emission] = defaultdict(Emission)
    statement = (
        select(EpochEmission.uid, EpochEmission.hotkey, EpochEmission.emission_alpha_rao)
        .add_columns(Epoch.alpha_price_tao_rao, Epoch.tao_price_micro)
        .join(Epoch, Epoch.id == EpochEmission.epoch_id)
        .where(EpochEmission.role == "miner", EpochEmission.emission_alpha_rao > 0)
    )
    for uid, hotkey, rao, price, tao in session.execute(_epoch_filter(statement, q)):
        emission[(uid, hotkey)].add(int(rao), price, tao)
    revenue = _revenue_by(session, q, UsageEvent.miner_hotkey)
    offered = offered_slot_seconds(_capacity(session, q), q.since, q.until, by="hotkey")
    rows = []
    for uid, hotkey in sorted(set(usage) | set(emission)):
        row = figures(
            usage.get((uid, hotkey), Usage()),
            emission[(uid, hotkey)],
            revenue.get(hotkey, (0, 0)),
            offered.get(hotkey, 0.0),
        )
        rows.append({"key": f"{uid}:{hotkey[:8]}", "uid": uid, "hotkey": hotkey, **row})
    return rows


def _revenue_total(session: Session, q: ReportQuery) -> tuple[int, int]:
    statement = select(func.count(), func.coalesce(func.sum(RevenueEvent.amount_micro), 0))
    statement = in_window(
        statement.where(RevenueEvent.currency == q.currency), RevenueEvent.time, q
    )
    count, amount = session.execute(statement).one()
    return int(count), int(amount)


def by_epoch(session: Session, q: ReportQuery) -> list[dict[str, Any]]:
    """One row per epoch; usage and revenue are those since the subnet's epoch before."""
    epochs = list(session.scalars(_epoch_filter(select(Epoch), q).order_by(Epoch.time)))
    subsidies: dict[int, dict[str, int]] = defaultdict(dict)
    statement = (
        select(Subsidy.epoch_id, Subsidy.workload, func.sum(Subsidy.emission_alpha_rao))
        .join(Epoch, Epoch.id == Subsidy.epoch_id)
        .group_by(Subsidy.epoch_id, Subsidy.workload)
    )
    for epoch_id, workload, rao in session.execute(_epoch_filter(statement, q)):
        subsidies[epoch_id][workload] = int(rao)
    capacity = _capacity(session, ReportQuery(until=q.until, netuid=q.netuid)) if epochs else []
    previous: dict[int, float | None] = {}
    rows = []
    for epoch in epochs:
        if epoch.netuid not in previous:
            previous[epoch.netuid] = session.scalar(
                select(func.max(Epoch.time)).where(
                    Epoch.netuid == epoch.netuid, Epoch.time < epoch.time
                )
            )
        window = ReportQuery(
            since=previous[epoch.netuid],
            until=epoch.time + 1e-6,
            netuid=epoch.netuid,
            currency=q.currency,
        )
        previous[epoch.netuid] = epoch.time
        usage = usage_totals(session, Window(window.since, window.until, window.netuid))
        emission = Emission()
        emission.add(
            epoch.miner_emission_alpha_rao, epoch.alpha_price_tao_rao, epoch.tao_price_micro
        )
        offered = offered_slot_seconds(capacity, window.since, window.until, by="hotkey")
        revenue = _revenue_total(session, window)
        row = figures(usage.get((), Usage()), emission, revenue, sum(offered.values()))
        rows.append(
            {
                "key": f"{epoch.netuid}/{epoch.block}",
                "netuid": epoch.netuid,
                "block": epoch.block,
                "time": epoch.time,
                "time_iso": datetime.fromtimestamp(epoch.time, UTC).isoformat(timespec="seconds"),
                **row,
                **_epoch_amounts(epoch),
                "subsidy_by_workload_alpha_rao": subsidies[epoch.id],
                **epoch_prices(epoch),
            }
        )
    return rows


def _epoch_amounts(epoch: Epoch) -> dict[str, Any]:
    """The epoch's emission by role, in rao of alpha, and its whole emission's TAO value."""
    return {
        "total_emission_alpha_rao": epoch.total_emission_alpha_rao,
        "total_emission_tao_rao": tao_rao(
            epoch.total_emission_alpha_rao, epoch.alpha_price_tao_rao
        ),
        "miner_emission_alpha_rao": epoch.miner_emission_alpha_rao,
        "validator_emission_alpha_rao": epoch.validator_emission_alpha_rao,
        "owner_emission_alpha_rao": epoch.owner_emission_alpha_rao,
        "owner_cut_alpha_rao": epoch.owner_cut_alpha_rao,
        "owner_cut_source": epoch.owner_cut_source,
    }


def by_customer(session: Session, q: ReportQuery) -> list[dict[str, Any]]:
    return customer_rows(session, q.currency, q.since, q.until)


def _by_period(session: Session, q: ReportQuery) -> list[dict[str, Any]]:
    try:
        return by_period(session, Window(q.since, q.until, q.netuid), q.currency, q.by)
    except TooManyPeriods as error:
        raise ReportError(str(error)) from None


BUILDERS = {
    "workload": by_workload,
    "miner": by_miner,
    "epoch": by_epoch,
    "customer": by_customer,
    "hour": _by_period,
    "day": _by_period,
}


def build_report(session: Session, q: ReportQuery) -> dict[str, Any]:
    """The report for ``q`` as one JSON-ready dict: rows, totals, the prices that valued
    them, the newest data it saw, and notes. :class:`ReportError` when the window holds
    more hours or days than one report returns."""
    rows = BUILDERS[q.by](session, q)
    unpriced, unvalued = session.execute(
        _epoch_filter(
            select(
                func.coalesce(func.sum(case((Epoch.alpha_price_tao_rao.is_(None), 1), else_=0)), 0),
                func.coalesce(func.sum(case((Epoch.tao_price_micro.is_(None), 1), else_=0)), 0),
            ),
            q,
        )
    ).one()
    return {
        "by": q.by,
        "since": q.since,
        "until": q.until,
        "netuid": q.netuid,
        "currency": q.currency,
        "rows": rows,
        "totals": customer_totals(rows) if q.by == "customer" else totals(rows),
        "prices": prices_summary(session, q.currency, q.since, q.until, q.netuid),
        "latest": latest_data(session, q.netuid),
        "notes": _notes(rows, q, int(unpriced), int(unvalued)),
    }
