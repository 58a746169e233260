"""The batching scheduler: a bounded queue, earliest deadline first, one device thread.

* Admission (on the event loop): a full queue, or a task whose estimated finish lies
  past its deadline, is refused at once with 503 ``overloaded`` and a ``Retry-After``
  estimate; nothing waits in a queue it cannot leave in time.
* Dispatch (the worker thread): take the queued task with the earliest deadline, then
  every queued task compatible with it (same :class:`~wmnet.miner.engine.BatchKey`),
  in deadline order, up to ``max_batch``; run them as one batch. A task that can no
  longer finish by its deadline, or whose caller went away, is dropped before it costs
  device time. A lone task waits up to ``batch_wait_s`` for company.
* The model runs in this one thread, so the event loop (auth, parsing, health) never
  waits on the device; results come back through the caller's asyncio future.

Cost estimates come from a moving average of measured seconds per predicted step
(seeded by the engine's warm-up run), the same for every batch size: an estimate that
only has to tell "seconds" from "minutes" for admission and Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from wmnet.miner.engine import BatchKey, Output, Prepared
from wmnet.miner.errors import MinerError, overloaded

log = logging.getLogger("wmnet.miner.scheduler")

RunBatch = Callable[[BatchKey, list[Prepared]], list[Output]]


@dataclass(frozen=True)
class Done:
    """A computed task and where its time went."""

    output: Output
    queue_ms: float
    compute_ms: float
    batch_size: int


@dataclass(eq=False)
class _Job:
    prepared: Prepared
    deadline: float  # time.monotonic() by which the answer must be ready
    enqueued: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    seq: int = 0

    def order(self) -> tuple[float, int]:
        return (self.deadline, self.seq)


class BusyMeter:
    """Share of the last ``window_s`` seconds the device spent computing."""

    def __init__(self, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.window_s, self._clock = window_s, clock
        self._spans: deque[tuple[float, float]] = deque()
        self._since: float | None = None  # start of the batch running now
        self._lock = threading.Lock()

    def begin(self) -> None:
        with self._lock:
            self._since = self._clock()

    def end(self) -> None:
        with self._lock:
            if self._since is not None:
                self._spans.append((self._since, self._clock()))
            self._since = None

    def fraction(self) -> float:
        now = self._clock()
        start = now - self.window_s
        with self._lock:
            while self._spans and self._spans[0][1] <= start:
                self._spans.popleft()
            busy = sum(min(b, now) - max(a, start) for a, b in self._spans)
            if self._since is not None:
                busy += now - max(self._since, start)
        return min(1.0, max(0.0, busy / self.window_s))


@dataclass
class CostModel:
    """Seconds per predicted step, as an exponential moving average of batches run."""

    per_step_s: float = 0.01
    alpha: float = 0.2

    def cost(self, horizon: int) -> float:
        return self.per_step_s * horizon

    def update(self, horizon: int, seconds: float) -> None:
        sample = seconds / max(1, horizon)
        self.per_step_s = (1 - self.alpha) * self.per_step_s + self.alpha * sample


@dataclass
class Scheduler:
    run_batch: RunBatch
    max_batch: int = 8
    queue_limit: int = 64
    batch_wait_s: float = 0.002
    cost: CostModel = field(default_factory=CostModel)
    busy: BusyMeter = field(default_factory=BusyMeter)
    on_batch: Callable[[int, float], None] | None = None  # (batch size, seconds)

    def __post_init__(self) -> None:
        self._queue: list[_Job] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._running = 0
        self._running_until = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- the event loop's side ---------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return self._running

    async def submit(self, prepared: Prepared, deadline_s: float) -> Done:
        """Queue a task; its result, or MinerError 503 when it cannot be served in time."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        deadline = now + deadline_s
        with self._cond:
            if self._stopping:
                raise overloaded("the miner is shutting down", 5.0)
            if len(self._queue) >= self.queue_limit:
                raise overloaded(
                    f"queue full ({self.queue_limit} tasks waiting)", self._drain_s(now)
                )
            finish = now + self._wait_s(now, deadline) + self.cost.cost(prepared.key.horizon)
            if finish > deadline:
                raise overloaded(
                    f"cannot finish within the deadline (about {finish - now:.2f} s needed)",
                    self._drain_s(now),
                )
            job = _Job(prepared, deadline, now, loop, loop.create_future(), next(self._seq))
            self._queue.append(job)
            self._cond.notify()
        # Cancelling this await (the caller went away) cancels the future; the worker
        # then skips the job instead of computing it.
        return await job.future

    def _wait_s(self, now: float, deadline: float) -> float:
        """Estimated wait before a task with ``deadline`` starts (EDF: only earlier ones)."""
        groups: dict[BatchKey, int] = {}
        for job in self._queue:
            if job.deadline <= deadline:
                groups[job.prepared.key] = groups.get(job.prepared.key, 0) + 1
        ahead = sum(
            math.ceil(n / self.max_batch) * self.cost.cost(k.horizon) for k, n in groups.items()
        )
        return max(0.0, self._running_until - now) + ahead

    def _drain_s(self, now: float) -> float:
        return max(0.1, self._wait_s(now, math.inf))

    # --- the worker thread ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name="wmnet-miner-device", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the running batch, refuse what is queued, and end the worker."""
        with self._cond:
            self._stopping = True
            left, self._queue = self._queue, []
            self._cond.notify_all()
        for job in left:
            _settle(job, overloaded("the miner is shutting down", 5.0))
        if self._thread is not None:
            self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                batch = self._next_batch()
                if batch is None:
                    return
                key = batch[0].prepared.key
                self._running = len(batch)
                self._running_until = time.monotonic() + self.cost.cost(key.horizon)
            self._run(key, batch)
            with self._cond:
                self._running, self._running_until = 0, 0.0

    def _next_batch(self) -> list[_Job] | None:
        """Block until a batch is due (holding the condition's lock); None when stopping."""
        while True:
            if self._stopping:
                return None
            self._drop_hopeless(time.monotonic())
            if not self._queue:
                self._cond.wait()
                continue
            self._queue.sort(key=_Job.order)
            head = self._queue[0]
            batch = [j for j in self._queue if j.prepared.key == head.prepared.key]
            batch = batch[: self.max_batch]
            linger = head.enqueued + self.batch_wait_s - time.monotonic()
            if len(batch) < self.max_batch and linger > 0:
                self._cond.wait(linger)  # a compatible task may be on its way
                continue
            taken = set(map(id, batch))
            self._queue = [j for j in self._queue if id(j) not in taken]
            return batch

    def _drop_hopeless(self, now: float) -> None:
        keep = []
        for job in self._queue:
            if job.future.cancelled():
                continue
            if now + self.cost.cost(job.prepared.key.horizon) > job.deadline:
                _settle(job, overloaded("the deadline passed while the task was queued", 1.0))
                continue
            keep.append(job)
        self._queue = keep

    def _run(self, key: BatchKey, batch: list[_Job]) -> None:
        start = time.monotonic()
        self.busy.begin()
        try:
            outputs = self.run_batch(key, [j.prepared for j in batch])
        except Exception:  # a bug or a device fault: fail this batch, keep serving
            log.exception("a batch of %d failed", len(batch))
            for job in batch:
                _settle(job, MinerError(500, "internal", "the rollout failed on this miner"))
            return
        finally:
            self.busy.end()
        seconds = time.monotonic() - start
        self.cost.update(key.horizon, seconds)
        if self.on_batch is not None:
            self.on_batch(len(batch), seconds)
        for job, output in zip(batch, outputs, strict=True):
            queue_ms = (start - job.enqueued) * 1000
            _settle(job, Done(output, queue_ms, seconds * 1000, len(batch)))


def _settle(job: _Job, value: Done | BaseException) -> None:
    """Resolve a job's future from any thread (ignored if the caller is gone)."""

    def resolve() -> None:
        if job.future.done():
            return
        if isinstance(value, BaseException):
            job.future.set_exception(value)
        else:
            job.future.set_result(value)

    with contextlib.suppress(RuntimeError):  # the loop already closed
        job.loop.call_soon_threadsafe(resolve)
