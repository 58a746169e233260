"""Money and checks per report group: charges or refunds summed (:func:`amounts_by`),
and audits by outcome with their checking seconds plus refunds (:func:`checks_by`),
grouped like the rest of a report row (``wmnet.ledger.figures``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wmnet.ledger.figures import Checks
from wmnet.ledger.models import Audit, Refund, UsageEvent
from wmnet.ledger.usage_totals import in_window


def checks_by(session: Session, q: Any, audit_key: Any, refund_key: Any) -> dict[Any, Checks]:
    """Audits (grouped by ``audit_key``) and refunds (by ``refund_key``) per group."""
    out: dict[Any, Checks] = {}
    for k, (n, micro) in amounts_by(session, q, refund_key, Refund).items():
        c = out.setdefault(k, Checks())
        c.refunds, c.refund_micro = n, micro
    statement = select(
        audit_key, Audit.outcome, func.count(), func.coalesce(func.sum(Audit.check_seconds), 0.0)
    ).group_by(audit_key, Audit.outcome)
    statement = in_window(statement, Audit.time, q)
    if q.netuid is not None:
        statement = statement.where(Audit.netuid == q.netuid)
    for k, outcome, n, seconds in session.execute(statement):
        c = out.setdefault(k, Checks())
        if outcome == "passed":
            c.passed += int(n)
        elif outcome == "failed":
            c.failed += int(n)
        else:
            c.errors += int(n)
        c.seconds += float(seconds)
    return out


def amounts_by(session: Session, q: Any, key: Any, table: Any) -> dict[Any, tuple[int, int]]:
    """(rows, micro-units) of ``table`` (``RevenueEvent`` or ``Refund``) per ``key`` (a
    column of it, or ``UsageEvent.miner_hotkey``: joined on the request) in ``q``'s
    window and currency."""
    statement = (
        select(key, func.count(), func.coalesce(func.sum(table.amount_micro), 0))
        .where(table.currency == q.currency)
        .group_by(key)
    )
    if key is UsageEvent.miner_hotkey:
        statement = statement.join(UsageEvent, UsageEvent.request_id == table.request_id)
        if q.netuid is not None:
            statement = statement.where(UsageEvent.netuid == q.netuid)
    statement = in_window(statement, table.time, q)
    return {k: (int(n), int(amount)) for k, n, amount in session.execute(statement)}
