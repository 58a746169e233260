"""Gateway orders in the ledger: reserved with credit held, charged once, refunded once;
audit rows; net revenue and audit figures in the report (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from wmnet.ledger.billing import Billing, IdempotencyConflict, InsufficientCredit
from wmnet.ledger.orders import OrderBook
from wmnet.ledger.reports import ReportQuery, build_report
from wmnet.ledger.usage import ingest_jsonl
from wmnet.protocol.usage import AuditRecord, UsageEvent
from wmnet.validator.usage import JsonlUsageSink


def _reserve(book: OrderBook, customer, key="k", body="a" * 64, units=10, full=False):
    return book.reserve(customer.id, key, body, b"{}", "rollout", units, full)


def test_a_reservation_holds_credit_and_binds_the_key(sessions):
    billing = Billing(sessions)
    billing.set_price("rollout", 100)
    customer, _ = billing.create_customer("acme", credit_micro=1500)
    book = OrderBook(billing, "validator-hotkey")
    first = _reserve(book, customer)
    assert first.fresh and billing.balance(customer) == 500  # 1000 held
    with pytest.raises(IdempotencyConflict):
        _reserve(book, customer, body="b" * 64)
    again = _reserve(book, customer)  # in flight here: the caller waits for it
    assert not again.fresh and again.order.state == "pending"
    with pytest.raises(InsufficientCredit):  # 500 left does not cover another 1000
        _reserve(book, customer, key="other")
    charge = book.complete(first.order.id, b"task", b"answer", "req-1", "queued")
    assert (charge.amount_micro, charge.balance_micro) == (1000, 500)
    done = _reserve(book, customer)
    assert not done.fresh and done.order.answer == b"answer"
    refund = book.finish_audit("req-1", "failed", "outside_tolerance")
    assert refund is not None and refund.balance_micro == 1500
    assert book.finish_audit("req-1", "failed", "outside_tolerance") is None  # once
    assert billing.balance(customer) == 1500


def test_a_restart_releases_held_credit_and_a_retry_recomputes(sessions):
    billing = Billing(sessions)
    billing.set_price("rollout", 100, full_check_ppm=3_000_000)
    customer, _ = billing.create_customer("acme", credit_micro=5000)
    old = OrderBook(billing, "v", instance="old")
    held = _reserve(old, customer, full=True)
    assert held.order.quote_micro == 3000 and billing.balance(customer) == 2000
    new = OrderBook(billing, "v", instance="new")
    assert new.release_orphans() == 1 and billing.balance(customer) == 5000
    retry = _reserve(new, customer, full=True)
    assert retry.fresh and billing.balance(customer) == 2000
    new.release(retry.order.id)  # nobody delivered
    assert billing.balance(customer) == 5000


def test_audit_rows_refunds_and_net_revenue_in_the_report(sessions, tmp_path):
    billing = Billing(sessions)
    billing.set_price("rollout", 100)
    customer, _ = billing.create_customer("acme", credit_micro=10_000)
    book = OrderBook(billing, "v")
    for i in range(3):
        order = _reserve(book, customer, key=f"k{i}")
        book.complete(order.order.id, b"t", b"a", f"req-{i}", "queued")
    book.finish_audit("req-1", "failed", "outside_tolerance")
    sink = JsonlUsageSink(tmp_path / "usage.jsonl")
    common = dict(time=1000.0, netuid=1, validator_hotkey="v", miner_uid=2, miner_hotkey="m",
                  workload="rollout")  # fmt: skip
    for i in range(3):
        sink.record(UsageEvent(request_id=f"req-{i}", units=10, device_seconds=2.0,
                               origin="organic", verified=True, reason="ok", **common))  # fmt: skip
        sink.record_audit(AuditRecord(request_id=f"req-{i}", origin="organic", trigger="organic",
                                      outcome="failed" if i == 1 else "passed", reason="ok",
                                      units=10, check_seconds=0.5, **common))  # fmt: skip
    stats = ingest_jsonl(sessions, sink.path)
    assert (stats.events, stats.audits) == (3, 3)
    ingest_jsonl(sessions, sink.path)  # nothing twice
    with sessions() as session:
        report = build_report(session, ReportQuery(by="workload"))
    row = next(r for r in report["rows"] if r["workload"] == "rollout")
    assert (row["revenue_micro"], row["refund_micro"], row["net_revenue_micro"]) == (
        3000,
        1000,
        2000,
    )
    assert (row["audits"], row["audits_passed"], row["audits_failed"]) == (3, 2, 1)
    assert row["audit_cost_fraction"] == pytest.approx(1.5 / 6.0)
    assert report["totals"]["net_revenue_micro"] == 2000
