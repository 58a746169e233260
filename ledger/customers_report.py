"""The per-customer report: what each paying customer bought in a window (charges,
units and revenue per workload, in the report's currency) and the prepaid credit it has
left now. Revenue is the charges recorded by the gateway's billing (``revenue_events``);
credit is not windowed (it is the balance now)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from wmnet.ledger.models import MICRO, Customer, RevenueEvent
from wmnet.ledger.valuation import format_scaled


@dataclass
class _Bought:
    charges: int = 0
    units: int = 0
    revenue_micro: int = 0
    first: float | None = None
    last: float | None = None
    revenue_by_workload_micro: dict[str, int] = field(default_factory=dict)
    units_by_workload: dict[str, int] = field(default_factory=dict)


def _bought(
    session: Session, currency: str, since: float | None, until: float | None
) -> dict[int, _Bought]:
    statement = (
        select(
            RevenueEvent.customer_id,
            RevenueEvent.workload,
            func.count(),
            func.coalesce(func.sum(RevenueEvent.units), 0),
            func.coalesce(func.sum(RevenueEvent.amount_micro), 0),
            func.min(RevenueEvent.time),
            func.max(RevenueEvent.time),
        )
        .where(RevenueEvent.currency == currency)
        .group_by(RevenueEvent.customer_id, RevenueEvent.workload)
    )
    if since is not None:
        statement = statement.where(RevenueEvent.time >= since)
    if until is not None:
        statement = statement.where(RevenueEvent.time < until)
    out: dict[int, _Bought] = defaultdict(_Bought)
    for customer_id, workload, count, units, micro, first, last in session.execute(statement):
        bought = out[customer_id]
        bought.charges += int(count)
        bought.units += int(units)
        bought.revenue_micro += int(micro)
        bought.revenue_by_workload_micro[workload] = int(micro)
        bought.units_by_workload[workload] = int(units)
        bought.first = first if bought.first is None else min(bought.first, first)
        bought.last = last if bought.last is None else max(bought.last, last)
    return out


def customer_rows(
    session: Session, currency: str, since: float | None, until: float | None
) -> list[dict[str, Any]]:
    """One row per customer in ``currency`` that is active or paid in the window, the
    biggest payer first."""
    bought = _bought(session, currency, since, until)
    customers = session.scalars(
        select(Customer)
        .where(Customer.currency == currency)
        .where(or_(Customer.active.is_(True), Customer.id.in_(list(bought) or [-1])))
    )
    total = sum(b.revenue_micro for b in bought.values())
    rows = []
    for customer in customers:
        b = bought.get(customer.id, _Bought())
        rows.append(
            {
                "key": customer.name,
                "customer_id": customer.id,
                "name": customer.name,
                "key_prefix": customer.key_prefix,
                "active": customer.active,
                "charges": b.charges,
                "units": b.units,
                "revenue_micro": b.revenue_micro,
                "revenue": format_scaled(b.revenue_micro, MICRO),
                "revenue_share": b.revenue_micro / total if total else None,
                "revenue_by_workload_micro": dict(sorted(b.revenue_by_workload_micro.items())),
                "units_by_workload": dict(sorted(b.units_by_workload.items())),
                "credit_micro": customer.credit_micro,
                "credit": format_scaled(customer.credit_micro, MICRO),
                "first_charge_time": b.first,
                "last_charge_time": b.last,
            }
        )
    rows.sort(key=lambda r: (-r["revenue_micro"], r["name"]))
    return rows


def customer_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    revenue = sum(r["revenue_micro"] for r in rows)
    credit = sum(r["credit_micro"] for r in rows)
    return {
        "key": "total",
        "customers": len(rows),
        "paying_customers": sum(1 for r in rows if r["charges"]),
        "charges": sum(r["charges"] for r in rows),
        "units": sum(r["units"] for r in rows),
        "revenue_micro": revenue,
        "revenue": format_scaled(revenue, MICRO),
        "revenue_share": 1.0 if revenue else None,
        "credit_micro": credit,
        "credit": format_scaled(credit, MICRO),
    }
