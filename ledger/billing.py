"""Customers, prices and charges: the API the customer gateway calls.

* ``authenticate(api_key)``: the customer whose key this is, or None. Keys are
  ``wmk_`` + 43 url-safe characters (256 random bits) and stored only as their
  SHA-256 (a key with that much entropy needs no slow hash: nothing can be guessed).
* ``quote(workload, units, full_check=False)``: the price in force now times the
  units, in integer currency micro-units; an order verified in full before it is
  answered pays the price row's ``full_check_ppm`` multiple (rounded down).
* ``charge(customer, idempotency_key, workload, units)``: one transaction that checks
  everything, then debits prepaid credit and records a revenue event. It locks the
  customer's row first (a no-op UPDATE, which takes SQLite's write lock or
  PostgreSQL's row lock), so concurrent charges of one customer run one at a time;
  the same idempotency key charged again returns the first charge, never a second
  debit (``replayed=True``), and a different request under a used key is refused.
  An empty balance, or less credit than the amount, is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from wmnet.ledger.models import FULL_CHECK_PPM, PPM, Customer, Price, RevenueEvent
from wmnet.ledger.valuation import DEFAULT_CURRENCY
from wmnet.protocol.spec import WORKLOADS

KEY_PREFIX = "wmk_"
MAX_UNITS = 10**12


class BillingError(Exception):
    """A charge or quote that cannot be made; ``code`` names why."""

    code = "billing_error"


class UnknownWorkload(BillingError):
    code = "unknown_workload"


class NoPrice(BillingError):
    code = "no_price"


class UnknownCustomer(BillingError):
    code = "unknown_customer"


class InsufficientCredit(BillingError):
    code = "insufficient_credit"


class IdempotencyConflict(BillingError):
    code = "idempotency_conflict"


@dataclass(frozen=True)
class CustomerInfo:
    id: int
    name: str
    currency: str
    credit_micro: int
    active: bool


@dataclass(frozen=True)
class Quote:
    workload: str
    units: int
    currency: str
    micro_per_unit: int
    amount_micro: int


@dataclass(frozen=True)
class Charge:
    revenue_event_id: int
    customer_id: int
    idempotency_key: str
    workload: str
    units: int
    amount_micro: int
    currency: str
    balance_micro: int
    replayed: bool


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _info(customer: Customer) -> CustomerInfo:
    return CustomerInfo(
        customer.id, customer.name, customer.currency, customer.credit_micro, customer.active
    )


def _check_request(workload: str, units: int) -> None:
    if workload not in WORKLOADS:
        raise UnknownWorkload(f"unknown workload {workload!r}; known: {', '.join(WORKLOADS)}")
    if not isinstance(units, int) or isinstance(units, bool) or not 0 < units <= MAX_UNITS:
        raise BillingError(f"units must be an integer in 1..{MAX_UNITS}, not {units!r}")


class Billing:
    """Billing on one ledger; each call is its own unit of work (own session)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        currency: str = DEFAULT_CURRENCY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sessions = sessions
        self.currency = currency
        self.clock = clock

    # Prices and quotes -------------------------------------------------------

    def set_price(
        self,
        workload: str,
        micro_per_unit: int,
        valid_from: float | None = None,
        full_check_ppm: int = FULL_CHECK_PPM,
    ) -> None:
        """Price one unit of ``workload`` from ``valid_from`` (default now) on; an order
        verified in full before answering pays ``full_check_ppm`` / 1e6 times that."""
        _check_request(workload, 1)
        if micro_per_unit < 0:
            raise BillingError("a price is non-negative")
        if not PPM <= full_check_ppm <= 1000 * PPM:
            raise BillingError("the full-check multiplier lies in [1, 1000]")
        with self.sessions.begin() as session:
            session.add(
                Price(
                    workload=workload,
                    currency=self.currency,
                    micro_per_unit=micro_per_unit,
                    valid_from=self.clock() if valid_from is None else valid_from,
                    full_check_ppm=full_check_ppm,
                )
            )

    def _quote(
        self, session: Session, workload: str, units: int, full_check: bool = False
    ) -> Quote:
        _check_request(workload, units)
        row = session.execute(
            select(Price.micro_per_unit, Price.full_check_ppm)
            .where(
                Price.workload == workload,
                Price.currency == self.currency,
                Price.valid_from <= self.clock(),
            )
            .order_by(Price.valid_from.desc())
            .limit(1)
        ).first()
        if row is None:
            raise NoPrice(f"no {self.currency} price for {workload}")
        price, ppm = int(row[0]), int(row[1])
        if full_check:
            return Quote(
                workload, units, self.currency, price * ppm // PPM, price * units * ppm // PPM
            )
        return Quote(workload, units, self.currency, price, price * units)

    def quote(self, workload: str, units: int, full_check: bool = False) -> Quote:
        with self.sessions() as session:
            return self._quote(session, workload, units, full_check)

    # Customers -------------------------------------------------------------

    def create_customer(self, name: str, credit_micro: int = 0) -> tuple[CustomerInfo, str]:
        """A new customer and its API key (shown once: only its hash is stored)."""
        if not name or len(name) > 100:
            raise BillingError("a customer name is 1..100 characters")
        if credit_micro < 0:
            raise BillingError("credit is non-negative")
        api_key = new_api_key()
        with self.sessions.begin() as session:
            customer = Customer(
                name=name,
                api_key_sha256=hash_api_key(api_key),
                key_prefix=api_key[:12],
                currency=self.currency,
                credit_micro=credit_micro,
                active=True,
                created_at=self.clock(),
            )
            session.add(customer)
            session.flush()
            return _info(customer), api_key

    def top_up(self, customer: CustomerInfo | int, amount_micro: int) -> CustomerInfo:
        if amount_micro <= 0:
            raise BillingError("a top-up is a positive amount")
        customer_id = customer if isinstance(customer, int) else customer.id
        with self.sessions.begin() as session:
            done = session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(credit_micro=Customer.credit_micro + amount_micro)
            )
            if done.rowcount != 1:
                raise UnknownCustomer(f"no customer {customer_id}")
            return _info(session.get(Customer, customer_id, populate_existing=True))

    def authenticate(self, api_key: str) -> CustomerInfo | None:
        """The active customer holding ``api_key``, or None for any other string."""
        if not isinstance(api_key, str) or not api_key.startswith(KEY_PREFIX):
            return None
        if len(api_key) > 200:
            return None
        with self.sessions() as session:
            customer = session.scalar(
                select(Customer).where(
                    Customer.api_key_sha256 == hash_api_key(api_key), Customer.active.is_(True)
                )
            )
            return None if customer is None else _info(customer)

    def balance(self, customer: CustomerInfo | int) -> int:
        customer_id = customer if isinstance(customer, int) else customer.id
        with self.sessions() as session:
            credit = session.scalar(select(Customer.credit_micro).where(Customer.id == customer_id))
            if credit is None:
                raise UnknownCustomer(f"no customer {customer_id}")
            return int(credit)

    # Charges ---------------------------------------------------------------

    def charge(
        self,
        customer: CustomerInfo | int,
        idempotency_key: str,
        workload: str,
        units: int,
        *,
        request_id: str | None = None,
    ) -> Charge:
        """Debit the quote for ``units`` of ``workload`` once per idempotency key."""
        customer_id = customer if isinstance(customer, int) else customer.id
        if not idempotency_key or len(idempotency_key) > 128:
            raise BillingError("an idempotency key is 1..128 characters")
        _check_request(workload, units)
        try:
            return self._charge(customer_id, idempotency_key, workload, units, request_id)
        except IntegrityError:
            # A concurrent charge with this key committed first: answer with it.
            with self.sessions() as session:
                return self._replay(session, customer_id, idempotency_key, workload, units)

    def _charge(
        self,
        customer_id: int,
        key: str,
        workload: str,
        units: int,
        request_id: str | None,
    ) -> Charge:
        with self.sessions.begin() as session:
            # 1. Lock the customer's row (serialises this customer's charges).
            locked = session.execute(
                update(Customer)
                .where(Customer.id == customer_id)
                .values(credit_micro=Customer.credit_micro)
            )
            customer = session.get(Customer, customer_id, populate_existing=True)
            if locked.rowcount != 1 or customer is None or not customer.active:
                raise UnknownCustomer(f"no active customer {customer_id}")
            # 2. A key seen before answers with its first charge.
            if self._find(session, customer_id, key) is not None:
                return self._replay(session, customer_id, key, workload, units)
            # 3. Every check, then the debit and the event.
            quote = self._quote(session, workload, units)
            if customer.credit_micro <= 0 or customer.credit_micro < quote.amount_micro:
                raise InsufficientCredit(
                    f"credit {customer.credit_micro} {customer.currency}-micro is less than "
                    f"{quote.amount_micro} for {units} {workload} units"
                )
            customer.credit_micro -= quote.amount_micro
            event = RevenueEvent(
                idempotency_key=key,
                customer_id=customer_id,
                time=self.clock(),
                workload=workload,
                units=units,
                amount_micro=quote.amount_micro,
                currency=quote.currency,
                request_id=request_id,
            )
            session.add(event)
            session.flush()
            return Charge(
                event.id,
                customer_id,
                key,
                workload,
                units,
                quote.amount_micro,
                quote.currency,
                customer.credit_micro,
                replayed=False,
            )

    @staticmethod
    def _find(session: Session, customer_id: int, key: str) -> RevenueEvent | None:
        return session.scalar(
            select(RevenueEvent).where(
                RevenueEvent.customer_id == customer_id, RevenueEvent.idempotency_key == key
            )
        )

    def _replay(
        self, session: Session, customer_id: int, key: str, workload: str, units: int
    ) -> Charge:
        event = self._find(session, customer_id, key)
        if event is None:  # pragma: no cover - only after an IntegrityError on another key
            raise BillingError("the charge could not be recorded; retry")
        if (event.workload, event.units) != (workload, units):
            raise IdempotencyConflict(
                f"idempotency key {key!r} was used for {event.units} {event.workload} units"
            )
        credit = session.scalar(select(Customer.credit_micro).where(Customer.id == customer_id))
        return Charge(
            event.id,
            customer_id,
            key,
            event.workload,
            event.units,
            event.amount_micro,
            event.currency,
            int(credit or 0),
            replayed=True,
        )
