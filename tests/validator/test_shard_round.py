"""Training-shard rounds through real parts: an in-process chain behind the SDK, three
miner apps under uvicorn on loopback sharing one object store (honest, lazy, copy),
and the validator's ``ShardRounds`` asking them over btauth/1-signed HTTP. Two rounds:
the honest update is aggregated, the lazy one scores 0, the copy is flagged, and the
published head lowers the held-out loss. Then the race a copier used to win: the honest
miner's answers are held back (a delay in front of its app) so the copier's re-signed
copy reaches the validator first, every round; the copier is still the one flagged.
Last, through the validator's loop: the copier gets a failed audit's penalty window."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import torch

from tests.localnet.served_thread import served_app
from tests.validator.subnet import client_for, permitted_subnet
from wmnet.harness.graphs import FixedGraph, FixedNeuron
from wmnet.harness.wallets import load_wallet
from wmnet.localnet.chain import Chain
from wmnet.miner.app import create_app
from wmnet.miner.config import MinerConfig
from wmnet.miner.engine import RolloutEngine
from wmnet.protocol.shard import InnerHyper
from wmnet.protocol.usage import UsageEvent
from wmnet.training import checkpoints
from wmnet.training.store import LocalStore
from wmnet.validator.audits import AuditPolicy
from wmnet.validator.config import ValidatorConfig
from wmnet.validator.loop import ValidatorLoop
from wmnet.validator.outcomes import Reason
from wmnet.validator.scoring import MovingScores
from wmnet.validator.shards import HEAD_REF, ShardConfig, ShardRounds, record_round
from wmnet.validator.state import save_state
from wmnet.validator.targets import MinerTarget
from wmnet.validator.usage import MemoryUsageSink
from wmnet.worldmodel.checkpoint import default_model_id, load_default

pytestmark = pytest.mark.slow

VALIDATOR = load_wallet("//Bob", "validator")
MINERS = {name: load_wallet("//Charlie", f"shard-{name}") for name in ("honest", "lazy", "copy")}
# Every round below needs the honest update over the Gauntlet's floor, on shards drawn
# at random. Measured over 100 first rounds (`wmnet bench gauntlet`, docs/benchmarks.md):
# at H = 8, 3 honest updates in 100 fell under it; at H = 16 none did, the smallest
# advantage ~10x the floor.
HYPER = InnerHyper(inner_steps=16, batch=4, seq_len=6, lr=1e-3)


@dataclass
class World:
    store: LocalStore
    targets: dict[str, MinerTarget]
    honest_delay: dict[str, float]  # seconds the honest miner's answers are held back


class HeldBack:
    """ASGI wrapper: holds each response back ``delay["s"]`` seconds after the app has
    produced it (the update is already in the store; only the answer is late)."""

    def __init__(self, app, delay: dict[str, float]) -> None:
        self.app, self.delay = app, delay

    async def __call__(self, scope, receive, send) -> None:
        async def late_send(message) -> None:
            if message["type"] == "http.response.start" and scope.get("path") == "/v1/shard":
                await asyncio.sleep(self.delay["s"])
            await send(message)

        await self.app(scope, receive, late_send)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Miners and validator share this process: one torch thread each way is ~3x faster
    # than two contending on a shared 2-core machine (measured).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    store_dir = tmp_path_factory.mktemp("store")
    chain = Chain()
    netuid, uids = asyncio.run(permitted_subnet(chain, VALIDATOR, MINERS.values()))
    engine = RolloutEngine.load(precisions=("fp32",), device="cpu")

    delay = {"s": 0.0}

    def miner(name: str):
        wallet = MINERS[name]
        config = MinerConfig(
            hotkey_ss58=wallet.hotkey.ss58_address,
            netuid=netuid,
            store=str(store_dir),
            cheat=None if name == "honest" else name,  # type: ignore[arg-type]
            metagraph_poll_s=0.2,
        )
        app = create_app(
            config,
            engine=engine,
            client_factory=lambda: client_for(chain),
            warmup=False,
            signer=wallet.hotkey,
        )
        return served_app(HeldBack(app, delay) if name == "honest" else app, ready_path="/healthz")

    with miner("honest") as honest, miner("lazy") as lazy, miner("copy") as copier:
        urls = {"honest": honest, "lazy": lazy, "copy": copier}
        targets = {
            name: MinerTarget(
                uids[MINERS[name].hotkey.ss58_address],
                MINERS[name].hotkey.ss58_address,
                urls[name][len("http://") :],
            )
            for name in MINERS
        }
        yield World(LocalStore(store_dir), targets, delay)
    chain.close()


async def _round(rounds: ShardRounds, world: World, block: int):
    async with httpx.AsyncClient() as http:
        return await rounds.run(http, list(world.targets.values()), block)


def test_two_rounds_reward_the_honest_update_and_lower_the_heldout_loss(world):
    config = ShardConfig(store=str(world.store.root), hyper=HYPER, deadline_ms=60_000)
    rounds = ShardRounds(config, VALIDATOR, world.store, rng=np.random.default_rng(0))
    scores, usage = MovingScores(alpha=0.5), MemoryUsageSink()
    uid = {name: t.uid for name, t in world.targets.items()}
    first_loss = None
    for block in (100, 120):
        report = asyncio.run(_round(rounds, world, block))
        assert report is not None
        by_uid = {o.target.uid: o for o in report.outcomes}
        assert by_uid[uid["honest"]].score == 1.0, by_uid[uid["honest"]].outcome().text()
        assert by_uid[uid["lazy"]].score == 0.0
        assert by_uid[uid["copy"]].score == 0.0
        assert by_uid[uid["copy"]].reason is Reason.COPY, by_uid[uid["copy"]].detail
        assert report.aggregated == [uid["honest"]]
        assert report.heldout_after < report.heldout_before
        first_loss = first_loss if first_loss is not None else report.heldout_before
        record_round(report, scores, usage, 1, VALIDATOR.hotkey.ss58_address)
    assert report.heldout_after < first_loss
    # The head is published under its model id and the store's head ref points at it.
    assert rounds.head_id != default_model_id()
    assert world.store.get_ref(HEAD_REF) == rounds.head_id
    head = checkpoints.fetch(world.store, rounds.head_id)
    assert head.cfg == checkpoints.fetch(world.store, default_model_id()).cfg
    # Moving scores and usage events: units and device seconds only for accepted work.
    assert scores.weights() == {uid["honest"]: 1.0}
    events: list[UsageEvent] = usage.events
    assert {e.workload for e in events} == {"train_shard"}
    honest_events = [e for e in events if e.miner_uid == uid["honest"]]
    assert all(e.verified and e.units == HYPER.inner_steps * HYPER.batch for e in honest_events)
    assert all(e.device_seconds > 0 for e in honest_events)
    assert all(not e.verified and e.units == 0 for e in events if e.miner_uid != uid["honest"])


def test_a_copier_that_answers_first_is_still_the_copier(world):
    """The copier re-signs the honest update and answers at once, while the honest
    answer is held back 3 s: it reaches the validator first every round, and every
    round it is flagged and the honest miner keeps the credit (authorship is the
    earliest stored object, not the earliest answer)."""
    config = ShardConfig(store=str(world.store.root), hyper=HYPER, deadline_ms=60_000)
    rounds = ShardRounds(config, VALIDATOR, world.store, rng=np.random.default_rng(1))
    uid = {name: t.uid for name, t in world.targets.items()}
    world.honest_delay["s"] = 3.0
    try:
        for block in (200, 220):
            report = asyncio.run(_round(rounds, world, block))
            by_uid = {o.target.uid: o for o in report.outcomes}
            honest, copier = by_uid[uid["honest"]], by_uid[uid["copy"]]
            assert copier.latency_s < honest.latency_s - 1.0, "the copier did not answer first"
            assert copier.reason is Reason.COPY, copier
            assert honest.score == 1.0, honest.outcome().text()
            assert report.aggregated == [uid["honest"]]
    finally:
        world.honest_delay["s"] = 0.0


def test_a_lost_head_restarts_from_the_shipped_model(tmp_path):
    store = LocalStore(tmp_path / "store")
    config = ShardConfig(store=str(store.root))
    rounds = ShardRounds(config, VALIDATOR, store, head_id="ab" * 32)
    rounds._ensure_head()
    assert rounds.head_id == default_model_id()
    assert store.exists(default_model_id())  # published for miners to fetch


def test_a_copier_gets_the_penalty_window_of_a_failed_audit_kept_by_hotkey(world, tmp_path):
    """Through the validator's loop: a round flags the copier (fraud), which opens the
    penalty window a failed audit opens (the policy's tempos from this block, by
    hotkey, in the state file): weight 0, not asked again, and neither a restart nor a
    new UID for the same hotkey clears it."""
    policy = AuditPolicy(penalty_tempos=3)
    config = ValidatorConfig(
        netuid=1,
        state_path=tmp_path / "state.json",
        usage_path=tmp_path / "usage.jsonl",
        shards=ShardConfig(store=str(world.store.root), hyper=HYPER, deadline_ms=60_000),
        audit=policy,
        seed=3,
    )
    model = load_default().eval()
    loop = ValidatorLoop(config, VALIDATOR, model, default_model_id(), MemoryUsageSink())
    neurons = [FixedNeuron(t.uid, t.hotkey, t.axon) for t in world.targets.values()]
    graph = FixedGraph(neurons, block=400, tempo=10)
    loop.auditor.clock(graph.block, graph.tempo)

    async def shard_round(lp: ValidatorLoop, g: FixedGraph):
        async with httpx.AsyncClient() as http:
            return await lp.run_shard_round(http, g)

    report = asyncio.run(shard_round(loop, graph))
    copier, honest = world.targets["copy"], world.targets["honest"]
    by_uid = {o.target.uid: o for o in report.outcomes}
    assert by_uid[copier.uid].reason is Reason.COPY and by_uid[honest.uid].score == 1.0
    penalty = loop.state.penalties.active(copier.hotkey, graph.block)
    assert penalty is not None and (penalty.workload, penalty.reason) == ("train_shard", "copy")
    # The window a failed audit opens at this block: penalty_tempos tempos.
    assert penalty.until_block == graph.block + policy.penalty_tempos * graph.tempo
    assert loop.tempo.penalized(graph) == {copier.uid}
    weights = loop.tempo.averages(graph)
    assert copier.uid not in weights["train_shard"].scores
    assert weights["train_shard"].scores.get(honest.uid, 0) > 0
    # Kept by hotkey across a restart, under another UID of the same hotkey.
    asyncio.run(loop.auditor.drain())
    save_state(loop.state, config.state_path)
    restarted = ValidatorLoop(config, VALIDATOR, model, default_model_id(), MemoryUsageSink())
    moved = FixedGraph([FixedNeuron(42, copier.hotkey, copier.axon)], graph.block + 5, tempo=10)
    assert restarted.tempo.penalized(moved) == {42}
    # Inside its window the copier is not asked: no round, no usage.
    assert asyncio.run(shard_round(restarted, moved)) is None
    assert restarted.usage.events == []
    after = FixedGraph(moved.neurons, block=penalty.until_block, tempo=10)
    assert restarted.tempo.penalized(after) == set()
