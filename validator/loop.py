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
* ``SetWeights`` refused (rate limit, chain error) -> retried with backoff, then
  tried again at the next opportunity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
from wmnet.validator.miner_client import query_capacity
from wmnet.validator.outcomes import usage_event
from wmnet.validator.penalties import Penalty
from wmnet.validator.rollouts import RolloutRoundReport, ask_and_bind, draw_tasks
from wmnet.validator.shards import ShardRoundReport, ShardRounds, record_round
from wmnet.validator.state import ValidatorState, load_state, save_state
from wmnet.validator.targets import MinerTarget, miner_targets
from wmnet.validator.tempo import Tempo
from wmnet.validator.usage import UsageSink
from wmnet.validator.weights import WeightOutcome, set_weights
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
        audit_queue: AuditQueue | None = None,
    ) -> None:
        self.config = config
        self.wallet = wallet
        self.model = model
        self.model_id = model_id
        self.usage = usage
        self.hotkey = wallet.hotkey.ss58_address
        self.rng = np.random.default_rng(config.seed)
        self.state: ValidatorState = load_state(self.state_path, config.netuid, config.score_alpha)
        self.capacity: dict[str, tuple[int, CapacityReport | None]] = {}
        self.status = LoopStatus()
        self.graph: bt.Metagraph | None = None  # the last metagraph read
        # After a refusal, wait this block before asking again: a rate-limited validator
        # that retried every round would only collect more refusals.
        self._weights_retry_block = 0
        self.tempo = Tempo(self.state)  # work since the last epoch, penalties
        self.auditor = Auditor(
            config.audit,
            audit_queue or InProcessAuditQueue(model),
            self.state.penalties,
            usage,
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
        reports = await asyncio.gather(
            *(query_capacity(http, self.wallet, t.axon, t.hotkey) for t in stale)
        )
        for t, report in zip(stale, reports, strict=True):
            self.capacity[t.hotkey] = (block, report)
            if report is not None and report.hotkey == t.hotkey:
                record = CapacityRecord(netuid=self.config.netuid, miner_uid=t.uid, report=report)
                self.usage.record_capacity(record)

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
        await self._capacities(http, targets, graph.block)
        offered = {hk: report for hk, (_, report) in self.capacity.items()}
        tasks = draw_tasks(
            self.rng, self.config.policy, self.model_id, targets, offered, self.config.precisions
        )
        deliveries = await asyncio.gather(
            *(
                ask_and_bind(http, self.wallet, self.model, t, task)
                for t, task in zip(targets, tasks, strict=True)
            )
        )
        report = RolloutRoundReport(block=graph.block, deliveries=list(deliveries))
        now = time.time()
        for d in deliveries:
            self.tempo.add(d)
            if d.outcome.accepted and d.result is not None:
                job = self.auditor.draw_probe(d.outcome, d.task, d.result)
                if job is not None:
                    report.audits.append(job)
            self.usage.record(
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
        return report

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
        """A training-shard round (``wmnet.validator.shards``); None when none ran."""
        assert self.shards is not None
        self.state.shard_scores.sync({n.uid: n.hotkey for n in graph.neurons})
        try:
            report = await self.shards.run(http, miner_targets(graph, self.hotkey), graph.block)
        except (StoreError, CheckpointError, OSError) as exc:  # the store is down: next time
            log.warning("shard round skipped: %s: %s", type(exc).__name__, exc)
            return None
        if report is None:
            return None
        record_round(report, self.state.shard_scores, self.usage, self.config.netuid, self.hotkey)
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
        self.usage.record_attribution(
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
            self._record_attribution(graph, weights, by_workload)
            log.info("weights set at block %d: %s", graph.block, weights)
        else:
            retry_in = max(1, (self.config.weights_interval_blocks or graph.tempo) // 4)
            self._weights_retry_block = graph.block + retry_in
            log.warning(
                "weights not set at block %d (%s); next try in %d blocks",
                graph.block,
                outcome.message,
                retry_in,
            )

    # --- the loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, max_rounds: int | None = None) -> None:
        """Run until ``stop`` is set (or ``max_rounds`` rounds are done); a chain that
        is down at start or restarts midway is waited for, not fatal."""
        stop = stop or asyncio.Event()
        async with httpx.AsyncClient() as http:
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
