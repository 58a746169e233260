"""Audit benchmark: what sampled audits cost, and whether cheating ever pays.

Two parts.

1. **Pools of real answers, judged by the real checker.** Honest rollouts at fp32,
   bf16 and int8 (KV-cache sparse rollouts of the shipped model, torch threads 2 and 1,
   deterministic mode on and off, batch 16 and batch 1: ``bench.verify.honest_configs``)
   and faked ones: the lazy miner of ``wmnet.worldmodel.fakes`` (10 % of steps
   extrapolated, continuing from its guess), the post-hoc fake of
   ``wmnet.miner.cheats.extrapolate_steps`` (what ``--cheat fake10`` serves) and random
   latents. Every answer is a wire ``RolloutResult`` checked by the validator's audit
   path (``wmnet.validator.audit_queue.run_jobs``: binding checks, then the
   teacher-forced pass), in batches of 16, as audit workers run them. Miner seconds per
   answer are measured generating, validator seconds per answer checking.
2. **Simulated tempos through the validator's own code.** ``honest`` miners and
   ``cheaters`` (independent replicas) each deliver ``probes`` answers per tempo for
   ``tempos`` tempos, drawn from the pools (a cheater's answer is faked with
   probability ``f``). Audit draws (``TempoAudits``: the HMAC sample and the per-miner
   floor), penalty windows (``PenaltyBook``), tempo scores (``TempoWork``), moving
   averages (``MovingScores``) and weights (``blend``) are the validator's; each
   audited answer's verdict is the one the real checker gave it. Emission per tempo
   follows the weights (one validator: Yuma's incentive is its normalised weights).

Figures: ``audit_cost_fraction`` (validator checking seconds ÷ miners' seconds of the
work bought, at the default policy), ``cheater_earnings_ratio[rate][f]`` (a cheater's
total emission ÷ an honest miner's, means over replicas), ``honest_penalized``,
``tempos_to_zero_p99[rate][f]`` for f >= 0.1, and ``penalty_window_scan``: the smallest
margin ``(1 - ratio) - min(2 f, 0.95)`` over f at the lowest rate, per window length.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from wmnet.bench.verify import (
    CONTEXT_FRAMES,
    PRECISIONS,
    _generate,
    _threads,
    honest_configs,
    tasks,
)

RATES = (0.01, 0.05, 0.1)
FRACTIONS = (0.01, 0.05, 0.1, 0.5, 1.0)
HORIZON = 16  # the validator's default probe horizon
TEMPO_BLOCKS = 10  # an epoch every tempo blocks (tempo 10)


@dataclass
class Pool:
    """Answers with their checker verdicts; seconds per answer (miner, validator)."""

    digests: list[list[str]]
    passed: np.ndarray  # bool per answer
    kinds: list[str]
    gen_s: np.ndarray  # miner seconds per answer (measured while generating)
    check_s: np.ndarray  # validator seconds per answer (its share of a checked batch)


def _wire(model_id: str, seed: int, frames_seed: int, acts, precision: str, ctx, lat, i: int):
    from wmnet.miner.results import build_result
    from wmnet.protocol.rollout import RolloutTask, SeededContext, Timing

    task = RolloutTask(
        task_id=f"bench{seed:012d}{i:06d}",
        model_id=model_id,
        context=SeededContext(seed=frames_seed, n_frames=CONTEXT_FRAMES),
        actions=[int(a) for a in acts],
        precision=precision,
    )
    result = build_result(task, ctx, lat, None, Timing(queue_ms=0, compute_ms=0, batch_size=1),
                          "cpu")  # fmt: skip
    return task, result


def _check(ref, pairs, units: int) -> tuple[np.ndarray, np.ndarray]:
    """The validator's audit path over ``pairs`` in batches of 16."""
    from wmnet.protocol.audit import AuditJob
    from wmnet.validator.audit_queue import MAX_JOBS_PER_BATCH, run_jobs

    passed, seconds = [], []
    for lo in range(0, len(pairs), MAX_JOBS_PER_BATCH):
        jobs = [
            AuditJob(job_id=f"job{lo + k:08d}", request_id=task.task_id, netuid=1, miner_uid=0,
                     miner_hotkey="bench", origin="synthetic", trigger="sampled", units=units,
                     task=task, result=result)
            for k, (task, result) in enumerate(pairs[lo : lo + MAX_JOBS_PER_BATCH])
        ]  # fmt: skip
        for v in run_jobs(ref, jobs, "bench"):
            passed.append(v.outcome == "passed")
            seconds.append(v.seconds)
    return np.array(passed), np.array(seconds)


