"""The validator's loop: sync, ask, verify, score, and set weights once per tempo.

Two workloads: a rollout round every turn (unless its weight share is 0), and, with an
object store configured, a training-shard round every ``shards.interval_blocks``
blocks (``wmnet.validator.shards``). Each has its own moving scores; the weights blend
them (``wmnet.validator.blend``).

Each step is a small function; :class:`ValidatorLoop` only keeps the state between
them (the metagraph it last saw, capacity reports, moving scores) and makes sure that
nothing a miner or the chain does ends the loop:

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
from wmnet.protocol.capacity import CapacityReport
from wmnet.protocol.usage import CapacityRecord, UsageEvent, WeightAttribution
from wmnet.training.store import StoreError, open_store
from wmnet.validator.blend import blend
from wmnet.validator.config import ValidatorConfig
from wmnet.validator.miner_client import (
    QueryOutcome,
    miner_http_client,
    query_capacity,
    query_rollout,
    rollout_cap,
)
from wmnet.validator.scoring import Answer, score_round
from wmnet.validator.shards import ShardRoundReport, ShardRounds, record_round
from wmnet.validator.state import ValidatorState, load_state, save_state
from wmnet.validator.targets import MinerTarget, miner_targets, ranked
from wmnet.validator.tasks import TaskDrawer, draw_task
from wmnet.validator.usage import GuardedSink, UsageSink, device_seconds
from wmnet.validator.verification import Verdict, verify_answers
from wmnet.validator.weights import WeightOutcome, WeightRefusal, set_weights
from wmnet.worldmodel.checkpoint import CheckpointError
from wmnet.worldmodel.model import WorldModel

log = logging.getLogger(__name__)


@dataclass
class RoundReport:
    block: int
    answers: list[tuple[MinerTarget, str, bool]]  # (miner, reason, verified)
    scores: dict[int, float]


@dataclass
class LoopStatus:
    """What the loop has done so far (for logs, tests and the demo's display)."""

    rounds: int = 0
    chain_errors: int = 0
    weights: list[WeightOutcome] = field(default_factory=list)
    last_round: RoundReport | None = None
    shard_rounds: int = 0
    last_shard_round: ShardRoundReport | None = None


def choose_precision(
    rng: np.random.Generator, offered: CapacityReport | None, allowed: tuple[str, ...]
) -> str:
    """A precision both sides accept (a miner with no valid report is asked for fp32)."""
    if offered is None:
        return "fp32"
    options = [p for p in allowed if p in offered.precisions]
    return str(rng.choice(options)) if options else "fp32"


class ValidatorLoop:
    def __init__(
        self,
        config: ValidatorConfig,
        wallet: Any,
        model: WorldModel,
        model_id: str,
        usage: UsageSink,
        draw: TaskDrawer = draw_task,
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
        # All model work (verification, shard scoring) on one thread of its own: the
        # same torch state every time, and no per-thread allocator caches multiplying
        # the validator's memory as the default pool's threads take turns.
        self.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wmnet-validator")
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
                log.info("uid %d capacity refused: %s", t.uid, outcome.reason)
                continue
            record = CapacityRecord(netuid=self.config.netuid, miner_uid=t.uid, report=report)
            self.sink.record_capacity(record)

    async def run_round(self, http: httpx.AsyncClient, graph: bt.Metagraph) -> RoundReport | None:
        targets = miner_targets(graph, self.hotkey)
        self.state.scores.sync({n.uid: n.hotkey for n in graph.neurons})
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
        tasks = [
            self.draw(
                self.rng,
                self.config.policy,
                self.model_id,
                choose_precision(
                    self.rng, self.capacity.get(t.hotkey, (0, None))[1], self.config.precisions
                ),
            )
            for t in targets
        ]
        cfg = self.model.cfg
        latent = (cfg.latent_channels, cfg.grid, cfg.grid)
        outcomes: list[QueryOutcome] = await asyncio.gather(
            *(
                query_rollout(
                    http,
                    self.wallet,
                    t.axon,
                    t.hotkey,
                    task,
                    max_bytes=rollout_cap(task, latent, cfg.resolution),
                )
                for t, task in zip(targets, tasks, strict=True)
            )
        )
        await refresh
        asked_s = time.monotonic() - started
        answered = [
            (i, (tasks[i], o.result)) for i, o in enumerate(outcomes) if o.result is not None
        ]
        verdicts: list[Verdict] = [Verdict(False, o.reason) for o in outcomes]
        if answered:
            checked = await asyncio.get_running_loop().run_in_executor(
                self.compute, verify_answers, self.model, [p for _, p in answered]
            )
            for (i, _), verdict in zip(answered, checked, strict=True):
                verdicts[i] = verdict
        answers = [
            Answer(t.uid, t.hotkey, v.verified, task.horizon, o.latency_s, task.deadline_ms / 1000)
            for t, task, o, v in zip(targets, tasks, outcomes, verdicts, strict=True)
        ]
        scores = score_round(answers)
        for t in targets:
            self.state.scores.update(t.uid, t.hotkey, scores[t.uid])
        self._record_usage(targets, tasks, outcomes, verdicts)
        report = RoundReport(
            block=graph.block,
            answers=[(t, v.reason, v.verified) for t, v in zip(targets, verdicts, strict=True)],
            scores=scores,
        )
        for t, v in zip(targets, verdicts, strict=True):
            log.info("uid %d %s: %s", t.uid, "verified" if v.verified else "rejected", v.reason)
        log.info(
            "round at block %d: %d miners asked in %.2f s (deadline %.2f s), %.2f s in all",
            graph.block,
            len(targets),
            asked_s,
            self.round_deadline_s(first_contact=bool(new)),
            time.monotonic() - started,
        )
        return report

    def round_deadline_s(self, first_contact: bool = False) -> float:
        """The longest a rollout round may wait for miners: the capacity refresh and the
        rollouts side by side, after the first reports of miners met for the first time
        (verification comes after)."""
        both = max(self.config.capacity_timeout_s, self.config.policy.deadline_ms / 1000)
        return both + (self.config.capacity_timeout_s if first_contact else 0.0)

    def _record_usage(self, targets, tasks, outcomes, verdicts) -> None:
        now = time.time()
        for t, task, o, v in zip(targets, tasks, outcomes, verdicts, strict=True):
            self.sink.record(
                UsageEvent(
                    request_id=task.task_id,
                    time=now,
                    netuid=self.config.netuid,
                    validator_hotkey=self.hotkey,
                    miner_uid=t.uid,
                    miner_hotkey=t.hotkey,
                    workload="rollout",
                    units=task.horizon if v.verified else 0,
                    device_seconds=device_seconds(
                        o.result.timing.compute_ms / 1000 if o.result is not None else 0.0,
                        o.latency_s,
                    ),
                    origin="synthetic",
                    verified=v.verified,
                    reason=v.reason,
                )
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
        record_round(report, self.state.shard_scores, self.sink, self.config.netuid, self.hotkey)
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
        """Miners with a positive moving score, best first (the gateway's candidates)."""
        if self.graph is None:
            return []
        return ranked(miner_targets(self.graph, self.hotkey), self.state.scores.scores)

    def weights_due(self, graph: bt.Metagraph) -> bool:
        interval = self.config.weights_interval_blocks or graph.tempo
        last = self.state.last_weights_block
        if graph.block < self._weights_retry_block:
            return False
        return last is None or graph.block - last >= interval

    async def maybe_set_weights(self, client: bt.Client, graph: bt.Metagraph) -> None:
        if not self.weights_due(graph):
            return
        averages = {"rollout": self.state.scores, "train_shard": self.state.shard_scores}
        weights, by_workload = blend(averages, self.config.shares)
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
            while not stop.is_set():
                try:
                    async with client_for(self.config.network) as client:
                        await self._turns(client, http, stop, max_rounds)
                        return
                except ConnectionError as exc:  # no chain answers (yet): wait for it
                    self.status.chain_errors += 1
                    log.warning("chain unreachable (%s); retrying", exc)
                    await _sleep_or_stop(stop, self.config.chain_retry_s)

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
                report = None
                if self.config.shares.get("rollout", 0.0) > 0:
                    report = await self.run_round(http, graph)
                if report is not None:
                    self.status.rounds += 1
                    self.status.last_round = report
                if self.shards is not None and self.shards.due(graph.block):
                    await self.run_shard_round(http, graph)
                await self.maybe_set_weights(client, graph)
                save_state(self.state, self.state_path)
                done = self.status.rounds + self.status.shard_rounds
                if max_rounds is not None and done >= max_rounds:
                    return
            delay = self.config.round_interval_s if graph else self.config.chain_retry_s
            await _sleep_or_stop(stop, delay)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
