"""One worker's round, end to end (what an honest miner computes for a ``ShardTask``).

1. render the shard's episodes (``wmnet.training.shards.load``) and encode them;
2. ``H`` inner AdamW steps from the base (``wmnet.training.inner.inner_train``), seeded
   by the shard's seed, so a rerun of a task trains on the same batches;
3. error feedback and compression (``wmnet.training.compress.ErrorFeedback``) into the
   bytes of one ``wmnet-sparseloco-v1`` update.

The caller stores the bytes and reports their id; this module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from wmnet.protocol.shard import InnerHyper, ShardData
from wmnet.training import params, shards
from wmnet.training.compress import Compressed, ErrorFeedback
from wmnet.training.inner import InnerResult, encode, inner_train
from wmnet.worldmodel.model import WorldModel


@dataclass(frozen=True)
class WorkerOutput:
    update: Compressed
    data: bytes  # update.to_bytes()
    inner: InnerResult


def new_feedback(base: WorldModel, hyper: InnerHyper) -> ErrorFeedback:
    return ErrorFeedback(params.count(base), hyper.ef_decay)


def train_shard(
    base: WorldModel, shard: ShardData, hyper: InnerHyper, feedback: ErrorFeedback
) -> WorkerOutput:
    """Train on ``shard`` from ``base``; ``feedback`` carries what was not sent."""
    if feedback.buffer.size != params.count(base):
        raise ValueError("the error-feedback buffer does not fit this model")
    feedback.decay = hyper.ef_decay
    latents = encode(base, shards.load(shard, base.cfg.resolution))
    result = inner_train(base, latents, hyper, seed=shard.seed)
    update = feedback.step(result.delta, hyper.density, hyper.chunk)
    return WorkerOutput(update, update.to_bytes(), result)
