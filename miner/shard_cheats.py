"""ADVERSARIAL TEST BEHAVIOUR: training-shard miners that cheat, for tests and the demo.

Enabled solely by the hidden ``wmnet miner run --cheat lazy|copy`` option; an honest
miner never constructs one. Rollouts stay honest under these two (they cheat on the
``train_shard`` workload only), so a test can show that shard scoring alone catches
them:

* ``lazy``: trains nothing; stores a tiny random update (values ~1e-6, the same
  format and density as an honest one) and reports the figures an honest miner would.
* ``copy``: trains nothing; waits for another miner's update of this round to appear
  in the shared object store, takes its payload out of the author's envelope, seals it
  again under its own hotkey and task, stores that under its own prefix and answers at
  once: as soon as one worth copying has appeared since the task arrived, the largest
  of them (mean kept magnitude), so a lazy neighbour's tiny update is never the one
  copied. With none in time (half the deadline) it acts lazy. (Answering with the
  author's object id instead is refused outright: it is not under this miner's prefix.)
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
from starlette.concurrency import run_in_threadpool

from wmnet.miner.shard_trainer import Honest, ShardCheat, ShardTrainer
from wmnet.protocol.shard import ShardResult, ShardTask
from wmnet.protocol.spec import MAX_UPDATE_BYTES
from wmnet.training import envelope, params
from wmnet.training.compress import Compressed, UpdateFormatError, compress
from wmnet.training.store import StoreError

SHARD_CHEATS: tuple[str, ...] = ("lazy", "copy")
WORTH_COPYING = 1e-4  # mean kept magnitude below this is a lazy miner's noise


class LazyUpdate:
    name = "lazy"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    async def answer(self, task: ShardTask, trainer: ShardTrainer, honest: Honest) -> ShardResult:
        base = await run_in_threadpool(trainer.base, task.base_id)
        noise = self.rng.standard_normal(params.count(base)).astype(np.float32) * 1e-6
        payload = compress(noise, task.hyper.density, task.hyper.chunk).to_bytes()
        data = envelope.seal(payload, task.task_id, trainer.signer)
        oid = await run_in_threadpool(trainer.store.put_update, data)
        samples = task.hyper.inner_steps * task.hyper.batch  # claimed, never done
        return trainer.result(task, oid, len(data), samples, compute_ms=0.0)


class CopyUpdate:
    name = "copy"

    def __init__(self, lazy: LazyUpdate, poll_s: float = 0.2) -> None:
        self.lazy, self.poll_s = lazy, poll_s

    async def answer(self, task: ShardTask, trainer: ShardTrainer, honest: Honest) -> ShardResult:
        arrived = time.time()
        base = await run_in_threadpool(trainer.base, task.base_id)
        n = params.count(base)
        give_up = time.monotonic() + task.deadline_ms / 1000 / 2
        while time.monotonic() < give_up:
            found = await run_in_threadpool(self._largest_new, trainer, n, arrived - 1.0)
            if found is not None:
                data = envelope.seal(found, task.task_id, trainer.signer)
                oid = await run_in_threadpool(trainer.store.put_update, data)
                samples = task.hyper.inner_steps * task.hyper.batch
                return trainer.result(task, oid, len(data), samples, compute_ms=0.0)
            await asyncio.sleep(self.poll_s)
        return await self.lazy.answer(task, trainer, honest)

    def _largest_new(self, trainer: ShardTrainer, n: int, since: float) -> bytes | None:
        """The payload of the largest update another miner stored since ``since``."""
        best: tuple[float, bytes] | None = None
        for info in trainer.store.list_updates():
            if info.author == trainer.store.author or info.stored_at < since:
                continue
            if info.size > MAX_UPDATE_BYTES:
                continue
            try:
                stored = trainer.store.get_update(info.author, info.object_id, MAX_UPDATE_BYTES)
                payload = envelope.read(stored.data).payload
                update = Compressed.from_bytes(payload)
            except (StoreError, envelope.EnvelopeError, UpdateFormatError):
                continue  # not complete yet, or not an update
            if update.layout.n != n:
                continue
            size = float(np.abs(update.values()).mean())
            if size >= WORTH_COPYING and (best is None or size > best[0]):
                best = (size, payload)
        return None if best is None else best[1]


def make_shard_cheat(name: str | None, seed: int | None = None) -> ShardCheat | None:
    """The shard cheat named by ``--cheat`` (None for an honest one or a rollout cheat)."""
    if name not in SHARD_CHEATS:
        return None
    lazy = LazyUpdate(np.random.default_rng(seed))
    return lazy if name == "lazy" else CopyUpdate(lazy)
