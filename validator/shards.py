"""Training-shard rounds: open, ask, score, aggregate, publish.

DiLoCo rounds with SparseLoCo updates and Gauntlet-style scoring (see
``wmnet.training``); one round, every ``interval_blocks`` blocks:

1. **open**: a random ``round_id``; for each miner asked, a :class:`ShardTask` on the
   current head checkpoint with the shard ``assign(round_id, hotkey)`` (no miner picks
   its data) and the round's hyperparameters;
2. **ask** every miner concurrently (``POST /v1/shard``), and **pin** each update the
   moment its answer arrives (``wmnet.validator.shard_updates``: read from the
   answering miner's own prefix, its size known in advance, its envelope signed by
   that miner for this task); no answer, a late or malformed one, a result for another
   task, round or base, or an update object that is missing, not a regular file, fails
   its hash, is signed by someone else or does not decode for this model: score 0;
3. **score** the decoded updates against the head (``wmnet.training.scoring``): gain on
   the miner's assigned data vs the validator's secret random data, then the copy
   check (an update signed by another miner, or naming another's object, is a copy;
   among overlapping updates the earliest *stored* is the author, however the answers
   raced); scores go to the ``train_shard`` moving average;
4. **aggregate** the best ``top_n`` scored updates with the outer step
   (``wmnet.training.aggregate``: SparseLoCo's averaged descent by default, DiLoCo's
   Nesterov momentum when configured), **publish** the next checkpoint to the object store,
   point the store's ``head`` ref at it, and use it as the next round's base;
5. record one ``train_shard`` usage event per miner asked (units: training samples the
   miner reported for an accepted update, device seconds as reported but at most the
   measured wall time of its answer).

Only validators write checkpoints and refs; before each round the validator checks
that its published head is still intact in the store and publishes it again if not.

The momentum buffer lives in memory: a restarted validator resumes from its head
checkpoint (kept in its state file) with zero momentum.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from wmnet.protocol.shard import InnerHyper, ShardData, ShardResult, ShardTask
from wmnet.protocol.spec import MAX_CHECKPOINT_BYTES
from wmnet.protocol.usage import UsageEvent
from wmnet.training import checkpoints, params, shards
from wmnet.training.aggregate import SPARSELOCO_OUTER, OuterNesterov
from wmnet.training.inner import Latents, encode, eval_loss
from wmnet.training.scoring import (
    Evaluator,
    Gauntlet,
    GauntletConfig,
    find_copies,
    round_scores,
)
from wmnet.training.store import ObjectMissing, ObjectStore, StoreError
from wmnet.validator.miner_client import QueryOutcome, query_shard
from wmnet.validator.scoring import MovingScores
from wmnet.validator.shard_updates import Received, ShardCode, receive
from wmnet.validator.targets import MinerTarget
from wmnet.validator.usage import device_seconds
from wmnet.worldmodel.checkpoint import CheckpointError, ModelRegistry, default_model_id
from wmnet.worldmodel.data import HELDOUT_SEED_OFFSET
from wmnet.worldmodel.model import WorldModel

log = logging.getLogger(__name__)
HEAD_REF = "head"


def _small_hyper() -> InnerHyper:
    # Seconds per round on a 2-core CPU; a GPU subnet raises inner_steps and batch
    # (docs/training.md, "Sizing H").
    return InnerHyper(inner_steps=10, batch=4, seq_len=6, lr=1e-3)


@dataclass(frozen=True)
class ShardConfig:
    store: str  # object store spec (wmnet.training.store.open_store)
    interval_blocks: int = 20
    hyper: InnerHyper = field(default_factory=_small_hyper)
    n_episodes: int = 4  # per miner's shard
    episode_len: int = 16
    random_episodes: int = 4  # the validator's unassigned control data
    heldout_episodes: int = 16  # logged held-out loss of each new head
    deadline_ms: int = 120_000
    top_n: int = 8  # updates aggregated per round
    sample_size: int = 16  # miners asked per round
    gauntlet: GauntletConfig = field(default_factory=GauntletConfig)
    # SparseLoCo's outer step (no momentum: error feedback plays its part); DiLoCo's
    # Nesterov is outer_lr=0.7, outer_momentum=0.9 (see wmnet.training.aggregate).
    outer_lr: float = SPARSELOCO_OUTER[0]
    outer_momentum: float = SPARSELOCO_OUTER[1]


@dataclass(frozen=True)
class ShardOutcome:
    target: MinerTarget
    task: ShardTask
    code: ShardCode
    reason: str  # "ok", or why the update scored 0 (starts with the code's text)
    raw: float
    score: float
    gauntlet: Gauntlet | None = None
    result: ShardResult | None = None
    latency_s: float = 0.0  # the answer's wall time, as measured

    @property
    def accepted(self) -> bool:
        return self.score > 0


@dataclass
class ShardRoundReport:
    round_id: str
    block: int
    base_id: str
    head_id: str  # == base_id when no update was aggregated
    outcomes: list[ShardOutcome]
    aggregated: list[int]  # uids whose updates made the step
    heldout_before: float
    heldout_after: float

    @property
    def scores(self) -> dict[int, float]:
        return {o.target.uid: o.score for o in self.outcomes}


def make_tasks(
    round_id: str, base_id: str, targets: list[MinerTarget], cfg: ShardConfig
) -> list[ShardTask]:
    return [
        ShardTask(
            task_id=secrets.token_hex(12),
            round_id=round_id,
            base_id=base_id,
            shard=shards.assign(round_id, t.hotkey, cfg.n_episodes, cfg.episode_len),
            hyper=cfg.hyper,
            deadline_ms=cfg.deadline_ms,
        )
        for t in targets
    ]


def score_updates(
    base: WorldModel,
    uids: list[int],
    tasks: list[ShardTask],
    received: list[Received],
    random: Latents,
    cfg: GauntletConfig,
) -> tuple[list[Gauntlet | None], list[float], list[ShardCode], list[str]]:
    """Gauntlet measurements, raw scores, codes and reasons, in the order of ``tasks``
    (asked of the miners ``uids``)."""
    evaluator = Evaluator(base, cfg)
    before_random = evaluator.loss(random)
    measured: list[Gauntlet | None] = [None] * len(tasks)
    raw = [0.0] * len(tasks)
    codes = [r.code for r in received]
    reasons = [r.reason for r in received]
    _copies_by_id(uids, received, codes, reasons)
    for i, (task, got) in enumerate(zip(tasks, received, strict=True)):
        if got.update is None:
            continue
        assigned = encode(base, shards.load(task.shard, base.cfg.resolution))
        measured[i] = evaluator.gauntlet(
            got.update.dense(), assigned, random, before_random=before_random
        )
        raw[i] = measured[i].raw_score(cfg)
        if raw[i] <= 0:
            codes[i] = ShardCode.NO_GAIN
            reasons[i] = (
                f"no gain on its shard (assigned {measured[i].gain_assigned:+.4f}, "
                f"random {measured[i].gain_random:+.4f})"
            )
    present = {i: r.update for i, r in enumerate(received) if r.update is not None}
    copies = find_copies(
        present,
        {i: g.gain_assigned for i, g in enumerate(measured) if g is not None},
        {i: received[i].stored_at for i in present},
        cfg.copy_overlap,
    )
    for copier, author in copies.items():
        raw[copier] = 0.0
        codes[copier] = ShardCode.COPY
        reasons[copier] = f"copy: its update overlaps uid {uids[author]}'s, stored earlier"
    return measured, raw, codes, reasons


def _copies_by_id(
    uids: list[int], received: list[Received], codes: list[ShardCode], reasons: list[str]
) -> None:
    """Answers naming an object another miner of the round answered with, that is not
    under their own prefix, are copies of it (marked in ``codes`` and ``reasons``)."""
    owner = {r.update_id: i for i, r in enumerate(received) if r.update is not None}
    for i, r in enumerate(received):
        author = owner.get(r.update_id) if r.update is None else None
        if author is not None and author != i:
            codes[i] = ShardCode.COPY
            reasons[i] = f"copy: names uid {uids[author]}'s update"


class ShardRounds:
    """The validator's training-shard state: head checkpoint, momentum, round clock."""

    def __init__(
        self,
        config: ShardConfig,
        wallet: Any,
        store: ObjectStore,
        head_id: str | None = None,
        rng: np.random.Generator | None = None,
        registry: ModelRegistry | None = None,
        compute: Executor | None = None,
    ) -> None:
        self.config, self.wallet, self.store = config, wallet, store
        # Model work (loading, scoring, the outer step) runs here; store reads (pinning
        # updates as answers arrive) on the default threads, so a slow read never
        # holds up scoring and scoring never holds up pinning.
        self.compute = compute
        self.rng = rng or np.random.default_rng()
        self.registry = registry or ModelRegistry()
        self.outer = OuterNesterov(config.outer_lr, config.outer_momentum)
        self.head_id = head_id or default_model_id()
        self.head: WorldModel | None = None
        self.last_block: int | None = None
        self.heldout: Latents | None = None

    def due(self, block: int) -> bool:
        return self.last_block is None or block - self.last_block >= self.config.interval_blocks

    def _ensure_head(self) -> WorldModel:
        """Load the head (shipped, or from the store) and make sure the store has it."""
        if self.head is None:
            try:
                self.head = checkpoints.fetch(self.store, self.head_id, self.registry)
            except (StoreError, CheckpointError) as error:
                if self.head_id == default_model_id():
                    raise
                log.warning("head %s unavailable (%s); restarting from the shipped model",
                            self.head_id[:12], error)  # fmt: skip
                self.head_id = default_model_id()
                self.head = checkpoints.fetch(self.store, self.head_id, self.registry)
            self._publish_head()
            self.heldout = encode(
                self.head,
                shards.load(
                    ShardData(
                        seed=HELDOUT_SEED_OFFSET,
                        n_episodes=self.config.heldout_episodes,
                        episode_len=self.config.episode_len,
                    ),
                    self.head.cfg.resolution,
                ),
            )
        else:
            self._publish_head()
        return self.head

    def _publish_head(self) -> None:
        """Make sure the store holds the head intact (miners fetch it from there): an
        object that went missing or was tampered with is published again."""
        assert self.head is not None
        try:
            self.store.get(self.head_id, MAX_CHECKPOINT_BYTES)
        except StoreError as error:
            if not isinstance(error, ObjectMissing):
                log.warning(
                    "head %s in the store: %s; publishing it again", self.head_id[:12], error
                )
            checkpoints.publish(self.store, self.head)

    async def run(
        self,
        http: httpx.AsyncClient,
        targets: list[MinerTarget],
        block: int,
    ) -> ShardRoundReport | None:
        """One round over ``targets`` (a sample of them); None when there is no one."""
        self.last_block = block
        if not targets:
            return None
        if len(targets) > self.config.sample_size:
            picks = self.rng.choice(len(targets), self.config.sample_size, replace=False)
            targets = [targets[i] for i in sorted(picks)]
        loop = asyncio.get_running_loop()
        base = await loop.run_in_executor(self.compute, self._ensure_head)
        base_id = self.head_id
        n = params.count(base)
        round_id = shards.new_round_id()
        tasks = make_tasks(round_id, base_id, targets, self.config)

        deadline = time.monotonic() + self.config.deadline_ms / 1000

        async def ask(target: MinerTarget, task: ShardTask) -> tuple[QueryOutcome, Received]:
            outcome = await query_shard(http, self.wallet, target.axon, target.hotkey, task)
            # Pinned now, as the answer arrives: what is scored is what was there then;
            # within what is left of the round's deadline (at least a second), so a slow
            # store cannot hold the round either.
            reading = asyncio.to_thread(receive, self.store, target.hotkey, task, outcome, n)
            try:
                got = await asyncio.wait_for(reading, max(1.0, deadline - time.monotonic()))
            except TimeoutError:
                got = Received(ShardCode.STORE, "the store did not serve the update in time")
            return outcome, got

        started = deadline - self.config.deadline_ms / 1000
        answers = await asyncio.gather(
            *(ask(t, task) for t, task in zip(targets, tasks, strict=True))
        )
        log.info(
            "shard round %s: %d miners asked in %.2f s (deadline %.2f s)",
            round_id[:12],
            len(targets),
            time.monotonic() - started,
            self.config.deadline_ms / 1000,
        )
        outcomes = [o for o, _ in answers]
        received = [r for _, r in answers]
        return await loop.run_in_executor(
            self.compute, self._finish, round_id, block, base, targets, tasks, outcomes, received
        )

    def _finish(
        self,
        round_id: str,
        block: int,
        base: WorldModel,
        targets: list[MinerTarget],
        tasks: list[ShardTask],
        outcomes: list[QueryOutcome],
        received: list[Received],
    ) -> ShardRoundReport:
        cfg = self.config
        control = shards.unassigned(
            self.rng, [t.shard for t in tasks], cfg.random_episodes, cfg.episode_len
        )
        random = encode(base, shards.load(control, base.cfg.resolution))
        measured, raw, codes, reasons = score_updates(
            base, [t.uid for t in targets], tasks, received, random, cfg.gauntlet
        )
        scores = round_scores(dict(enumerate(raw)))
        ranked = sorted((i for i in range(len(tasks)) if raw[i] > 0), key=lambda i: -raw[i])
        chosen = ranked[: cfg.top_n]
        assert self.heldout is not None
        before = eval_loss(base, self.heldout, cfg.gauntlet.seq_len)
        after = before
        if chosen:
            theta = self.outer.step(
                params.flatten(base), [received[i].update.dense() for i in chosen]
            )
            head = params.with_weights(base, theta)
            self.head_id = checkpoints.publish(self.store, head)
            self.store.set_ref(HEAD_REF, self.head_id)
            self.head = head
            after = eval_loss(head, self.heldout, cfg.gauntlet.seq_len)
        report = ShardRoundReport(
            round_id=round_id,
            block=block,
            base_id=tasks[0].base_id,
            head_id=self.head_id,
            outcomes=[
                ShardOutcome(
                    t,
                    task,
                    codes[i],
                    reasons[i],
                    raw[i],
                    scores[i],
                    measured[i],
                    outcomes[i].result,
                    outcomes[i].latency_s,
                )
                for i, (t, task) in enumerate(zip(targets, tasks, strict=True))
            ],
            aggregated=[targets[i].uid for i in chosen],
            heldout_before=before,
            heldout_after=after,
        )
        for o in report.outcomes:
            log.info("shard uid %d score %.3f: %s", o.target.uid, o.score, o.reason)
        log.info(
            "shard round %s: %d of %d updates aggregated, head %s, held-out loss %.6f -> %.6f",
            round_id[:12],
            len(chosen),
            len(tasks),
            self.head_id[:12],
            before,
            after,
        )
        return report


def record_round(
    report: ShardRoundReport,
    scores: MovingScores,
    usage: Any,
    netuid: int,
    validator_hotkey: str,
) -> None:
    """Fold a round into the ``train_shard`` moving scores and the usage stream."""
    now = time.time()
    for o in report.outcomes:
        if o.code is ShardCode.COPY:
            scores.forfeit(o.target.uid, o.target.hotkey)
        else:
            scores.update(o.target.uid, o.target.hotkey, o.score)
        result = o.result if isinstance(o.result, ShardResult) else None
        usage.record(
            UsageEvent(
                request_id=o.task.task_id,
                time=now,
                netuid=netuid,
                validator_hotkey=validator_hotkey,
                miner_uid=o.target.uid,
                miner_hotkey=o.target.hotkey,
                workload="train_shard",
                units=result.samples if (result is not None and o.accepted) else 0,
                device_seconds=device_seconds(
                    result.compute_ms / 1000 if result is not None else 0.0, o.latency_s
                ),
                origin="synthetic",
                verified=o.accepted,
                reason=o.reason[:200],
            )
        )
