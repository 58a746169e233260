"""Judging a miner's rollout: binding checks, then the numeric teacher-forced check.

Order (cheap before expensive, every failure a :class:`Reason`, fail closed):
1. the answer echoes the task (task id, model id, precision) and has its shapes
   (context ``C`` frames, ``T`` = horizon steps, the model's latent shape);
2. every latent is finite and each step's digest binds it
   (``wmnet.protocol.digest``): what was sent is what gets checked;
3. ``wmnet.worldmodel.verify.teacher_forced_errors``: the reference model re-predicts
   every step from the miner's own history in one prefill-style pass, and each step
   must sit within the declared precision's tolerance (``wmnet.protocol.tolerances``).

Steps 1-2 (:func:`binding_check`) cost microseconds and run on every answer; step 3
(:func:`verify_answers`) costs what generating did on a CPU, so it runs on a sample of
answers, drawn after they arrive (an audit, ``wmnet.validator.audits``), or when a
customer asks for it. Answers checked together share forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmnet.protocol.digest import step_digests
from wmnet.protocol.rollout import RolloutResult, RolloutTask
from wmnet.protocol.tolerances import TOLERANCES
from wmnet.validator.outcomes import Reason
from wmnet.worldmodel.contexts import context_arrays
from wmnet.worldmodel.model import WorldModel
from wmnet.worldmodel.verify import VerifyInput, passes, teacher_forced_errors


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    detail: str = ""

    @property
    def verified(self) -> bool:
        return self.reason is Reason.OK


OK = Verdict(Reason.OK)


def _precheck(
    model: WorldModel, task: RolloutTask, result: RolloutResult
) -> tuple[VerifyInput | None, Verdict]:
    cfg = model.cfg
    if result.task_id != task.task_id:
        return None, Verdict(Reason.OTHER_TASK, "answer to another task")
    if result.model_id != task.model_id or result.precision != task.precision:
        return None, Verdict(Reason.MODEL_MISMATCH, "model id or precision differs")
    c, g = cfg.latent_channels, cfg.grid
    if result.latents.shape != (task.horizon, c, g, g):
        detail = f"latents shape {result.latents.shape}, expected {(task.horizon, c, g, g)}"
        return None, Verdict(Reason.BAD_SHAPE, detail)
    n_ctx = task.context.n_frames
    if result.context_latents.shape != (n_ctx, c, g, g):
        return None, Verdict(Reason.BAD_SHAPE, "context latents have the wrong shape")
    try:
        latents = result.latents.numpy()
        context_latents = result.context_latents.numpy()
        frames, context_actions = context_arrays(task.context, cfg)
    except ValueError as exc:
        return None, Verdict(Reason.MALFORMED, f"undecodable: {exc}")
    if not (np.isfinite(latents).all() and np.isfinite(context_latents).all()):
        return None, Verdict(Reason.NON_FINITE, "non-finite latents")
    if step_digests(latents) != list(result.digests):
        return None, Verdict(Reason.UNBOUND, "digests do not bind the latents")
    return (
        VerifyInput(
            context_frames=frames,
            context_actions=context_actions,
            actions=np.asarray(task.actions, dtype=np.int64),
            context_latents=context_latents,
            latents=latents,
        ),
        OK,
    )


def binding_check(model: WorldModel, task: RolloutTask, result: RolloutResult) -> Verdict:
    """Steps 1-2 only: is this an answer to ``task``, bound by its digests?"""
    return _precheck(model, task, result)[1]


def verify_answers(
    model: WorldModel, pairs: list[tuple[RolloutTask, RolloutResult]]
) -> list[Verdict]:
    """The full check (steps 1-3): one verdict per (task, result) pair, in order."""
    verdicts: list[Verdict | None] = [None] * len(pairs)
    inputs: list[VerifyInput] = []
    where: list[int] = []
    for i, (task, result) in enumerate(pairs):
        item, verdict = _precheck(model, task, result)
        if item is None:
            verdicts[i] = verdict
        else:
            inputs.append(item)
            where.append(i)
    for i, verdict in zip(where, _numeric_check(model, pairs, inputs, where), strict=True):
        verdicts[i] = verdict
    return [v if v is not None else Verdict(Reason.CHECK_REFUSED, "not checked") for v in verdicts]


def _numeric_check(
    model: WorldModel,
    pairs: list[tuple[RolloutTask, RolloutResult]],
    inputs: list[VerifyInput],
    where: list[int],
) -> list[Verdict]:
    """Teacher-forced check of the prechecked answers: batched, and one by one if the
    batch is refused, so one odd answer cannot fail its round-mates."""
    if not inputs:
        return []
    try:
        errors = teacher_forced_errors(model, inputs)
    except ValueError as exc:
        if len(inputs) == 1:
            return [Verdict(Reason.CHECK_REFUSED, str(exc)[:150])]
        return [
            _numeric_check(model, pairs, [item], [i])[0]
            for item, i in zip(inputs, where, strict=True)
        ]
    verdicts = []
    for i, err in zip(where, errors, strict=True):
        ok = passes(err, TOLERANCES[pairs[i][0].precision])
        verdicts.append(OK if ok else Verdict(Reason.OUTSIDE_TOLERANCE))
    return verdicts
