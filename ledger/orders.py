"""Gateway orders: an idempotency key reserved before any work, charged once, refunded once.

The customer gateway's orders go through :class:`OrderBook`, each call one transaction
that locks the customer's row first (as ``Billing.charge`` does), so one customer's
orders are decided one at a time, on SQLite and PostgreSQL alike:

* :meth:`OrderBook.reserve`, before any miner is asked: the key is bound to the SHA-256
  of the request and its quote is moved from the customer's credit to ``held_micro``
  (402 if the credit does not cover it), so a customer can never have more work in
  flight than it can pay for. The same key again with another request is refused
  (:class:`~wmnet.ledger.billing.IdempotencyConflict`), whatever happened to the first;
  with the same request it is the same order: answered (``done``: the stored answer),
  in flight in this gateway (``pending``: wait for it), or left by a gateway that has
  restarted or failed (``failed``, or ``pending`` under another instance): reserved
  again and recomputed from the *stored* request;
* :meth:`OrderBook.complete`: the held credit becomes a charge (a revenue event under
  the idempotency key) and the answer is stored, in one transaction;
* :meth:`OrderBook.release`: no miner delivered: the held credit goes back;
* :meth:`OrderBook.finish_audit`: a later audit's verdict; a failed one refunds the
  charge (a ``refunds`` row, unique per charge, and the credit back) exactly once,
  also when the verdict comes twice (a re-queued audit after a restart).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wmnet.ledger.billing import (
    Billing,
    BillingError,
    Charge,
    IdempotencyConflict,
    InsufficientCredit,
    UnknownCustomer,
)
from wmnet.ledger.models import Customer, GatewayOrder, Refund, RevenueEvent


class OrderStateError(BillingError):
    """An order is not in the state the call needs (a bug or a race lost)."""

    code = "order_state"


@dataclass(frozen=True)
class OrderInfo:
    id: int
    customer_id: int
    idempotency_key: str
    body_sha256: str
    state: str
    instance: str
    units: int
    full_check: bool
    quote_micro: int
    currency: str
    request: bytes
    task: bytes | None
    answer: bytes | None
    request_id: str | None
    audit: str


@dataclass(frozen=True)
class Reservation:
    order: OrderInfo
    fresh: bool  # True: reserved by this call, do the work; False: see order.state


@dataclass(frozen=True)
class RefundInfo:
    refund_id: int
    customer_id: int
    amount_micro: int
    balance_micro: int


def _info(o: GatewayOrder) -> OrderInfo:
    return OrderInfo(
        o.id, o.customer_id, o.idempotency_key, o.body_sha256, o.state, o.instance, o.units,
        o.full_check, o.quote_micro, o.currency, o.request, o.task, o.answer, o.request_id,
        o.audit,
    )  # fmt: skip


def _lock(session: Session, customer_id: int) -> Customer:
    """Lock the customer's row (SQLite's write lock, PostgreSQL's row lock) and load it."""
    locked = session.execute(
        update(Customer).where(Customer.id == customer_id).values(held_micro=Customer.held_micro)
    )
    customer = session.get(Customer, customer_id, populate_existing=True)
    if locked.rowcount != 1 or customer is None or not customer.active:
        raise UnknownCustomer(f"no active customer {customer_id}")
    return customer


