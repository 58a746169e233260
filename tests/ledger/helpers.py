"""A small ledger with known numbers, built through the ledger's own write paths."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from wmnet.ledger.billing import Billing
from wmnet.ledger.capacity import store_capacity
from wmnet.ledger.indexer import EpochSnapshot, NeuronRow, store_epoch
from wmnet.ledger.usage import LedgerUsageSink
from wmnet.ledger.valuation import AlphaPrice, PriceOrigin, Valuation
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.usage import UsageEvent, WeightAttribution

NETUID = 7
T0 = 1_750_000_000.0  # epoch times T0 + 100, T0 + 200
OWNER, VALIDATOR = "owner-hotkey", "validator-hotkey"
MINERS = ["miner-a", "miner-b"]


def neuron(
    uid: int,
    hotkey: str,
    emission: int,
    *,
    stake: int = 0,
    incentive: int = 0,
    dividends: int = 0,
    permit: bool = False,
) -> NeuronRow:
    return NeuronRow(uid, hotkey, "cold-" + hotkey, emission, stake, incentive, dividends, permit)


def snapshot(
    block: int, time: float, miner_emission: tuple[int, int], alpha_price_tao_rao: int = 10**9
) -> EpochSnapshot:
    return EpochSnapshot(
        netuid=NETUID,
        block=block,
        time=time,
        tempo=99,
        owner_hotkey=OWNER,
        neurons=(
            neuron(0, OWNER, 0, permit=True),
            neuron(1, VALIDATOR, 4_000_000_000, stake=10**12, dividends=65535, permit=True),
            neuron(2, MINERS[0], miner_emission[0], incentive=40000),
            neuron(3, MINERS[1], miner_emission[1], incentive=25535),
        ),
        alpha_price=AlphaPrice(alpha_price_tao_rao, PriceOrigin.CHAIN, "test: the pool's price"),
        owner_cut_u16=11796,
    )


def attribution(
    block: int, uid: int, hotkey: str, weight: float, shares: dict
) -> WeightAttribution:
    return WeightAttribution(time=T0 + block, netuid=NETUID, block=block,
                             validator_hotkey=VALIDATOR, miner_uid=uid, miner_hotkey=hotkey,
                             weight=weight, by_workload=shares)  # fmt: skip


def usage(
    request_id: str,
    time: float,
    uid: int,
    workload: str,
    units: int,
    seconds: float,
    origin: str = "synthetic",
    verified: bool = True,
) -> UsageEvent:
    return UsageEvent(request_id=request_id, time=time, netuid=NETUID, validator_hotkey=VALIDATOR,
                      miner_uid=uid, miner_hotkey=MINERS[uid - 2], workload=workload, units=units,
                      device_seconds=seconds, origin=origin, verified=verified,
                      reason="ok" if verified else "mismatch")  # fmt: skip


def seed(sessions: sessionmaker[Session], alpha_price_tao_rao: int = 10**9) -> dict:
    """Two epochs (blocks 100, 200), attribution, usage, capacity, a customer and charges.

    Miner a earns 3 α per epoch, miner b 1 α (+1 rao in epoch 200). Attribution at
    block 50: miner a 2/3 rollout, 1/3 train_shard; miner b all rollout. So rollout gets
    2 + 1 = 3 α per epoch, train_shard 1 α; epoch 200 has 1 rao more for rollout. The
    pool prices alpha at ``alpha_price_tao_rao`` (TAO rao per α; 1:1 by default), TAO
    is 300 USD.
    """
    valuation = Valuation(currency="USD", tao_price_micro=300_000_000, tao_price_source="test")
    sink = LedgerUsageSink(sessions)
    sink.record_attribution([
        attribution(50, 2, MINERS[0], 0.75, {"rollout": 2 / 3, "train_shard": 1 / 3}),
        attribution(50, 3, MINERS[1], 0.25, {"rollout": 1.0}),
    ])  # fmt: skip
    for block, emission in ((100, (3 * 10**9, 10**9)), (200, (3 * 10**9, 10**9 + 1))):
        epoch = snapshot(block, T0 + block, emission, alpha_price_tao_rao)
        store_epoch(sessions, epoch, valuation, "test")
    sink.record_many([
        usage("r1", T0 + 10, 2, "rollout", 16, 2.0),
        usage("r2", T0 + 20, 3, "rollout", 16, 2.0, origin="organic"),
        usage("r3", T0 + 150, 2, "train_shard", 100, 50.0),
        usage("r4", T0 + 160, 3, "rollout", 0, 1.0, verified=False),
    ])  # fmt: skip
    for hotkey in MINERS:
        for t in (T0 + 100, T0 + 200):
            store_capacity(sessions, CapacityReport(
                hotkey=hotkey, time=t, device="cpu", device_name="cpu", workloads=["rollout"],
                precisions=["fp32"], models_loaded=[], slots=2, queue_limit=8, queue_depth=0,
                free_slots=2, busy_fraction=0.1, window_s=100.0), netuid=NETUID)  # fmt: skip
    billing = Billing(sessions, "USD", clock=lambda: T0 + 30)
    billing.set_price("rollout", 250_000, valid_from=T0)  # 0.25 USD per step
    customer, key = billing.create_customer("acme", credit_micro=10_000_000)
    billing.charge(customer, "idem-1", "rollout", 16, request_id="r2")  # 4 USD
    return {"customer": customer, "api_key": key, "billing": billing}
