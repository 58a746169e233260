"""The validator's loop: sync, ask, bind, audit, tally, and set weights once per tempo.

Two workloads: a rollout round every turn (unless its weight share is 0;
``wmnet.validator.rollouts``), and, with an object store configured, a training-shard
round every ``shards.interval_blocks`` blocks (``wmnet.validator.shards``). Rollout
answers are bound cheaply and a sample is audited (``wmnet.validator.auditor``); their
work is tallied per tempo and folded into the moving scores when the chain's epoch
moves on (``close_tempo``). Each workload has its own moving scores; the weights blend
them (``wmnet.validator.blend``), and a miner inside a penalty window gets weight 0.

Each step is a small function; :class:`ValidatorLoop` only keeps the state between
them (the metagraph it last saw, capacity reports, moving scores, penalties) and makes
sure that nothing a miner or the chain does ends the loop:

* chain unreachable (a restart) -> log, keep the last metagraph, retry next turn;
* a miner times out, dies mid-request, answers garbage -> that answer scores 0;
* ``SetWeights`` refused -> tried again once the chain allows it (a rate limit says
  how many blocks to wait) or after a backoff in blocks; never in the same turn, so
  weight retries never take a round's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import bittensor as bt
import httpx
import numpy as np

from wmnet.localnet.network import client_for
from wmnet.protocol.audit import AuditJob, AuditVerdict
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.usage import CapacityRecord, WeightAttribution
from wmnet.training.store import StoreError, open_store
from wmnet.validator.audit_queue import AuditQueue, InProcessAuditQueue
from wmnet.validator.auditor import Auditor
from wmnet.validator.blend import blend
from wmnet.validator.config import ValidatorConfig
from wmnet.validator.miner_client import miner_http_client, query_capacity
from wmnet.validator.outcomes import usage_event
from wmnet.validator.penalties import Penalty
from wmnet.validator.rollouts import RolloutRoundReport, ask_and_bind, draw_tasks
from wmnet.validator.shards import ShardRoundReport, ShardRounds, record_round
from wmnet.validator.state import ValidatorState, load_state, save_state
from wmnet.validator.targets import MinerTarget, miner_targets
from wmnet.validator.tasks import TaskDrawer, draw_task
from wmnet.validator.tempo import Tempo
from wmnet.validator.usage import GuardedSink, UsageSink
from wmnet.validator.weights import WeightOutcome, WeightRefusal, set_weights
from wmnet.worldmodel.checkpoint import CheckpointError
from wmnet.worldmodel.model import WorldModel

log = logging.getLogger(__name__)


@dataclass
class LoopStatus:
    """What the loop has done so far (for logs, tests and the demo's display)."""

    rounds: int = 0
    chain_errors: int = 0
    weights: list[WeightOutcome] = field(default_factory=list)
    last_round: RolloutRoundReport | None = None
    shard_rounds: int = 0
    last_shard_round: ShardRoundReport | None = None
    tempos: int = 0  # tempos closed (work folded into the moving scores)


class ValidatorLoop:
    def __init__(
        self,
        config: ValidatorConfig,
        wallet: Any,
        model: WorldModel,
        model_id: str,
        usage: UsageSink,
        draw: TaskDrawer = draw_task,
        audit_queue: AuditQueue | None = None,
    ) -> None:
        self.config = config
        self.draw = draw  # where the round's tasks come from (random, see tasks.py)
        self.wallet = wallet
        self.model = model
        self.model_id = model_id
        self.usage = usage
        # Every record goes through this: a store failure (the ledger down, a disk
        # full) is logged and counted (sink.failures), never fatal to the loop.
        self.sink = GuardedSink(usage)
        self.hotkey = wallet.hotkey.ss58_address
        self.rng = np.random.default_rng(config.seed)
        self.state: ValidatorState = load_state(self.state_path, config.netuid, config.score_alpha)
        self.capacity: dict[str, tuple[int, CapacityReport | None]] = {}
        self.status = LoopStatus()
        self.graph: bt.Metagraph | None = None  # the last metagraph read
        # After a refusal, wait for this block before asking again: a rate-limited
        # validator that retried every round would only collect more refusals.
        self._weights_retry_block = 0
        self._weights_refusals = 0  # in a row, for the backoff
        self._weights_warned_block: int | None = None  # at most one warning a tempo
        # All model work (audits, a customer's full check, shard scoring) on one thread
        # of its own: the same torch state every time, and no per-thread allocator
        # caches multiplying the validator's memory as the default pool's threads take
        # turns.
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wmnet-validator")
        self.tempo = Tempo(self.state)  # work since the last epoch, penalties
        self.auditor = Auditor(
            config.audit,
            audit_queue or InProcessAuditQueue(model, self.compute),
            self.state.penalties,
            self.sink,
            config.netuid,
            self.hotkey,
        )
        self.auditor.listeners.append(self._on_audit)
        self.shards: ShardRounds | None = None
        if config.shards is not None:
            self.shards = ShardRounds(
                config.shards,
                wallet,
                open_store(config.shards.store),
                head_id=self.state.shard_head,
                rng=np.random.default_rng(None if config.seed is None else config.seed + 1),
                compute=self.compute,
            )

    @property
    def state_path(self):
        return self.config.state_path.expanduser()

    # --- one turn -------------------------------------------------------------------

    async def _metagraph(self, client: bt.Client) -> bt.Metagraph | None:
        try:
            return await client.subnets.metagraph(self.config.netuid)
        except Exception as exc:  # the chain restarting, a network blip: try again later
            self.status.chain_errors += 1
            log.warning("metagraph read failed (%s); retrying", type(exc).__name__)
            return None

    async def _capacities(
        self, http: httpx.AsyncClient, targets: list[MinerTarget], block: int
    ) -> None:
        stale = [
            t
            for t in targets
            if t.hotkey not in self.capacity
            or block - self.capacity[t.hotkey][0] >= self.config.capacity_refresh_blocks
        ]
        outcomes = await asyncio.gather(
            *(
                query_capacity(http, self.wallet, t.axon, t.hotkey, self.config.capacity_timeout_s)
                for t in stale
            )
        )
        for t, outcome in zip(stale, outcomes, strict=True):
            report = outcome.result
            self.capacity[t.hotkey] = (block, report)
            if report is None:
                log.info("uid %d capacity refused: %s", t.uid, outcome.text())
                continue
            record = CapacityRecord(netuid=self.config.netuid, miner_uid=t.uid, report=report)
            self.sink.record_capacity(record)

    async def run_round(
        self, http: httpx.AsyncClient, graph: bt.Metagraph
    ) -> RolloutRoundReport | None:
        """One rollout round (``wmnet.validator.rollouts``); None when no one was asked.
        Miners inside a penalty window are not asked: their work is not bought."""
        self.state.scores.sync({n.uid: n.hotkey for n in graph.neurons})
        penalized = self.tempo.penalized(graph)
        targets = [t for t in miner_targets(graph, self.hotkey) if t.uid not in penalized]
        if not targets:
            return None
        if len(targets) > self.config.sample_size:
            picks = self.rng.choice(len(targets), self.config.sample_size, replace=False)
            targets = [targets[i] for i in sorted(picks)]
        started = time.monotonic()
        # A miner's first capacity report is awaited (it says which precisions to ask
        # for); later ones are refreshed beside the rollouts, so a round waits for
        # miners at most max(capacity timeout, task deadline), plus the capacity timeout
        # in a round that meets a miner for the first time.
        new = [t for t in targets if t.hotkey not in self.capacity]
        if new:
            await self._capacities(http, new, graph.block)
        refresh = asyncio.create_task(self._capacities(http, targets, graph.block))
        offered = {hk: report for hk, (_, report) in self.capacity.items()}
        tasks = draw_tasks(
            self.rng,
            self.config.policy,
            self.model_id,
            targets,
            offered,
            self.config.precisions,
            self.draw,
        )
        deliveries = await asyncio.gather(
            *(
                ask_and_bind(http, self.wallet, self.model, t, task)
                for t, task in zip(targets, tasks, strict=True)
            )
        )
        await refresh
        asked_s = time.monotonic() - started
        report = RolloutRoundReport(block=graph.block, deliveries=list(deliveries))
        now = time.time()
        for d in deliveries:
            self.tempo.add(d)
            if d.outcome.accepted and d.result is not None:
                job = self.auditor.draw_probe(d.outcome, d.task, d.result)
                if job is not None:
                    report.audits.append(job)
            self.sink.record(
                usage_event(
                    d.outcome,
                    workload="rollout",
                    origin="synthetic",
                    netuid=self.config.netuid,
                    validator_hotkey=self.hotkey,
                    now=now,
                )
            )
            log.info("uid %d %s", d.outcome.target.uid, d.outcome.text())
        self.auditor.submit(report.audits)
        log.info(
            "round at block %d: %d miners asked in %.2f s (deadline %.2f s), %d audits drawn",
            graph.block,
            len(targets),
            asked_s,
            self.round_deadline_s(first_contact=bool(new)),
            len(report.audits),
        )
        return report

    def round_deadline_s(self, first_contact: bool = False) -> float:
        """The longest a rollout round may wait for miners: the capacity refresh and the
        rollouts side by side, after the first reports of miners met for the first time
        (the binding checks come after; audits run in the background)."""
        both = max(self.config.capacity_timeout_s, self.config.policy.deadline_ms / 1000)
        return both + (self.config.capacity_timeout_s if first_contact else 0.0)

    def _on_audit(self, job: AuditJob, verdict: AuditVerdict, penalty: Penalty | None) -> None:
        """A failed audit: the miner's rollout score and this tempo's work are gone."""
        if penalty is not None:
            self.tempo.forfeit(job.miner_uid, job.miner_hotkey)

    async def close_tempo(self, graph: bt.Metagraph) -> None:
        """The chain's epoch moved on: audit the floor (waited for: a failed audit must
        zero the miner before the next weights), then fold the tempo's work in."""
        await self.auditor.close_tempo()
        self.tempo.fold(graph)
        self.status.tempos += 1
        c = self.auditor.counters
        log.info(
            "tempo closed at block %d: %d audited (%d passed, %d failed), audit cost %s",
            graph.block,
            c.audited,
            c.passed,
            c.failed,
            "n/a" if c.cost_fraction is None else f"{c.cost_fraction:.3f}",
        )

    async def run_shard_round(
        self, http: httpx.AsyncClient, graph: bt.Metagraph
    ) -> ShardRoundReport | None:
        """A training-shard round (``wmnet.validator.shards``); None when none ran.
        Miners inside a penalty window are not asked; a copier (``Reason.COPY``, an
        update another miner made) opens the same penalty window a failed audit does."""
        assert self.shards is not None
        self.state.shard_scores.sync({n.uid: n.hotkey for n in graph.neurons})
        penalized = self.tempo.penalized(graph)
        targets = [t for t in miner_targets(graph, self.hotkey) if t.uid not in penalized]
        try:
            report = await self.shards.run(http, targets, graph.block)
        except (StoreError, CheckpointError, OSError) as exc:  # the store is down: next time
            log.warning("shard round skipped: %s: %s", type(exc).__name__, exc)
            return None
        if report is None:
            return None
        record_round(report, self.state.shard_scores, self.sink, self.config.netuid, self.hotkey)
        for o in report.outcomes:
            if o.reason.fraud:
                self.auditor.penalize(o.target.uid, o.target.hotkey, "train_shard", o.reason)
        self.state.shard_head = report.head_id
        self.state.shard_steps += bool(report.aggregated)
        self.status.shard_rounds += 1
        self.status.last_shard_round = report
        return report

    def _record_attribution(
        self,
        graph: bt.Metagraph,
        weights: dict[int, float],
        by_workload: dict[int, dict[str, float]],
    ) -> None:
        """How much of each miner's weight each workload earned (``blend``)."""
        hotkeys = {n.uid: n.hotkey for n in graph.neurons}
        now = time.time()
        self.sink.record_attribution(
            [
                WeightAttribution(
                    time=now,
                    netuid=self.config.netuid,
                    block=graph.block,
                    validator_hotkey=self.hotkey,
                    miner_uid=uid,
                    miner_hotkey=hotkeys.get(uid, ""),
                    weight=w,
                    by_workload=by_workload[uid],
                )
                for uid, w in sorted(weights.items())
            ]
        )

    def best_miners(self) -> list[MinerTarget]:
        """The gateway's candidates (``Tempo.candidates``)."""
        return [] if self.graph is None else self.tempo.candidates(self.graph, self.hotkey)

    def weights_due(self, graph: bt.Metagraph) -> bool:
        interval = self.config.weights_interval_blocks or graph.tempo
        last = self.state.last_weights_block
        if graph.block < self._weights_retry_block:
            return False
        return last is None or graph.block - last >= interval

    async def maybe_set_weights(self, client: bt.Client, graph: bt.Metagraph) -> None:
        if not self.weights_due(graph):
            return
        weights, by_workload = blend(self.tempo.averages(graph), self.config.shares)
        outcome = await set_weights(client, self.wallet, self.config.netuid, weights)
        self.status.weights.append(outcome)
        if outcome.ok:
            self.state.last_weights = weights
            self.state.last_weights_block = graph.block
            self._weights_refusals = 0
            self._record_attribution(graph, weights, by_workload)
            log.info("weights set at block %d: %s", graph.block, weights)
            return
        self._weights_refusals += 1
        retry_in = self._weights_retry_in(outcome, graph)
        self._weights_retry_block = graph.block + retry_in
        self._log_weights_refusal(outcome, graph, retry_in)

    def _weights_retry_in(self, outcome: WeightOutcome, graph: bt.Metagraph) -> int:
        """Blocks to wait before the next try: what the chain states for a rate limit;
        the next block while no miner has a score; otherwise a backoff that doubles from
        a quarter of the weights interval up to the whole of it."""
        if outcome.refusal == WeightRefusal.RATE_LIMITED and outcome.retry_in_blocks:
            return outcome.retry_in_blocks
        if outcome.refusal == WeightRefusal.NO_SCORES:
            return 1
        interval = self.config.weights_interval_blocks or graph.tempo
        return min(interval, max(1, interval // 4) * 2 ** (self._weights_refusals - 1))

    def _log_weights_refusal(self, outcome: WeightOutcome, graph: bt.Metagraph, wait: int) -> None:
        """One warning a tempo at most: a refusal that repeats is logged at INFO until a
        tempo has passed since the last warning. No scores yet is INFO: normal at start."""
        text = "weights not set at block %d (%s); next try in %d blocks"
        args = (graph.block, outcome.message, wait)
        last = self._weights_warned_block
        if outcome.refusal == WeightRefusal.NO_SCORES:
            (log.info if self._weights_refusals == 1 else log.debug)(text, *args)
            return
        if last is not None and graph.block - last < max(1, graph.tempo):
            log.info(text, *args)
            return
        self._weights_warned_block = graph.block
        log.warning(text, *args)

    # --- the loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, max_rounds: int | None = None) -> None:
        """Run until ``stop`` is set (or ``max_rounds`` rounds are done); a chain that
        is down at start or restarts midway is waited for, not fatal."""
        stop = stop or asyncio.Event()
        async with miner_http_client(max(64, 2 * self.config.sample_size)) as http:
            try:
                while not stop.is_set():
                    try:
                        async with client_for(self.config.network) as client:
                            await self._turns(client, http, stop, max_rounds)
                            return
                    except ConnectionError as exc:  # no chain answers (yet): wait for it
                        self.status.chain_errors += 1
                        log.warning("chain unreachable (%s); retrying", exc)
                        await _sleep_or_stop(stop, self.config.chain_retry_s)
            finally:
                await self.auditor.drain()
                save_state(self.state, self.state_path)

    async def _turns(
        self,
        client: bt.Client,
        http: httpx.AsyncClient,
        stop: asyncio.Event,
        max_rounds: int | None,
    ) -> None:
        while not stop.is_set():
            graph = await self._metagraph(client)
            if graph is not None:
                self.graph = graph
                self.auditor.clock(graph.block, graph.tempo)
                if self.state.tempo_step is None:
                    self.state.tempo_step = graph.last_step
                elif graph.last_step != self.state.tempo_step:
                    await self.close_tempo(graph)
                report = None
                if self.config.shares.get("rollout", 0.0) > 0:
                    report = await self.run_round(http, graph)
                if report is not None:
                    self.status.rounds += 1
                    self.status.last_round = report
                if self.shards is not None and self.shards.due(graph.block):
                    await self.run_shard_round(http, graph)
                await self.maybe_set_weights(client, graph)
                self.state.audits = self.auditor.counters.summary()
                save_state(self.state, self.state_path)
                done = self.status.rounds + self.status.shard_rounds
                if max_rounds is not None and done >= max_rounds:
                    return
            delay = self.config.round_interval_s if graph else self.config.chain_retry_s
            await _sleep_or_stop(stop, delay)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