class OrderBook:
    """One gateway's orders. ``gateway`` names it (its validator hotkey); ``instance`` is
    this process: a pending order of another instance was left by a restart."""

    def __init__(self, billing: Billing, gateway: str, instance: str | None = None) -> None:
        self.billing, self.gateway = billing, gateway
        self.instance = instance or secrets.token_hex(8)

    @property
    def sessions(self):  # noqa: ANN201 - the billing's sessionmaker
        return self.billing.sessions

    # Reserve ------------------------------------------------------------------------

    def reserve(
        self,
        customer_id: int,
        key: str,
        body_sha256: str,
        request: bytes,
        workload: str,
        units: int,
        full_check: bool,
    ) -> Reservation:
        """Reserve ``key`` for this request (see module doc); 402 and 409 as errors."""
        if not key or len(key) > 128:
            raise BillingError("an idempotency key is 1..128 characters")
        args = (customer_id, key, body_sha256, request, workload, units, full_check)
        try:
            return self._reserve(*args)
        except IntegrityError:  # another process inserted this key first: decide again
            return self._reserve(*args)

    def _reserve(
        self,
        customer_id: int,
        key: str,
        body_sha256: str,
        request: bytes,
        workload: str,
        units: int,
        full_check: bool,
    ) -> Reservation:
        with self.sessions.begin() as session:
            customer = _lock(session, customer_id)
            order = session.scalar(
                select(GatewayOrder).where(
                    GatewayOrder.customer_id == customer_id, GatewayOrder.idempotency_key == key
                )
            )
            now = self.billing.clock()
            if order is not None:
                if order.body_sha256 != body_sha256:
                    raise IdempotencyConflict(
                        f"idempotency key {key!r} was used for another request"
                    )
                live_here = order.state == "pending" and order.instance == self.instance
                if order.state == "done" or live_here:
                    return Reservation(_info(order), fresh=False)
                # Failed, or pending under a gateway that restarted: hold credit again and
                # compute the stored request (never new work for nothing).
                self._hold(customer, order.quote_micro, units, workload)
                order.state, order.instance = "pending", self.instance
                order.held_micro, order.updated_at = order.quote_micro, now
                return Reservation(_info(order), fresh=True)
            quote = self.billing._quote(session, workload, units, full_check)
            self._hold(customer, quote.amount_micro, units, workload)
            order = GatewayOrder(
                customer_id=customer_id,
                idempotency_key=key,
                body_sha256=body_sha256,
                gateway=self.gateway,
                instance=self.instance,
                state="pending",
                workload=workload,
                units=units,
                full_check=full_check,
                quote_micro=quote.amount_micro,
                held_micro=quote.amount_micro,
                currency=quote.currency,
                created_at=now,
                updated_at=now,
                request=request,
                audit="none",
            )
            session.add(order)
            session.flush()
            return Reservation(_info(order), fresh=True)

    @staticmethod
    def _hold(customer: Customer, amount: int, units: int, workload: str) -> None:
        if customer.credit_micro <= 0 or customer.credit_micro < amount:
            raise InsufficientCredit(
                f"credit {customer.credit_micro} {customer.currency}-micro "
                f"(with {customer.held_micro} held for orders in flight) is less than "
                f"{amount} for {units} {workload} units"
            )
        customer.credit_micro -= amount
        customer.held_micro += amount

    # Complete or release ---------------------------------------------------------------

    def _pending(self, session: Session, order_id: int) -> tuple[GatewayOrder, Customer]:
        order = session.get(GatewayOrder, order_id)
        if order is None:
            raise OrderStateError(f"no order {order_id}")
        customer = _lock(session, order.customer_id)
        session.refresh(order)
        if order.state != "pending" or order.instance != self.instance:
            raise OrderStateError(f"order {order_id} is {order.state}, not pending here")
        return order, customer

    def complete(
        self, order_id: int, task: bytes, answer: bytes, request_id: str, audit: str
    ) -> Charge:
        """Charge the held quote, store the answer (``audit``: 'none' or 'queued')."""
        with self.sessions.begin() as session:
            order, customer = self._pending(session, order_id)
            customer.held_micro -= order.held_micro
            event = RevenueEvent(
                idempotency_key=order.idempotency_key,
                customer_id=order.customer_id,
                time=self.billing.clock(),
                workload=order.workload,
                units=order.units,
                amount_micro=order.quote_micro,
                currency=order.currency,
                request_id=request_id,
            )
            session.add(event)
            session.flush()
            order.state, order.held_micro, order.updated_at = "done", 0, event.time
            order.task, order.answer, order.request_id = task, answer, request_id
            order.revenue_event_id, order.audit = event.id, audit
            return Charge(
                event.id, order.customer_id, order.idempotency_key, order.workload,
                order.units, order.quote_micro, order.currency, customer.credit_micro,
                replayed=False,
            )  # fmt: skip

    def release(self, order_id: int) -> None:
        """Nothing was delivered: the held credit goes back; the key stays bound."""
        with self.sessions.begin() as session:
            order, customer = self._pending(session, order_id)
            customer.credit_micro += order.held_micro
            customer.held_micro -= order.held_micro
            order.state, order.held_micro, order.updated_at = "failed", 0, self.billing.clock()

    def release_orphans(self) -> int:
        """At start: orders this gateway left pending when it stopped give their held
        credit back (a retry reserves and recomputes them); how many."""
        with self.sessions() as session:
            ids = session.scalars(
                select(GatewayOrder.id).where(
                    GatewayOrder.gateway == self.gateway,
                    GatewayOrder.state == "pending",
                    GatewayOrder.instance != self.instance,
                )
            ).all()
        released = 0
        for order_id in ids:
            with self.sessions.begin() as session:
                order = session.get(GatewayOrder, order_id)
                customer = _lock(session, order.customer_id)
                session.refresh(order)
                if order.state != "pending" or order.instance == self.instance:
                    continue  # a retry took it over meanwhile
                customer.credit_micro += order.held_micro
                customer.held_micro -= order.held_micro
                order.state, order.held_micro = "failed", 0
                order.updated_at = self.billing.clock()
                released += 1
        return released

    # Audits and refunds --------------------------------------------------------------

    def queued_audits(self) -> list[OrderInfo]:
        """Answered orders of this gateway whose audit has not reported yet."""
        with self.sessions() as session:
            rows = session.scalars(
                select(GatewayOrder)
                .where(
                    GatewayOrder.gateway == self.gateway,
                    GatewayOrder.state == "done",
                    GatewayOrder.audit == "queued",
                )
                .order_by(GatewayOrder.id)
            ).all()
            return [_info(o) for o in rows]

    def finish_audit(self, request_id: str, outcome: str, reason: str) -> RefundInfo | None:
        """Record a customer order's audit; a failed one refunds its charge, once."""
        try:
            return self._finish_audit(request_id, outcome, reason)
        except IntegrityError:  # a concurrent verdict refunded it first
            return None

    def _finish_audit(self, request_id: str, outcome: str, reason: str) -> RefundInfo | None:
        with self.sessions.begin() as session:
            order = session.scalar(
                select(GatewayOrder).where(GatewayOrder.request_id == request_id)
            )
            if order is None or order.state != "done" or order.audit in ("passed", "failed"):
                return None  # not an order, or already decided
            customer = _lock(session, order.customer_id)
            order.audit = outcome
            if outcome != "failed":
                return None
            event = session.get(RevenueEvent, order.revenue_event_id)
            if event is None or session.scalar(
                select(Refund.id).where(Refund.revenue_event_id == event.id)
            ):
                return None
            refund = Refund(
                revenue_event_id=event.id,
                customer_id=order.customer_id,
                time=self.billing.clock(),
                workload=event.workload,
                amount_micro=event.amount_micro,
                currency=event.currency,
                request_id=request_id,
                reason=reason[:200],
            )
            session.add(refund)
            customer.credit_micro += event.amount_micro
            session.flush()
            return RefundInfo(
                refund.id, order.customer_id, event.amount_micro, customer.credit_micro
            )
