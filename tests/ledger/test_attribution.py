"""Subsidy attribution reconciles exactly: over many epochs with random attribution, each
miner's workload parts sum to its chain emission to the rao (largest remainder)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.ledger.helpers import neuron
from wmnet.ledger.apportion import apportion
from wmnet.ledger.indexer import EpochSnapshot, store_epoch
from wmnet.ledger.models import UNATTRIBUTED, Epoch, EpochEmission, Subsidy
from wmnet.ledger.usage import LedgerUsageSink
from wmnet.ledger.valuation import AlphaPrice, PriceOrigin, Valuation
from wmnet.protocol.usage import WeightAttribution

NETUIDS = itertools.count(1)
WORKLOADS = ("rollout", "train_shard")


@given(
    total=st.integers(0, 10**18),
    weights=st.dictionaries(st.text(max_size=3), st.integers(0, 10**30), max_size=8),
)
def test_apportion_is_exact_and_fair(total: int, weights: dict[str, int]) -> None:
    parts = apportion(total, weights)
    denominator = sum(weights.values())
    if denominator == 0:
        assert parts == {}
        return
    assert sum(parts.values()) == total
    for key, part in parts.items():
        quota = Fraction(total * weights[key], denominator)
        assert quota - 1 < part < quota + 1
        assert part >= 0 and (weights[key] > 0 or part == 0)


shares = st.sampled_from(
    [{"rollout": 1.0}, {"train_shard": 1.0}, {"rollout": 0.5, "train_shard": 0.5},
     {"rollout": 0.3, "train_shard": 0.7}, {"rollout": 1 / 3, "train_shard": 2 / 3}]
)  # fmt: skip
epoch_plan = st.fixed_dictionaries(
    {
        "miner_emission": st.lists(st.integers(0, 10**15), min_size=1, max_size=6),
        "validator_stake": st.lists(st.integers(0, 10**13), min_size=1, max_size=3),
        # per validator: per miner an optional (weight, shares)
        "attribution": st.lists(
            st.lists(st.one_of(st.none(), st.tuples(st.floats(0, 1), shares)), max_size=6),
            max_size=3,
        ),
    }
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=st.lists(epoch_plan, min_size=1, max_size=6))
def test_subsidies_sum_to_the_chain_miner_emission(sessions, plans) -> None:
    netuid = next(NETUIDS)
    sink = LedgerUsageSink(sessions)
    valuation = Valuation(currency="USD", tao_price_micro=None)
    chain_miner: dict[int, dict[int, int]] = {}
    for index, plan in enumerate(plans):
        block = 100 * (index + 1)
        miners = plan["miner_emission"]
        validators = [f"v{i}" for i in range(len(plan["validator_stake"]))]
        rows = []
        for v, attributions in zip(validators, plan["attribution"], strict=False):
            for uid, entry in enumerate(attributions[: len(miners)], start=10):
                if entry is not None:
                    rows.append(
                        WeightAttribution(
                            time=block,
                            netuid=netuid,
                            block=block - 50,
                            validator_hotkey=v,
                            miner_uid=uid,
                            miner_hotkey=f"m{uid}",
                            weight=entry[0],
                            by_workload=entry[1],
                        )  # fmt: skip
                    )
        if rows:
            sink.record_attribution(rows)
        neurons = [neuron(0, "owner", 0, permit=True)]
        neurons += [
            neuron(1 + i, v, 0, stake=s, dividends=1, permit=True)
            for i, (v, s) in enumerate(zip(validators, plan["validator_stake"], strict=True))
        ]
        neurons += [neuron(10 + j, f"m{10 + j}", e, incentive=1) for j, e in enumerate(miners)]
        snapshot = EpochSnapshot(netuid, block, float(block), 99, "owner", tuple(neurons),
                                 AlphaPrice(10**9, PriceOrigin.CHAIN, "test"), 11796)  # fmt: skip
        assert store_epoch(sessions, snapshot, valuation, "test")
        chain_miner[block] = {10 + j: e for j, e in enumerate(miners)}

    with sessions() as session:
        epochs = {
            e.id: e.block for e in session.scalars(select(Epoch).where(Epoch.netuid == netuid))
        }
        parts: dict[tuple[int, int], int] = defaultdict(int)
        workloads: dict[tuple[int, int], set[str]] = defaultdict(set)
        for s in session.scalars(select(Subsidy).where(Subsidy.epoch_id.in_(epochs))):
            assert s.emission_alpha_rao > 0
            parts[(epochs[s.epoch_id], s.uid)] += s.emission_alpha_rao
            workloads[(epochs[s.epoch_id], s.uid)].add(s.workload)
        miner_rows = session.execute(
            select(Epoch.block, Epoch.miner_emission_alpha_rao).where(Epoch.netuid == netuid)
        ).all()
        roles = set(
            session.scalars(select(EpochEmission.role).where(EpochEmission.epoch_id.in_(epochs)))
        )
    assert roles <= {"owner", "validator", "miner"}
    for block, miner_total in miner_rows:
        assert miner_total == sum(chain_miner[block].values())
        assert sum(v for (b, _), v in parts.items() if b == block) == miner_total
        for uid, emission in chain_miner[block].items():
            assert parts.get((block, uid), 0) == emission  # exact, to the rao
            assert workloads.get((block, uid), set()) <= {*WORKLOADS, UNATTRIBUTED}
