"""The customer gateway, tried as a customer (and a cheating miner) would.

Real parts: an in-process chain behind the SDK, miner apps under uvicorn on loopback
(one honest, one answering random latents that its digests bind, so only a full check
catches it), the ledger on SQLite (and PostgreSQL where ``WMNET_TEST_PG_URL`` is set),
the gateway app served by uvicorn, customers over real HTTP. A "restart" serves a new
gateway app (a new order book instance) on the same ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from sqlalchemy import func, select

from tests.adversarial.hostile import Hostile, serve
from tests.ledger.conftest import pg_url  # noqa: F401 - pytest fixture
from tests.localnet.served_thread import served_app
from tests.validator.subnet import client_for, permitted_subnet
from wmnet.harness.setup import free_port
from wmnet.harness.wallets import load_wallet
from wmnet.ledger import models
from wmnet.ledger.billing import Billing
from wmnet.ledger.db import open_ledger
from wmnet.localnet.chain import Chain
from wmnet.miner.app import create_app
from wmnet.miner.config import MinerConfig
from wmnet.miner.engine import RolloutEngine
from wmnet.protocol.gateway import CustomerRolloutRequest, CustomerRolloutResponse
from wmnet.protocol.rollout import SeededContext
from wmnet.validator.audit_queue import InProcessAuditQueue
from wmnet.validator.auditor import Auditor
from wmnet.validator.audits import AuditPolicy
from wmnet.validator.gateway import GatewayDeps, create_gateway_app
from wmnet.validator.penalties import PenaltyBook
from wmnet.validator.targets import MinerTarget
from wmnet.validator.usage import MemoryUsageSink
from wmnet.worldmodel.checkpoint import default_model_id, load_default
from wmnet.worldmodel.contexts import context_arrays
from wmnet.worldmodel.rollout import RolloutOptions, rollout, to_uint8

PRICE_MICRO = 1_000  # per predicted step
VALIDATOR = load_wallet("//Bob", "validator")
HONEST, CHEAT = load_wallet("//Charlie", "gw-honest"), load_wallet("//Charlie", "gw-cheat")


@dataclass
class World:
    netuid: int
    honest: MinerTarget
    cheat: MinerTarget


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    chain = Chain()
    netuid, uids = asyncio.run(permitted_subnet(chain, VALIDATOR, (HONEST, CHEAT)))
    engine = RolloutEngine.load(precisions=("fp32",), device="cpu")

    def miner(wallet, cheat=None):
        config = MinerConfig(
            hotkey_ss58=wallet.hotkey.ss58_address, netuid=netuid, cheat=cheat, metagraph_poll_s=0.2
        )
        app = create_app(
            config, engine=engine, client_factory=lambda: client_for(chain), warmup=False
        )
        return served_app(app, ready_path="/healthz")

    def target(wallet, url):
        hotkey = wallet.hotkey.ss58_address
        return MinerTarget(uids[hotkey], hotkey, url[7:])

    with miner(HONEST) as honest_url, miner(CHEAT, cheat="random") as cheat_url:
        yield World(netuid, target(HONEST, honest_url), target(CHEAT, cheat_url))
    chain.close()


@pytest.fixture(scope="module")
def model():
    return load_default().eval()


class HeldQueue(InProcessAuditQueue):
    """The real in-process check, started only once ``release`` is set (so a test can
    stop the gateway while an order's audit is still queued)."""

    def __init__(self, model, release: threading.Event) -> None:
        super().__init__(model)
        self.release = release

    async def check(self, jobs):
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        return await super().check(jobs)


@dataclass
class Gateway:
    url: str
    billing: Billing
    usage: MemoryUsageSink
    sessions: object
    candidates: list[MinerTarget]
    auditor: Auditor


class Ledger:
    """One ledger shared by successive gateway "processes"."""

    def __init__(self, url: str, world: World, model) -> None:
        self.sessions = open_ledger(url)
        self.billing = Billing(self.sessions)
        self.billing.set_price("rollout", PRICE_MICRO)
        self.world, self.model = world, model
        self.penalties = PenaltyBook()  # the validator's state, kept across restarts

    @contextmanager
    def gateway(self, candidates=None, policy=None, queue=None) -> Iterator[Gateway]:
        usage = MemoryUsageSink()
        chosen = list(candidates or [self.world.cheat, self.world.honest])
        auditor = Auditor(
            policy or AuditPolicy(organic_rate=0.0),
            queue or InProcessAuditQueue(self.model),
            self.penalties,
            usage,
            self.world.netuid,
            VALIDATOR.hotkey.ss58_address,
        )
        deps = GatewayDeps(
            billing=self.billing,
            wallet=VALIDATOR,
            model=self.model,
            model_id=default_model_id(),
            usage=usage,
            netuid=self.world.netuid,
            candidates=lambda: [t for t in chosen if self.penalties.active(t.hotkey, 0) is None],
            auditor=auditor,
        )
        with served_app(create_gateway_app(deps), ready_path="/healthz") as url:
            yield Gateway(url, self.billing, usage, self.sessions, chosen, auditor)


@pytest.fixture
def ledger(world, model, tmp_path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", world, model)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ledger(request, world, model, tmp_path) -> Ledger:
    if request.param == "sqlite":
        return Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", world, model)
    return Ledger(request.getfixturevalue("pg_url"), world, model)


def _order(seed: int = 123, horizon: int = 6, **extra) -> CustomerRolloutRequest:
    actions = [1, 2, 3, 4, 0, 1, 2, 3][:horizon]
    return CustomerRolloutRequest(
        context=SeededContext(seed=seed, n_frames=3), actions=actions, **extra
    )


def _post(gw: Gateway, key: str | None, idem: str | None, order=None, raw: bytes | None = None):
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if idem is not None:
        headers["Idempotency-Key"] = idem
    body = raw if raw is not None else (order or _order()).model_dump_json()
    return httpx.post(gw.url + "/v1/rollouts", content=body, headers=headers, timeout=60)


def _count(sessions, model) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def _wait(predicate: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_an_order_is_answered_after_the_binding_checks_and_charged_once(ledger, model):
    with ledger.gateway(candidates=[ledger.world.honest]) as gw:
        customer, key = gw.billing.create_customer("acme", credit_micro=100 * PRICE_MICRO)
        first = _post(gw, key, "req-1")
        assert first.status_code == 200, first.text
        body = CustomerRolloutResponse.model_validate_json(first.content)
        assert body.verified and body.verification == "sampled"
        assert body.miner_uid == ledger.world.honest.uid
        assert body.charge.amount_micro == 6 * PRICE_MICRO and not body.charge.replayed
        assert gw.billing.balance(customer) == 94 * PRICE_MICRO
        # Answered without a full check: no audit ran (organic rate 0 here).
        assert gw.auditor.counters.audited == 0 and gw.usage.audits == []
        frames, acts = context_arrays(_order().context, model.cfg)
        local = rollout(model, frames[None], acts[None], np.array([_order().actions]),
                        RolloutOptions(decode=False))  # fmt: skip
        assert np.abs(body.result.latents.numpy() - local.latents[0].numpy()).max() < 1e-4

        again = _post(gw, key, "req-1")  # a retry: the same answer, no second debit
        assert again.status_code == 200 and again.json()["charge"]["replayed"] is True
        assert again.json()["result"] == first.json()["result"]
        assert gw.billing.balance(customer) == 94 * PRICE_MICRO
        assert _count(gw.sessions, models.RevenueEvent) == 1


def test_a_reused_key_with_another_body_is_409_before_and_after_a_restart(ledger):
    with ledger.gateway(candidates=[ledger.world.honest]) as gw:
        customer, key = gw.billing.create_customer("acme", credit_micro=10**9)
        assert _post(gw, key, "k", _order(seed=1)).status_code == 200
        # Same length, another context: the old answer must not be served for it.
        other = _post(gw, key, "k", _order(seed=2))
        assert other.status_code == 409 and other.json()["error"] == "conflict"
        balance = gw.billing.balance(customer)
    with ledger.gateway(candidates=[ledger.world.honest]) as gw:  # restarted: no cache
        for seed in (2, 3):
            assert _post(gw, key, "k", _order(seed=seed)).status_code == 409
        replay = _post(gw, key, "k", _order(seed=1))
        assert replay.status_code == 200 and replay.json()["charge"]["replayed"] is True
        assert gw.billing.balance(customer) == balance
        assert [e.miner_uid for e in gw.usage.events] == []  # no new work at all
        assert _count(gw.sessions, models.RevenueEvent) == 1


def test_a_retry_after_a_restart_answers_the_original_request_charged_once(ledger):
    """An order whose gateway died before answering: the retry computes the stored
    request (credit held again) and is charged once."""
    with ledger.gateway(candidates=[ledger.world.honest]) as gw:
        customer, key = gw.billing.create_customer("acme", credit_micro=10 * PRICE_MICRO)
        # The first gateway reserves the key and dies before any miner answered: its
        # order is left pending with credit held (what a kill -9 mid-order leaves).
        book = gw.billing
        from wmnet.ledger.orders import OrderBook

        dead = OrderBook(book, VALIDATOR.hotkey.ss58_address, instance="dead-process")
        order = _order(seed=7)
        held = dead.reserve(customer.id, "r", order.sha256(), order.canonical(), "rollout",
                            6, False)  # fmt: skip
        assert held.fresh and gw.billing.balance(customer) == 4 * PRICE_MICRO
    with ledger.gateway(candidates=[ledger.world.honest]) as gw:
        # Started: the dead process's hold is released; a retry reserves it again.
        assert gw.billing.balance(customer) == 10 * PRICE_MICRO
        retry = _post(gw, key, "r", order)
        assert retry.status_code == 200, retry.text
        assert retry.json()["charge"]["replayed"] is False
        assert gw.billing.balance(customer) == 4 * PRICE_MICRO
        assert _post(gw, key, "r", _order(seed=8)).status_code == 409
        assert _post(gw, key, "r", order).json()["charge"]["replayed"] is True
        assert _count(gw.sessions, models.RevenueEvent) == 1
        assert len(gw.usage.events) == 1


def test_a_faked_answer_found_by_a_later_audit_refunds_once_across_a_restart(ledger):
    release = threading.Event()
    policy = AuditPolicy(organic_rate=1.0)
    cheat = ledger.world.cheat
    with ledger.gateway([cheat], policy, HeldQueue(ledger.model, release)) as gw:
        customer, key = gw.billing.create_customer("acme", credit_micro=10 * PRICE_MICRO)
        answered = _post(gw, key, "f")
        # The cheat's random latents bind their digests: answered, charged...
        assert answered.status_code == 200, answered.text
        assert answered.json()["miner_uid"] == cheat.uid
        assert gw.billing.balance(customer) == 4 * PRICE_MICRO
        # ...and the gateway stops before its audit ran.
    assert _count(ledger.sessions, models.Refund) == 0
    release.set()
    with ledger.gateway([cheat], policy) as gw:  # the audit is queued again at start
        assert _wait(lambda: _count(gw.sessions, models.Refund) == 1)
        assert gw.billing.balance(customer) == 10 * PRICE_MICRO
        assert [a.outcome for a in gw.usage.audits] == ["failed"]
        assert ledger.penalties.active(cheat.hotkey, 0) is not None  # penalized
        # The penalized miner is no longer asked: nobody delivers, nothing charged.
        assert _post(gw, key, "g").status_code == 503
        assert gw.billing.balance(customer) == 10 * PRICE_MICRO
    with ledger.gateway([cheat], policy) as gw:  # and never twice
        time.sleep(0.5)
        assert gw.usage.audits == []
    assert _count(ledger.sessions, models.Refund) == 1
    assert gw.billing.balance(customer) == 10 * PRICE_MICRO


def test_full_verification_is_checked_before_answering_and_charged_the_multiple(ledger):
    with ledger.gateway() as gw:  # the cheat is asked first
        customer, key = gw.billing.create_customer("acme", credit_micro=100 * PRICE_MICRO)
        full = _post(gw, key, "v", _order(verification="full"))
        assert full.status_code == 200, full.text
        body = full.json()
        assert body["verification"] == "full" and body["miner_uid"] == ledger.world.honest.uid
        assert body["charge"]["amount_micro"] == 2 * 6 * PRICE_MICRO  # default multiple 2
        assert gw.billing.balance(customer) == 88 * PRICE_MICRO
        outcomes = {(a.miner_uid, a.trigger, a.outcome) for a in gw.usage.audits}
        assert outcomes == {
            (ledger.world.cheat.uid, "full", "failed"),
            (ledger.world.honest.uid, "full", "passed"),
        }
        assert ledger.penalties.active(ledger.world.cheat.hotkey, 0) is not None
        quote = httpx.get(
            gw.url + "/v1/quote",
            params={"units": 6, "verification": "full"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert quote.json()["amount_micro"] == 12 * PRICE_MICRO


def _parallel(gw: Gateway, api_key: str, keys: list[str], orders: list) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        gw.url + "/v1/rollouts",
                        content=o.model_dump_json(),
                        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": k},
                    )
                    for k, o in zip(keys, orders, strict=True)
                )
            )

    return asyncio.run(go())


def test_concurrent_orders_under_one_key_are_charged_once(any_ledger):
    with any_ledger.gateway(candidates=[any_ledger.world.honest]) as gw:
        customer, key = gw.billing.create_customer("acme", credit_micro=100 * PRICE_MICRO)
        # 20 parallel orders under one key, different bodies: one is computed.
        answers = _parallel(gw, key, ["same"] * 20, [_order(seed=s) for s in range(20)])
        codes = sorted(r.status_code for r in answers)
        assert codes.count(200) == 1 and codes.count(409) == 19, codes
        # 6 parallel duplicates of one body: one computed, the others wait for it.
        dup = _parallel(gw, key, ["dup"] * 6, [_order(seed=99)] * 6)
        assert [r.status_code for r in dup] == [200] * 6
        assert len({r.content for r in dup if not r.json()["charge"]["replayed"]}) == 1
        assert len({str(r.json()["result"]) for r in dup}) == 1
        assert len(gw.usage.events) == 2  # two miner requests in all
        assert _count(gw.sessions, models.RevenueEvent) == 2
        assert gw.billing.balance(customer) == 88 * PRICE_MICRO


def test_credit_for_one_order_buys_one_order_however_many_are_sent(any_ledger):
    with any_ledger.gateway(candidates=[any_ledger.world.honest]) as gw:
        customer, key = gw.billing.create_customer("short", credit_micro=6 * PRICE_MICRO)
        answers = _parallel(gw, key, [f"k{i}" for i in range(10)], [_order()] * 10)
        codes = sorted(r.status_code for r in answers)
        assert codes == [200] + [402] * 9, codes
        assert len(gw.usage.events) == 1  # no unpaid work on demand
        assert gw.billing.balance(customer) == 0


def test_bad_key_and_missing_idempotency_key_are_refused(ledger):
    with ledger.gateway(candidates=[ledger.world.honest]) as gw:
        _, key = gw.billing.create_customer("acme", credit_micro=10**9)
        assert _post(gw, None, "x").status_code == 401
        wrong = _post(gw, "wmk_" + "A" * 43, "x")
        assert wrong.status_code == 401 and wrong.json()["error"] == "unauthenticated"
        missing = _post(gw, key, None)
        assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["detail"]
        bad = _post(gw, key, "b", raw=b'{"actions": "nope"}')
        assert bad.status_code == 422 and bad.json()["error"] == "invalid"
        assert _count(gw.sessions, models.RevenueEvent) == 0


def test_an_empty_balance_is_refused_before_any_work(ledger):
    with ledger.gateway() as gw:
        gw.billing.create_customer("broke", credit_micro=0)
        _, broke_key = gw.billing.create_customer("broke2", credit_micro=0)
        refused = _post(gw, broke_key, "r")
        assert refused.status_code == 402 and refused.json()["error"] == "payment_required"
        short, short_key = gw.billing.create_customer("short", credit_micro=PRICE_MICRO)
        assert _post(gw, short_key, "r").status_code == 402  # 6 steps cost 6x
        assert gw.usage.events == []  # no miner was asked
        assert gw.billing.balance(short) == PRICE_MICRO


def test_when_no_miner_delivers_nothing_is_charged(ledger):
    with ledger.gateway(candidates=[ledger.world.cheat]) as gw:
        customer, key = gw.billing.create_customer("acme", credit_micro=10**9)
        response = _post(gw, key, "c", _order(verification="full"))
        assert response.status_code == 503 and response.json()["error"] == "no_miner"
        assert gw.billing.balance(customer) == 10**9
        assert _count(gw.sessions, models.RevenueEvent) == 0
        assert [e.verified for e in gw.usage.events] == [False]


@contextmanager
def hostile_miner(tmp_path: Path, mode: str) -> Iterator[MinerTarget]:
    """The hostile miner (tests/adversarial/hostile.py) served in a thread of its own."""
    (tmp_path / "mode").write_text(mode)
    hotkey = load_wallet("//Charlie", "gw-hostile").hotkey.ss58_address
    hostile = Hostile(tmp_path / "mode", tmp_path / "status.json", hotkey)
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        started = asyncio.Event()
        task = loop.create_task(serve(hostile, port, started))
        loop.run_until_complete(started.wait())
        ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        yield MinerTarget(99, hotkey, f"127.0.0.1:{port}")
    finally:
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        thread.join(timeout=10)


def test_frames_are_decoded_from_the_checked_latents_never_passed_through(ledger, model, tmp_path):
    # The hostile miner sends honest latents (they bind) with random frames.
    with hostile_miner(tmp_path, "frames") as target, ledger.gateway(candidates=[target]) as gw:
        _, key = gw.billing.create_customer("acme", credit_micro=10**9)
        response = _post(gw, key, "frames-1", _order(return_frames=True))
        assert response.status_code == 200, response.text
        # Without return_frames the customer gets no frames at all (none were asked for).
        plain = CustomerRolloutResponse.model_validate_json(_post(gw, key, "f2").content)
    body = CustomerRolloutResponse.model_validate_json(response.content)
    assert body.verified and body.miner_uid == target.uid
    latents = torch.from_numpy(body.result.latents.numpy())[None]
    with torch.inference_mode():
        expected = to_uint8(model.decode(latents))[0].numpy()
    assert np.array_equal(body.result.frames.numpy(), expected)
    assert plain.result.frames is None


def test_a_dripping_miner_cannot_hold_an_order_past_its_deadline(ledger, tmp_path):
    with hostile_miner(tmp_path, "drip") as target, ledger.gateway([target, target]) as gw:
        customer, key = gw.billing.create_customer("acme", credit_micro=10**9)
        started = time.monotonic()
        response = _post(gw, key, "drip-1", _order(deadline_ms=1000))
        took = time.monotonic() - started
        assert response.status_code == 503 and response.json()["error"] == "no_miner"
        assert took < 2 * 1.0 + 1.0  # two attempts of one second each, not minutes
        assert [e.reason.split(":")[0] for e in gw.usage.events] == ["timeout", "timeout"]
        assert gw.billing.balance(customer) == 10**9
