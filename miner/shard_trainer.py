"""The miner's shard trainer: ``POST /v1/shard`` tasks on a worker thread of their own.

Training runs on one dedicated thread, not the rollout scheduler's: a round of inner
steps takes seconds to minutes, and rollouts keep flowing through their own device
thread meanwhile (both share the device). At most one task trains; ``queue_limit``
more may wait, anything beyond is refused at once with 503 ``overloaded``.

One task, in the order the rollout handler uses (every check, then work):

1. parse the body the gate verified (400 bad JSON/version/workload, 422 bad fields);
2. on the worker thread: drop the task if its deadline passed while it waited;
   the base checkpoint from the local registry or the object store, verified by hash
   (404 ``unknown_model`` when neither has it); the shard must fit the model (400);
3. :func:`wmnet.training.worker.train_shard` with this validator's error-feedback
   buffer (one per validator hotkey: rounds of different validators never mix);
4. seal the update in an envelope signed by this miner's hotkey
   (``wmnet.training.envelope``), put it under this miner's own prefix of the object
   store (write-once, ``updates/<hotkey>/<sha256>``); answer a ``ShardResult`` naming it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from wmnet.miner.errors import MinerError, invalid, overloaded, parse_body
from wmnet.protocol.shard import ShardResult, ShardTask
from wmnet.protocol.spec import SHARD_PATH
from wmnet.training import checkpoints, params
from wmnet.training.compress import ErrorFeedback
from wmnet.training.envelope import Signer, seal
from wmnet.training.store import AuthorStore, StoreError
from wmnet.training.worker import new_feedback, train_shard
from wmnet.worldmodel.checkpoint import CheckpointError, ModelRegistry
from wmnet.worldmodel.model import WorldModel

log = logging.getLogger("wmnet.miner.shards")

Honest = Callable[[], Awaitable[ShardResult]]


class ShardCheat(Protocol):
    name: str

    async def answer(self, task: ShardTask, trainer: ShardTrainer, honest: Honest) -> ShardResult:
        """The cheating answer to ``task``; ``honest()`` trains for real if wanted."""
        ...


def parse_shard_task(raw: bytes) -> ShardTask:
    """The task in ``raw``; 400 for bad JSON, version or workload, 422 for bad fields."""
    return parse_body(raw, ShardTask, SHARD_PATH, "train_shard")


class ShardTrainer:
    def __init__(
        self,
        store: AuthorStore,
        signer: Signer,
        registry: ModelRegistry,
        device: str = "cpu",
        device_label: str = "cpu",
        queue_limit: int = 2,
        cheat: ShardCheat | None = None,
        cached_bases: int = 2,
    ) -> None:
        self.store, self.signer, self.registry = store, signer, registry
        self.device, self.device_label = device, device_label
        self.queue_limit, self.cheat = queue_limit, cheat
        self._bases: OrderedDict[str, WorldModel] = OrderedDict()
        self._cached_bases = cached_bases
        self._feedback: dict[str, ErrorFeedback] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wmnet-miner-shard")
        self._lock = threading.Lock()
        self._pending = 0

    @property
    def pending(self) -> int:
        return self._pending

    async def answer(self, task: ShardTask, validator_hotkey: str) -> ShardResult:
        """The answer to ``task`` (honest, or the configured cheat's)."""

        def honest() -> Awaitable[ShardResult]:
            return self.run(task, validator_hotkey)

        if self.cheat is not None:
            return await self.cheat.answer(task, self, honest)
        return await self.run(task, validator_hotkey)

    async def run(self, task: ShardTask, validator_hotkey: str) -> ShardResult:
        """Queue ``task`` on the worker thread; its result, or a MinerError."""
        with self._lock:
            if self._pending > self.queue_limit:
                raise overloaded(f"{self._pending} training tasks are queued here", 30.0)
            self._pending += 1
        deadline = time.monotonic() + task.deadline_ms / 1000
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, self._work, task, validator_hotkey, deadline
            )
        finally:
            with self._lock:
                self._pending -= 1

    def base(self, base_id: str) -> WorldModel:
        """The base checkpoint (cached), verified by hash; 404 when it cannot be had."""
        if base_id in self._bases:
            self._bases.move_to_end(base_id)
            return self._bases[base_id]
        try:
            model = checkpoints.fetch(self.store, base_id, self.registry, self.device)
        except (CheckpointError, StoreError) as error:
            raise MinerError(404, "unknown_model", f"base checkpoint {base_id}: {error}") from None
        self._bases[base_id] = model
        while len(self._bases) > self._cached_bases:
            self._bases.popitem(last=False)
        return model

    def _work(self, task: ShardTask, validator_hotkey: str, deadline: float) -> ShardResult:
        if time.monotonic() > deadline:
            raise overloaded("the deadline passed while the task was queued", 1.0)
        base = self.base(task.base_id)
        if task.shard.env != base.cfg.env:
            raise invalid(f"base {task.base_id[:12]} was trained on {base.cfg.env!r}")
        if task.hyper.seq_len > task.shard.episode_len + 1:
            raise invalid("hyper.seq_len is longer than the shard's episodes")
        feedback = self._feedback.get(validator_hotkey)
        if feedback is None or feedback.buffer.size != params.count(base):
            feedback = self._feedback[validator_hotkey] = new_feedback(base, task.hyper)
        start = time.perf_counter()
        out = train_shard(base, task.shard, task.hyper, feedback)
        sealed = seal(out.data, task.task_id, self.signer)
        update_id = self.store.put_update(sealed)
        compute_ms = (time.perf_counter() - start) * 1000
        log.info(
            "round %s: %d steps on shard %d in %.1f s, update %s (%d bytes)",
            task.round_id[:12],
            task.hyper.inner_steps,
            task.shard.seed,
            compute_ms / 1000,
            update_id[:12],
            len(sealed),
        )
        losses = out.inner.losses
        return self.result(task, update_id, len(sealed), out.inner.samples, compute_ms, losses)

    def result(
        self,
        task: ShardTask,
        update_id: str,
        nbytes: int,
        samples: int,
        compute_ms: float,
        losses: list[float] | None = None,
    ) -> ShardResult:
        first = losses[0] if losses and math.isfinite(losses[0]) else None
        last = losses[-1] if losses and math.isfinite(losses[-1]) else None
        return ShardResult(
            task_id=task.task_id,
            round_id=task.round_id,
            base_id=task.base_id,
            update_id=update_id,
            update_bytes=nbytes,
            samples=samples,
            inner_steps=task.hyper.inner_steps,
            compute_ms=round(compute_ms, 3),
            loss_first=first,
            loss_last=last,
            device=self.device_label,
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
