"""The billing API the gateway calls: one debit per idempotency key, bad keys and empty
balances refused, concurrent charges serialised."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from wmnet.ledger.billing import (
    Billing,
    BillingError,
    IdempotencyConflict,
    InsufficientCredit,
    NoPrice,
    UnknownWorkload,
)
from wmnet.ledger.models import Customer, RevenueEvent

NOW = 1_750_000_000.0


@pytest.fixture
def billing(sessions) -> Billing:
    billing = Billing(sessions, "USD", clock=lambda: NOW)
    billing.set_price("rollout", 1_000, valid_from=NOW - 100)  # 0.001 USD per step
    billing.set_price("rollout", 2_000, valid_from=NOW + 100)  # not in force yet
    return billing


def revenue_count(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(RevenueEvent))


def test_quote_uses_the_price_in_force(billing: Billing) -> None:
    quote = billing.quote("rollout", 16)
    assert (quote.micro_per_unit, quote.amount_micro, quote.currency) == (1_000, 16_000, "USD")
    with pytest.raises(NoPrice):
        billing.quote("train_shard", 1)
    with pytest.raises(UnknownWorkload):
        billing.quote("mining", 1)
    with pytest.raises(BillingError):
        billing.quote("rollout", 0)


def test_charge_once_per_idempotency_key(billing: Billing, sessions) -> None:
    customer, key = billing.create_customer("acme", credit_micro=100_000)
    assert billing.authenticate(key) == customer
    first = billing.charge(customer, "req-1", "rollout", 16, request_id="r1")
    assert (first.amount_micro, first.balance_micro, first.replayed) == (16_000, 84_000, False)
    for _ in range(3):  # retries of the same request
        again = billing.charge(customer, "req-1", "rollout", 16)
        assert again.replayed and again.revenue_event_id == first.revenue_event_id
        assert again.balance_micro == 84_000
    assert billing.balance(customer) == 84_000
    assert revenue_count(sessions) == 1
    with pytest.raises(IdempotencyConflict):
        billing.charge(customer, "req-1", "rollout", 17)
    billing.charge(customer, "req-2", "rollout", 16)
    assert billing.balance(customer) == 68_000


def test_refuses_bad_keys(billing: Billing) -> None:
    _, key = billing.create_customer("acme", credit_micro=1)
    assert billing.authenticate(key + "x") is None
    assert billing.authenticate("") is None
    assert billing.authenticate("wmk_" + "A" * 43) is None
    assert billing.authenticate(key.upper()) is None
    with billing.sessions() as session:  # only the hash is stored
        stored = session.scalars(select(Customer.api_key_sha256)).all()
    assert key not in stored and len(stored[0]) == 64


def test_refuses_an_empty_or_short_balance(billing: Billing, sessions) -> None:
    customer, _ = billing.create_customer("broke")
    with pytest.raises(InsufficientCredit):
        billing.charge(customer, "k1", "rollout", 1)
    billing.top_up(customer, 5_000)
    with pytest.raises(InsufficientCredit):
        billing.charge(customer, "k2", "rollout", 6)  # 6,000 > 5,000
    assert billing.charge(customer, "k3", "rollout", 5).balance_micro == 0
    with pytest.raises(InsufficientCredit):
        billing.charge(customer, "k4", "rollout", 1)
    assert billing.balance(customer) == 0
    assert revenue_count(sessions) == 1


def test_concurrent_charges_never_overdraw_or_double_charge(billing: Billing, sessions) -> None:
    customer, _ = billing.create_customer("busy", credit_micro=10_000)
    keys = [f"k{i % 15}" for i in range(30)]  # 15 distinct requests, each sent twice

    def charge(key: str):
        try:
            return billing.charge(customer, key, "rollout", 1)
        except InsufficientCredit:
            return None

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(charge, keys))
    fresh = [r for r in results if r is not None and not r.replayed]
    assert len(fresh) == 10  # 10 of the 15 requests fit the credit, each charged once
    assert billing.balance(customer) == 0
    assert revenue_count(sessions) == 10
