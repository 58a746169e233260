"""The customer gateway: charges verified work once, refuses bad keys and empty
balances, and never charges for work that failed verification. Real parts: an
in-process chain behind the SDK, two miner apps under uvicorn on loopback (one honest,
one returning random latents), the ledger's billing on SQLite, the gateway app."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.adversarial.hostile import Hostile, serve
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
from wmnet.validator.gateway import GatewayDeps, create_gateway_app
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

    with miner(HONEST) as honest_url, miner(CHEAT, cheat="random") as cheat_url:
        yield World(
            netuid,
            MinerTarget(
                uids[HONEST.hotkey.ss58_address], HONEST.hotkey.ss58_address, honest_url[7:]
            ),
            MinerTarget(uids[CHEAT.hotkey.ss58_address], CHEAT.hotkey.ss58_address, cheat_url[7:]),
        )
    chain.close()


@pytest.fixture(scope="module")
def model():
    return load_default().eval()


@dataclass
class Gateway:
    http: TestClient
    billing: Billing
    usage: MemoryUsageSink
    sessions: object
    candidates: list[MinerTarget]


@pytest.fixture
def gateway(world, model, tmp_path) -> Iterator[Gateway]:
    sessions = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    billing = Billing(sessions)
    billing.set_price("rollout", PRICE_MICRO)
    usage = MemoryUsageSink()
    candidates = [world.cheat, world.honest]  # the cheat first: it must cost nothing
    deps = GatewayDeps(
        billing=billing,
        wallet=VALIDATOR,
        model=model,
        model_id=default_model_id(),
        usage=usage,
        netuid=world.netuid,
        candidates=lambda: list(candidates),
    )
    with TestClient(create_gateway_app(deps), raise_server_exceptions=False) as http:
        yield Gateway(http, billing, usage, sessions, candidates)


def _order(horizon: int = 6) -> CustomerRolloutRequest:
    return CustomerRolloutRequest(
        context=SeededContext(seed=123, n_frames=3), actions=[1, 2, 3, 4, 0, 1][:horizon]
    )


def _post(gw: Gateway, key: str | None, idem: str | None, order=None):
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if idem is not None:
        headers["Idempotency-Key"] = idem
    body = (order or _order()).model_dump_json()
    return gw.http.post("/v1/rollouts", content=body, headers=headers)


def _revenue_events(gw: Gateway) -> int:
    with gw.sessions() as session:
        return session.scalar(select(func.count()).select_from(models.RevenueEvent))


def test_verified_work_is_charged_once_and_failed_work_never(gateway, model):
    customer, key = gateway.billing.create_customer("acme", credit_micro=100 * PRICE_MICRO)
    first = _post(gateway, key, "req-1")
    assert first.status_code == 200, first.text
    body = CustomerRolloutResponse.model_validate_json(first.content)
    assert body.verified and body.miner_uid == gateway.candidates[1].uid  # the honest one
    assert body.charge.amount_micro == 6 * PRICE_MICRO and not body.charge.replayed
    assert gateway.billing.balance(customer) == 94 * PRICE_MICRO
    # The answer is the model's: same latents as a local rollout within fp32 noise.
    frames, acts = context_arrays(_order().context, model.cfg)
    local = rollout(model, frames[None], acts[None], np.array([_order().actions]),
                    RolloutOptions(decode=False))  # fmt: skip
    assert np.abs(body.result.latents.numpy() - local.latents[0].numpy()).max() < 1e-4
    # The cheat was asked first, failed verification, and was recorded, not charged.
    cheat_events = [e for e in gateway.usage.events if e.miner_uid == gateway.candidates[0].uid]
    assert cheat_events and not cheat_events[0].verified and cheat_events[0].origin == "organic"
    assert _revenue_events(gateway) == 1

    again = _post(gateway, key, "req-1")  # a retry: same answer, no second debit
    assert again.status_code == 200 and again.json()["charge"]["replayed"] is True
    assert gateway.billing.balance(customer) == 94 * PRICE_MICRO
    assert _revenue_events(gateway) == 1


def test_bad_key_and_missing_idempotency_key_are_refused(gateway):
    _, key = gateway.billing.create_customer("acme", credit_micro=10**9)
    assert _post(gateway, None, "x").status_code == 401
    wrong = _post(gateway, "wmk_" + "A" * 43, "x")
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthenticated"
    missing = _post(gateway, key, None)
    assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["detail"]
    bad = gateway.http.post(
        "/v1/rollouts",
        content=b'{"actions": "nope"}',
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "b"},
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
    assert _revenue_events(gateway) == 0


def test_an_empty_balance_is_refused_before_any_work(gateway):
    customer, key = gateway.billing.create_customer("broke", credit_micro=0)
    refused = _post(gateway, key, "r")
    assert refused.status_code == 402 and refused.json()["error"] == "payment_required"
    short, short_key = gateway.billing.create_customer("short", credit_micro=PRICE_MICRO)
    assert _post(gateway, short_key, "r").status_code == 402  # 6 steps cost 6x
    assert gateway.usage.events == []  # no miner was asked
    assert gateway.billing.balance(short) == PRICE_MICRO


def test_when_no_miner_delivers_nothing_is_charged(gateway):
    customer, key = gateway.billing.create_customer("acme", credit_micro=10**9)
    gateway.candidates[:] = gateway.candidates[:1]  # only the cheat
    response = _post(gateway, key, "c")
    assert response.status_code == 503 and response.json()["error"] == "no_miner"
    assert gateway.billing.balance(customer) == 10**9
    assert _revenue_events(gateway) == 0
    assert [e.verified for e in gateway.usage.events] == [False]


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


def test_frames_are_decoded_from_the_checked_latents_never_passed_through(gateway, model, tmp_path):
    # The hostile miner sends honest latents (they verify) with random frames.
    _, key = gateway.billing.create_customer("acme", credit_micro=10**9)
    with hostile_miner(tmp_path, "frames") as target:
        gateway.candidates[:] = [target]
        order = _order().model_copy(update={"return_frames": True})
        response = _post(gateway, key, "frames-1", order)
    assert response.status_code == 200, response.text
    body = CustomerRolloutResponse.model_validate_json(response.content)
    assert body.verified and body.miner_uid == target.uid
    latents = torch.from_numpy(body.result.latents.numpy())[None]
    with torch.inference_mode():
        expected = to_uint8(model.decode(latents))[0].numpy()
    assert np.array_equal(body.result.frames.numpy(), expected)
    # Without return_frames the customer gets no frames at all (none were asked for).
    with hostile_miner(tmp_path, "frames") as target:
        gateway.candidates[:] = [target]
        plain = CustomerRolloutResponse.model_validate_json(_post(gateway, key, "f2").content)
    assert plain.result.frames is None


def test_a_dripping_miner_cannot_hold_an_order_past_its_deadline(gateway, tmp_path):
    customer, key = gateway.billing.create_customer("acme", credit_micro=10**9)
    with hostile_miner(tmp_path, "drip") as target:
        gateway.candidates[:] = [target, target]
        order = _order().model_copy(update={"deadline_ms": 1000})
        started = time.monotonic()
        response = _post(gateway, key, "drip-1", order)
        took = time.monotonic() - started
    assert response.status_code == 503 and response.json()["error"] == "no_miner"
    assert took < 2 * 1.0 + 1.0  # two attempts of one second each, not minutes
    assert [e.reason.split(":")[0] for e in gateway.usage.events] == ["timeout", "timeout"]
    assert gateway.billing.balance(customer) == 10**9
