"""Ledger reports: per workload, per miner or per epoch, as JSON-ready dicts.

Every figure is defined in docs/ledger.md. In short, over ``[since, until)``:

* requests: usage events (organic: customers' requests; synthetic: validators' probes),
  units and device seconds summed from them;
* utilization: busy device seconds ÷ offered slot-seconds (see :mod:`capacity_math`);
* emissions: miner emission attributed to the workload in epochs whose block time is
  in the window (rao, and TAO), valued per epoch at that epoch's alpha→TAO and
  TAO→currency prices (floored to micro-units);
* revenue: customers' charges (currency micro-units); refunds: charges given back
  because the work failed a later audit; net revenue = revenue − refunds;
* subsidy ratio: emission value ÷ net revenue ("∞" when it is zero);
* audits: full checks of answers (passed, failed), the checking seconds they cost, and
  the audit cost fraction = checking seconds ÷ the device seconds of the work;
* cost per unit: emission value ÷ units.

Money stays integer (rao, micro-units) in the JSON; ratios are floats and the
``*_text`` fields are for people.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from wmnet.ledger.capacity_math import offered_slot_seconds
from wmnet.ledger.models import (
    MICRO,
    RAO_PER_TAO,
    UNATTRIBUTED,
    Audit,
    CapacityReport,
    Epoch,
    EpochEmission,
    Refund,
    RevenueEvent,
    Subsidy,
    UsageEvent,
    UsageRollup,
)
from wmnet.ledger.valuation import DEFAULT_CURRENCY, format_scaled, value_micro
from wmnet.protocol.spec import WORKLOADS

GROUPINGS = ("workload", "miner", "epoch")
INFINITY = "∞"


class ReportError(ValueError):
    """A malformed report argument (the CLI prints it and exits non-zero)."""


def parse_time(text: str | None, name: str) -> float | None:
    """ISO 8601 (a date, or a date and time; UTC when no offset) or unix seconds."""
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(
            f"--{name} {text!r} is not a time: use ISO 8601 (2025-06-01 or "
            "2025-06-01T12:00:00Z) or unix seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


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


def _window(statement: Select, column: Any, q: ReportQuery) -> Select:
    if q.since is not None:
        statement = statement.where(column >= q.since)
    if q.until is not None:
        statement = statement.where(column < q.until)
    return statement


def _usage_filter(statement: Select, q: ReportQuery) -> Select:
    statement = _window(statement, UsageEvent.time, q)
    if q.netuid is not None:
        statement = statement.where(UsageEvent.netuid == q.netuid)
    return statement


def _epoch_filter(statement: Select, q: ReportQuery) -> Select:
    statement = _window(statement, Epoch.time, q)
    if q.netuid is not None:
        statement = statement.where(Epoch.netuid == q.netuid)
    return statement


def _ratio_text(numerator: int | None, denominator: int) -> tuple[float | None, str]:
    if numerator is None:
        return None, "n/a"
    if denominator == 0:
        return (None, "n/a") if numerator == 0 else (None, INFINITY)
    value = numerator / denominator
    return value, f"{value:.3f}"


def _money(micro: int | None) -> str:
    return "n/a" if micro is None else format_scaled(micro, MICRO)


def _per_unit(micro: int | None, units: int) -> str | None:
    if micro is None or units == 0:
        return None
    return f"{float(Fraction(micro, units * MICRO)):.9f}".rstrip("0").rstrip(".")


@dataclass
class _Usage:
    organic: int = 0
    synthetic: int = 0
    verified: int = 0
    units: int = 0
    device_seconds: float = 0.0


def _usage_by(session: Session, q: ReportQuery, *keys: Any) -> dict[tuple, _Usage]:
    statement = select(
        *keys,
        UsageEvent.origin,
        func.count(),
        func.sum(case((UsageEvent.verified, 1), else_=0)),
        func.coalesce(func.sum(UsageEvent.units), 0),
        func.coalesce(func.sum(UsageEvent.device_seconds), 0.0),
    ).group_by(*keys, UsageEvent.origin)
    out: dict[tuple, _Usage] = defaultdict(_Usage)
    for *key, origin, count, verified, units, seconds in session.execute(
        _usage_filter(statement, q)
    ):
        usage = out[tuple(key)]
        if origin == "organic":
            usage.organic += count
        else:
            usage.synthetic += count
        usage.verified += int(verified or 0)
        usage.units += int(units)
        usage.device_seconds += float(seconds)
    return out


def _merge(into: dict[tuple, _Usage], part: dict[tuple, _Usage]) -> None:
    for key, usage in part.items():
        acc = into[key]
        acc.organic += usage.organic
        acc.synthetic += usage.synthetic
        acc.verified += usage.verified
        acc.units += usage.units
        acc.device_seconds += usage.device_seconds


def _rollup(session: Session, q: ReportQuery, h0: int | None, h1: int | None, by_workload: bool):
    keys = (UsageRollup.workload,) if by_workload else ()
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
    if q.netuid is not None:
        statement = statement.where(UsageRollup.netuid == q.netuid)
    out: dict[tuple, _Usage] = defaultdict(_Usage)
    for *key, origin, count, verified, units, seconds in session.execute(statement):
        usage = out[tuple(key)]
        setattr(usage, origin, getattr(usage, origin) + int(count))
        usage.verified += int(verified or 0)
        usage.units += int(units or 0)
        usage.device_seconds += float(seconds or 0.0)
    return out


def _usage_totals(session: Session, q: ReportQuery, by_workload: bool) -> dict[tuple, _Usage]:
    """Usage in ``q``'s window from the hourly rollups for whole hours and from the
    events themselves for the partial hours at either end (exact either way)."""
    keys = (UsageEvent.workload,) if by_workload else ()
    h0 = None if q.since is None else math.ceil(q.since / 3600)
    h1 = None if q.until is None else math.floor(q.until / 3600)
    if h0 is not None and h1 is not None and h0 >= h1:
        return _usage_by(session, q, *keys)
    out: dict[tuple, _Usage] = defaultdict(_Usage)
    _merge(out, _rollup(session, q, h0, h1, by_workload))
    if h0 is not None and q.since < h0 * 3600:
        edge = ReportQuery(since=q.since, until=h0 * 3600.0, netuid=q.netuid)
        _merge(out, _usage_by(session, edge, *keys))
    if h1 is not None and h1 * 3600 < q.until:
        edge = ReportQuery(since=h1 * 3600.0, until=q.until, netuid=q.netuid)
        _merge(out, _usage_by(session, edge, *keys))
    return out


@dataclass
class _Emission:
    rao: int = 0
    value_micro: int | None = 0
    unvalued_epochs: int = 0

    def add(self, rao: int, price_rao: int, tao_micro: int | None) -> None:
        self.rao += rao
        value = value_micro(rao, price_rao, tao_micro)
        if value is None:
            self.unvalued_epochs += 1
            self.value_micro = None
        elif self.value_micro is not None:
            self.value_micro += value


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
    statement = _window(statement, RevenueEvent.time, q)
    return {k: (int(n), int(amount)) for k, n, amount in session.execute(statement)}


def _refunds_by(session: Session, q: ReportQuery, key: Any) -> dict[Any, tuple[int, int]]:
    statement = (
        select(key, func.count(), func.coalesce(func.sum(Refund.amount_micro), 0))
        .where(Refund.currency == q.currency)
        .group_by(key)
    )
    if key is UsageEvent.miner_hotkey:
        statement = statement.join(UsageEvent, UsageEvent.request_id == Refund.request_id)
        if q.netuid is not None:
            statement = statement.where(UsageEvent.netuid == q.netuid)
    statement = _window(statement, Refund.time, q)
    return {k: (int(n), int(amount)) for k, n, amount in session.execute(statement)}


@dataclass
class _Audits:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    seconds: float = 0.0


def _audits_by(session: Session, q: ReportQuery, key: Any) -> dict[Any, _Audits]:
    statement = select(
        key, Audit.outcome, func.count(), func.coalesce(func.sum(Audit.check_seconds), 0.0)
    ).group_by(key, Audit.outcome)
    statement = _window(statement, Audit.time, q)
    if q.netuid is not None:
        statement = statement.where(Audit.netuid == q.netuid)
    out: dict[Any, _Audits] = defaultdict(_Audits)
    for k, outcome, n, seconds in session.execute(statement):
        a = out[k]
        if outcome == "passed":
            a.passed += int(n)
        elif outcome == "failed":
            a.failed += int(n)
        else:
            a.errors += int(n)
        a.seconds += float(seconds)
    return out


def _capacity(session: Session, q: ReportQuery) -> list[CapacityReport]:
    statement = select(CapacityReport).order_by(CapacityReport.hotkey, CapacityReport.time)
    if q.since is not None:  # a report covers up to window_s before its time
        statement = statement.where(CapacityReport.time >= q.since)
    if q.until is not None:
        statement = statement.where(CapacityReport.time < q.until + 86_400)
    if q.netuid is not None:
        statement = statement.where(
            (CapacityReport.netuid == q.netuid) | CapacityReport.netuid.is_(None)
        )
    return list(session.scalars(statement))


def _figures(
    usage: _Usage,
    emission: _Emission,
    revenue: tuple[int, int],
    offered: float,
    refunds: tuple[int, int] = (0, 0),
    audits: _Audits | None = None,
) -> dict[str, Any]:
    audits = audits or _Audits()
    net = revenue[1] - refunds[1]
    ratio, ratio_text = _ratio_text(emission.value_micro, net)
    utilization = usage.device_seconds / offered if offered > 0 else None
    audit_cost = audits.seconds / usage.device_seconds if usage.device_seconds > 0 else None
    return {
        "requests_organic": usage.organic,
        "requests_synthetic": usage.synthetic,
        "requests_verified": usage.verified,
        "units": usage.units,
        "device_seconds": round(usage.device_seconds, 6),
        "offered_slot_seconds": round(offered, 6),
        "utilization": utilization,
        "utilization_text": "n/a" if utilization is None else f"{100 * utilization:.1f}%",
        "emission_rao": emission.rao,
        "emission_tao": format_scaled(emission.rao, RAO_PER_TAO),
        "emission_value_micro": emission.value_micro,
        "emission_value_text": _money(emission.value_micro),
        "revenue_events": revenue[0],
        "revenue_micro": revenue[1],
        "revenue_text": _money(revenue[1]),
        "refunds": refunds[0],
        "refund_micro": refunds[1],
        "net_revenue_micro": net,
        "net_revenue_text": _money(net),
        "audits": audits.passed + audits.failed + audits.errors,
        "audits_passed": audits.passed,
        "audits_failed": audits.failed,
        "audit_seconds": round(audits.seconds, 6),
        "audit_cost_fraction": audit_cost,
        "subsidy_ratio": ratio,
        "subsidy_ratio_text": ratio_text,
        "cost_per_unit": _per_unit(emission.value_micro, usage.units),
    }


def _notes(rows: list[dict[str, Any]], q: ReportQuery, unvalued: int) -> list[str]:
    notes = []
    infinite = [str(r["key"]) for r in rows if r["subsidy_ratio_text"] == INFINITY]
    if infinite:
        notes.append(
            f"subsidy ratio ∞ for {', '.join(infinite)}: no external revenue in the window, "
            "so emissions paid for all of that work"
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
    if q.netuid is not None and q.by != "miner":
        notes.append("revenue is not per subnet: it counts every customer charge in the window")
    return notes


def by_workload(session: Session, q: ReportQuery) -> list[dict[str, Any]]:
    usage = {k[0]: v for k, v in _usage_totals(session, q, by_workload=True).items()}
    emission: dict[str, _Emission] = defaultdict(_Emission)
    statement = (
        select(
            Subsidy.workload,
            func.sum(Subsidy.emission_rao),
            Epoch.alpha_price_rao,
            Epoch.tao_price_micro,
        )
        .join(Epoch, Epoch.id == Subsidy.epoch_id)
        .group_by(Subsidy.workload, Epoch.id, Epoch.alpha_price_rao, Epoch.tao_price_micro)
    )
    for workload, rao, price, tao in session.execute(_epoch_filter(statement, q)):
        emission[workload].add(int(rao), price, tao)
    revenue = _revenue_by(session, q, RevenueEvent.workload)
    refunds = _refunds_by(session, q, Refund.workload)
    audits = _audits_by(session, q, Audit.workload)
    offered = offered_slot_seconds(_capacity(session, q), q.since, q.until, by="workload")
    keys = list(WORKLOADS) + sorted((set(usage) | set(emission) | set(revenue)) - set(WORKLOADS))
    return [
        {
            "key": w,
            "workload": w,
            **_figures(
                usage.get(w, _Usage()),
                emission[w],
                revenue.get(w, (0, 0)),
                offered[w],
                refunds.get(w, (0, 0)),
                audits.get(w),
            ),
        }
        for w in keys
    ]


def by_miner(session: Session, q: ReportQuery) -> list[dict[str, Any]]:
    usage = _usage_by(session, q, UsageEvent.miner_uid, UsageEvent.miner_hotkey)
    emission: dict[tuple[int, str], _Emission] = defaultdict(_Emission)
    statement = (
        select(EpochEmission.uid, EpochEmission.hotkey, EpochEmission.emission_rao)
        .add_columns(Epoch.alpha_price_rao, Epoch.tao_price_micro)
        .join(Epoch, Epoch.id == EpochEmission.epoch_id)
        .where(EpochEmission.role == "miner", EpochEmission.emission_rao > 0)
    )
    for uid, hotkey, rao, price, tao in session.execute(_epoch_filter(statement, q)):
        emission[(uid, hotkey)].add(int(rao), price, tao)
    revenue = _revenue_by(session, q, UsageEvent.miner_hotkey)
    refunds = _refunds_by(session, q, UsageEvent.miner_hotkey)
    audits = _audits_by(session, q, Audit.miner_hotkey)
    offered = offered_slot_seconds(_capacity(session, q), q.since, q.until, by="hotkey")
    rows = []
    for uid, hotkey in sorted(set(usage) | set(emission)):
        figures = _figures(
            usage.get((uid, hotkey), _Usage()),
            emission[(uid, hotkey)],
            revenue.get(hotkey, (0, 0)),
            offered.get(hotkey, 0.0),
            refunds.get(hotkey, (0, 0)),
            audits.get(hotkey),
        )
        rows.append({"key": f"{uid}:{hotkey[:8]}", "uid": uid, "hotkey": hotkey, **figures})
    return rows


def _revenue_total(session: Session, q: ReportQuery) -> tuple[int, int]:
    statement = select(func.count(), func.coalesce(func.sum(RevenueEvent.amount_micro), 0))
    statement = _window(statement.where(RevenueEvent.currency == q.currency), RevenueEvent.time, q)
    count, amount = session.execute(statement).one()
    return int(count), int(amount)


def by_epoch(session: Session, q: ReportQuery) -> list[dict[str, Any]]:
    """One row per epoch; usage and revenue are those since the subnet's epoch before."""
    epochs = list(session.scalars(_epoch_filter(select(Epoch), q).order_by(Epoch.time)))
    subsidies: dict[int, dict[str, int]] = defaultdict(dict)
    statement = (
        select(Subsidy.epoch_id, Subsidy.workload, func.sum(Subsidy.emission_rao))
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
        usage = _usage_totals(session, window, by_workload=False).get((), _Usage())
        emission = _Emission()
        emission.add(epoch.miner_emission_rao, epoch.alpha_price_rao, epoch.tao_price_micro)
        offered = offered_slot_seconds(capacity, window.since, window.until, by="hotkey")
        revenue = _revenue_total(session, window)
        figures = _figures(usage, emission, revenue, sum(offered.values()))
        rows.append(
            {
                "key": f"{epoch.netuid}/{epoch.block}",
                "netuid": epoch.netuid,
                "block": epoch.block,
                "time": epoch.time,
                "time_iso": datetime.fromtimestamp(epoch.time, UTC).isoformat(timespec="seconds"),
                **figures,
                "total_emission_rao": epoch.total_emission_rao,
                "miner_emission_rao": epoch.miner_emission_rao,
                "validator_emission_rao": epoch.validator_emission_rao,
                "owner_emission_rao": epoch.owner_emission_rao,
                "owner_cut_rao": epoch.owner_cut_rao,
                "owner_cut_source": epoch.owner_cut_source,
                "subsidy_by_workload_rao": subsidies[epoch.id],
                "alpha_price_rao": epoch.alpha_price_rao,
                "alpha_price_source": epoch.alpha_price_source,
                "tao_price_micro": epoch.tao_price_micro,
                "tao_price_source": epoch.tao_price_source,
            }
        )
    return rows


BUILDERS = {"workload": by_workload, "miner": by_miner, "epoch": by_epoch}


def build_report(session: Session, q: ReportQuery) -> dict[str, Any]:
    """The report for ``q`` as one JSON-ready dict: rows, totals and notes."""
    rows = BUILDERS[q.by](session, q)
    unvalued = session.scalar(
        _epoch_filter(select(func.count()).select_from(Epoch), q).where(
            Epoch.tao_price_micro.is_(None)
        )
    )
    return {
        "by": q.by,
        "since": q.since,
        "until": q.until,
        "netuid": q.netuid,
        "currency": q.currency,
        "rows": rows,
        "totals": _totals(rows),
        "notes": _notes(rows, q, int(unvalued or 0)),
    }


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    usage = _Usage(
        organic=sum(r["requests_organic"] for r in rows),
        synthetic=sum(r["requests_synthetic"] for r in rows),
        verified=sum(r["requests_verified"] for r in rows),
        units=sum(r["units"] for r in rows),
        device_seconds=sum(r["device_seconds"] for r in rows),
    )
    values = [r["emission_value_micro"] for r in rows]
    emission = _Emission(
        rao=sum(r["emission_rao"] for r in rows),
        value_micro=None if None in values else sum(values),
    )
    revenue = (sum(r["revenue_events"] for r in rows), sum(r["revenue_micro"] for r in rows))
    refunds = (sum(r["refunds"] for r in rows), sum(r["refund_micro"] for r in rows))
    audits = _Audits(
        passed=sum(r["audits_passed"] for r in rows),
        failed=sum(r["audits_failed"] for r in rows),
        errors=sum(r["audits"] - r["audits_passed"] - r["audits_failed"] for r in rows),
        seconds=sum(r["audit_seconds"] for r in rows),
    )
    offered = sum(r["offered_slot_seconds"] for r in rows)
    return {"key": "total", **_figures(usage, emission, revenue, offered, refunds, audits)}