def honest_pool(models, ref, n: int, batch: int, seed: int, say) -> Pool:
    """``n`` honest answers over every honest configuration (batch-1 chunks of 4)."""
    from wmnet.worldmodel.determinism import deterministic

    model_id = _model_id()
    frames, ctx_acts, acts = tasks(ref.cfg, n, HORIZON, seed)
    configs = honest_configs(batch)
    pairs, gen_s, kinds = [], [], []
    i = k = 0
    while i < n:
        conf = configs[k % len(configs)]
        size = 4 if conf.batch == 1 else conf.batch
        sl = slice(i, min(n, i + size))
        with _threads(conf.threads), deterministic(conf.deterministic):
            t0 = time.perf_counter()
            ctx, lat = _generate(models[conf.precision], frames[sl], ctx_acts[sl], acts[sl],
                                 conf.batch)  # fmt: skip
            dt = time.perf_counter() - t0
        for j in range(sl.stop - sl.start):
            pairs.append(_wire(model_id, seed, seed + i + j, acts[i + j], conf.precision,
                               ctx[j], lat[j], i + j))  # fmt: skip
            gen_s.append(dt / (sl.stop - sl.start))
            kinds.append(f"{conf.precision}/t{conf.threads}/b{conf.batch}"
                         f"{'/det' if conf.deterministic else ''}")  # fmt: skip
        i, k = sl.stop, k + 1
    say(f"honest pool: {n} answers generated")
    passed, check_s = _check(ref, pairs, HORIZON)
    say(f"honest pool: checked, {int((~passed).sum())} rejected")
    return Pool([r.digests for _, r in pairs], passed, kinds, np.array(gen_s), check_s)


