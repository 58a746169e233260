"""The demo's paying customer: priced and funded in the ledger, buying rollouts at the
validator's gateway over HTTP, as any customer would.

Set-up goes through the ledger's billing API (``wmnet.ledger.billing.Billing``, what
``wmnet ledger price set`` and ``wmnet ledger customer add`` call). Then a thread posts
``POST /v1/rollouts`` with the API key and a fresh ``Idempotency-Key`` per order, and
every fifth order sends its key a second time, as a client retrying after a lost
answer would: the gateway answers it again and charges nothing more.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from dataclasses import dataclass, field

import httpx

from wmnet.protocol.gateway import (
    GATEWAY_ROLLOUTS_PATH,
    IDEMPOTENCY_HEADER,
    CustomerRolloutRequest,
    CustomerRolloutResponse,
)
from wmnet.protocol.rollout import SeededContext

NAME = "demo-customer"
PRICE_PER_STEP = "0.01"  # currency per predicted step
CREDIT = "100"  # prepaid currency units


def open_account(db_url: str, currency: str) -> str:
    """Price rollouts and create the funded customer; returns its API key."""
    from wmnet.ledger.billing import Billing
    from wmnet.ledger.db import open_ledger
    from wmnet.ledger.models import MICRO
    from wmnet.ledger.valuation import parse_decimal

    billing = Billing(open_ledger(db_url), currency)
    billing.set_price("rollout", parse_decimal(PRICE_PER_STEP, MICRO, "price"))
    _, api_key = billing.create_customer(NAME, parse_decimal(CREDIT, MICRO, "credit"))
    return api_key


@dataclass
class CustomerStats:
    """What the customer saw (read by the display; written by the customer's thread)."""

    served: int = 0  # orders answered with a verified rollout
    failed: int = 0  # orders refused or undelivered (never charged)
    retries: int = 0  # repeats of an answered key
    retries_charged: int = 0  # repeats the gateway charged again (must stay 0)
    spent_micro: int = 0
    by_miner: Counter[int] = field(default_factory=Counter)
    last_error: str = ""


class Customer:
    """Buys one rollout of ``horizon`` steps every ``interval_s`` until stopped."""

    def __init__(
        self, gateway_url: str, api_key: str, horizon: int = 8, interval_s: float = 1.0
    ) -> None:
        self.url = gateway_url
        self.api_key = api_key
        self.horizon = horizon
        self.interval_s = interval_s
        self.stats = CustomerStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-customer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)  # an order in flight ends on its own

    def _order(self, n: int) -> CustomerRolloutRequest:
        actions = [(n + i) % 5 for i in range(self.horizon)]
        return CustomerRolloutRequest(
            context=SeededContext(seed=1000 + n, n_frames=3), actions=actions
        )

    def _post(self, http: httpx.Client, key: str, order: CustomerRolloutRequest) -> bool:
        try:
            answer = http.post(
                self.url + GATEWAY_ROLLOUTS_PATH,
                content=order.model_dump_json(),
                headers={"Authorization": f"Bearer {self.api_key}", IDEMPOTENCY_HEADER: key},
                timeout=120.0,
            )
        except httpx.HTTPError as error:
            self.stats.failed += 1
            self.stats.last_error = f"{type(error).__name__}: {error}"
            return False
        if answer.status_code != 200:
            self.stats.failed += 1
            self.stats.last_error = f"{answer.status_code} {answer.text[:200]}"
            return False
        body = CustomerRolloutResponse.model_validate_json(answer.content)
        if body.charge.replayed:
            self.stats.retries += 1
            return True
        self.stats.served += 1
        self.stats.spent_micro += body.charge.amount_micro
        self.stats.by_miner[body.miner_uid] += 1
        return True

    def _wait_for_miners(self, http: httpx.Client) -> None:
        """The gateway asks only miners the validator has scored: wait for the first."""
        while not self._stop.is_set():
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if http.get(self.url + "/healthz", timeout=5.0).json().get("miners", 0) > 0:
                    return
            self._stop.wait(0.5)

    def _run(self) -> None:
        with httpx.Client() as http:
            self._wait_for_miners(http)
            n = 0
            while not self._stop.is_set():
                key, order = f"demo-order-{n}", self._order(n)
                if self._post(http, key, order) and n % 5 == 4:
                    before = self.stats.spent_micro
                    self._post(http, key, order)  # a retry under the same key
                    self.stats.retries_charged += self.stats.spent_micro != before
                n += 1
                self._stop.wait(self.interval_s)