def fake_pool(models, ref, n: int, batch: int, seed: int, say) -> Pool:
    """Faked answers: lazy (continuing from its guesses), fake10 (post-hoc), random."""
    from wmnet.miner.cheats import extrapolate_steps
    from wmnet.worldmodel.fakes import lazy_rollout, random_latents

    model_id = _model_id()
    frames, ctx_acts, acts = tasks(ref.cfg, n, HORIZON, seed)
    rng = np.random.default_rng(seed)
    k = math.ceil(0.1 * HORIZON)
    pairs, kinds = [], []
    for i in range(0, n, batch):
        sl = slice(i, min(n, i + batch))
        precision = PRECISIONS[(i // batch) % len(PRECISIONS)]
        b = sl.stop - sl.start
        kind = ("lazy", "fake10", "random")[(i // batch) % 3]
        if kind == "lazy":
            fake = np.zeros((b, HORIZON), dtype=bool)
            for r in range(b):
                fake[r, rng.choice(HORIZON, size=k, replace=False)] = True
            ctx, lat = lazy_rollout(models[precision], frames[sl], ctx_acts[sl], acts[sl], fake)
        else:
            ctx, lat = _generate(models[precision], frames[sl], ctx_acts[sl], acts[sl], batch)
            if kind == "fake10":
                lat = np.stack([extrapolate_steps(ctx[r], lat[r], rng, 0.1)[0] for r in range(b)])
            else:
                lat = random_latents(lat.shape, rng)
        for j in range(b):
            pairs.append(_wire(model_id, seed, seed + i + j, acts[i + j], precision, ctx[j],
                               lat[j], i + j))  # fmt: skip
            kinds.append(kind)
    passed, check_s = _check(ref, pairs, HORIZON)
    say(f"fake pool: {n} answers, {int(passed.sum())} passed the check")
    return Pool([r.digests for _, r in pairs], passed, kinds, np.zeros(n), check_s)


def _model_id() -> str:
    from wmnet.worldmodel.checkpoint import default_model_id

    return default_model_id()


@dataclass
class SimResult:
    emission: np.ndarray  # per miner, summed over tempos
    zero_at: list[int | None]  # per cheater: first tempo its weight was 0 (penalty)
    answers: int
    audits: int
    check_s: float
    work_s: float
    honest_penalized: int


def simulate(
    honest: Pool,
    fakes: Pool,
    *,
    policy,
    f: float,
    n_honest: int,
    n_cheaters: int,
    probes: int,
    tempos: int,
    seed: int,
    miner_s: float,
) -> SimResult:
    """Tempos of probe answers through the validator's audit, penalty and score code."""
    from wmnet.validator.audits import AuditSampler, TempoAudits, answer_key
    from wmnet.validator.blend import blend
    from wmnet.validator.penalties import PenaltyBook
    from wmnet.validator.scoring import MovingScores, TempoWork

    rng = np.random.default_rng(seed)
    sampler = AuditSampler(seed.to_bytes(8, "big") * 4)
    audits: TempoAudits[tuple[int, bool, int]] = TempoAudits(policy, sampler)
    book, scores = PenaltyBook(), MovingScores(alpha=0.2)
    n = n_honest + n_cheaters
    hotkeys = {uid: f"miner{uid}" for uid in range(n)}
    emission = np.zeros(n)
    zero_at: list[int | None] = [None] * n_cheaters
    stats = {"answers": 0, "audits": 0, "check_s": 0.0, "work_s": 0.0, "honest_pen": 0}

    def judge(uid: int, item: tuple[int, bool, int], block: int) -> None:
        index, faked, _ = item
        pool = fakes if faked else honest
        stats["audits"] += 1
        stats["check_s"] += float(pool.check_s[index])
        if not pool.passed[index]:
            if uid < n_honest:
                stats["honest_pen"] += 1
            book.penalize(hotkeys[uid], "rollout", "outside_tolerance", block, TEMPO_BLOCKS,
                          policy.penalty_tempos, policy.max_penalty_tempos)  # fmt: skip
            scores.forfeit(uid, hotkeys[uid])
            work.forfeit(uid)

    for t in range(tempos):
        block = t * TEMPO_BLOCKS
        work = TempoWork()
        penalized = book.penalized(hotkeys, block)
        for uid in range(n):
            if uid in penalized:
                continue  # not asked while penalized
            for a in range(probes):
                faked = uid >= n_honest and bool(rng.random() < f)
                pool = fakes if faked else honest
                index = int(rng.integers(len(pool.passed)))
                key = answer_key(f"t{t}u{uid}a{a}", pool.digests[index])
                stats["answers"] += 1
                stats["work_s"] += miner_s
                item = (index, faked, a)
                work.add(uid, hotkeys[uid], HORIZON, 1.0, 30.0, accepted=True)
                if audits.observe(hotkeys[uid], key, item, HORIZON):
                    judge(uid, item, block)
        by_hotkey = {hk: uid for uid, hk in hotkeys.items()}
        for hk, item in audits.close():
            judge(by_hotkey[hk], item, block + TEMPO_BLOCKS - 1)
        penalized = book.penalized(hotkeys, block + TEMPO_BLOCKS - 1)
        for uid, score in work.scores().items():
            if uid in penalized:
                scores.forfeit(uid, hotkeys[uid])
            else:
                scores.update(uid, hotkeys[uid], score)
        kept = MovingScores(
            scores.alpha, {u: s for u, s in scores.scores.items() if u not in penalized}, hotkeys
        )
        weights, _ = blend({"rollout": kept}, {"rollout": 1.0})
        for uid, w in weights.items():
            emission[uid] += w
        for c in range(n_cheaters):
            if (
                zero_at[c] is None
                and weights.get(n_honest + c, 0.0) == 0.0
                and (n_honest + c in penalized)
            ):
                zero_at[c] = t + 1
    return SimResult(emission, zero_at, stats["answers"], stats["audits"], stats["check_s"],
                     stats["work_s"], stats["honest_pen"])  # fmt: skip


def _ratio(res: SimResult, n_honest: int) -> float:
    honest = float(res.emission[:n_honest].mean())
    return float(res.emission[n_honest:].mean()) / honest if honest > 0 else float("nan")


def _required(f: float) -> float:
    return min(2 * f, 0.95)


def run_audit_bench(
    *,
    honest: int = 1008,
    fakes: int = 192,
    batch: int = 16,
    probes: int | None = None,
    tempos: int = 50,
    n_honest: int = 10,
    n_cheaters: int = 100,
    seed: int = 3_000_000_000,
    progress: Callable[[str], None] | None = None,
) -> dict:
    from wmnet.validator.audits import PROBES_PER_TEMPO, AuditPolicy
    from wmnet.worldmodel.checkpoint import load_default
    from wmnet.worldmodel.quant import quantize

    say = progress or (lambda _line: None)
    probes = probes or PROBES_PER_TEMPO
    started = time.perf_counter()
    ref = load_default().eval()
    models = {p: quantize(ref, p).eval() for p in PRECISIONS}
    hpool = honest_pool(models, ref, honest, batch, seed, say)
    fpool = fake_pool(models, ref, fakes, batch, seed + 10**6, say)
    default = AuditPolicy()
    # Miners' seconds per answer: generating at batch 16 (a miner batches its probes),
    # median over the honest pool's precisions, threads and modes.
    b16 = np.array([k.endswith("b16") or "/b16/" in k for k in hpool.kinds])
    miner_s = float(np.median(hpool.gen_s[b16] if b16.any() else hpool.gen_s))
    sim = dict(n_honest=n_honest, n_cheaters=n_cheaters, probes=probes, tempos=tempos,
               miner_s=miner_s)  # fmt: skip

    # Cost at the default policy, honest miners only (what a validator pays normally).
    base = simulate(hpool, fpool, policy=default, f=0.0, seed=seed, **sim)
    ratios: dict[str, dict[str, float]] = {}
    to_zero: dict[str, dict[str, float | None]] = {}
    honest_penalized = base.honest_penalized
    worst_margin = math.inf
    for rate in RATES:
        policy = AuditPolicy(rate=rate)
        ratios[str(rate)], to_zero[str(rate)] = {}, {}
        for f in FRACTIONS:
            res = simulate(hpool, fpool, policy=policy, f=f, seed=seed + int(rate * 1e4 + f * 1e2),
                           **sim)  # fmt: skip
            honest_penalized += res.honest_penalized
            ratio = _ratio(res, n_honest)
            ratios[str(rate)][str(f)] = ratio
            worst_margin = min(worst_margin, (1 - ratio) - _required(f))
            if f >= 0.1:
                zs = [z if z is not None else tempos + 1 for z in res.zero_at]
                to_zero[str(rate)][str(f)] = float(np.percentile(zs, 99))
            say(f"rate {rate} f {f}: ratio {ratio:.4f} ({time.perf_counter() - started:.0f} s)")
    scan = {}
    for window in (1, 2, 5, 10, 20):
        policy = AuditPolicy(rate=RATES[0], penalty_tempos=window, max_penalty_tempos=8 * window)
        margins = []
        for f in FRACTIONS:
            res = simulate(hpool, fpool, policy=policy, f=f, seed=seed + 7 + window, **sim)
            margins.append((1 - _ratio(res, n_honest)) - _required(f))
        scan[str(window)] = float(min(margins))
        say(f"penalty window {window}: worst margin {scan[str(window)]:+.3f}")
    per_precision = {
        p: float(np.median(hpool.gen_s[[k.startswith(p) and ("b16" in k) for k in hpool.kinds]]))
        for p in PRECISIONS
        if any(k.startswith(p) and "b16" in k for k in hpool.kinds)
    }
    return {
        "audit_cost_fraction": base.check_s / base.work_s,
        "cheater_earnings_ratio": ratios,
        "honest_penalized": honest_penalized,
        "tempos_to_zero_p99": to_zero,
        "cheating_never_pays": bool(worst_margin >= 0),
        "worst_margin": worst_margin,
        "penalty_window_scan": scan,
        "default_policy": {
            "rate": default.rate,
            "floor": default.floor,
            "organic_rate": default.organic_rate,
            "penalty_tempos": default.penalty_tempos,
            "max_penalty_tempos": default.max_penalty_tempos,
        },
        "probes_per_miner_per_tempo": probes,
        "tempos": tempos,
        "honest_miners": n_honest,
        "cheater_replicas": n_cheaters,
        "audits_per_answer_default": base.audits / base.answers,
        "honest_answers": len(hpool.passed),
        "honest_rejected": int((~hpool.passed).sum()),
        "honest_configs": sorted(set(hpool.kinds)),
        "fake_answers": len(fpool.passed),
        "fake_passed": int(fpool.passed.sum()),
        "fake_kinds": {k: fpool.kinds.count(k) for k in sorted(set(fpool.kinds))},
        "horizon": HORIZON,
        "miner_s_per_answer": miner_s,
        "miner_s_per_answer_b16_by_precision": per_precision,
        "validator_s_per_check": float(np.median(hpool.check_s)),
        "verify_per_generate": float(np.median(hpool.check_s)) / miner_s,
        "threads": torch.get_num_threads(),
        "seconds": time.perf_counter() - started,
    }
