"""Epoch benchmark: `localnet.yuma.run_epoch` against a plain-Python reference.

The baseline, `reference_epoch`, is a loop-by-loop transcription of subtensor's
sparse epoch (run_epoch.rs::epoch_mechanism with Yuma3, liquid alpha off): Python
lists, a per-column partition search for the weighted median (math.rs::
weighted_median), no numpy. It is timed in the same run on the same inputs, and the
tests use it to cross-check the vectorised code. The pre-Yuma3 branch (`Yuma3On`
off) is timed on the same input too, interleaved with the Yuma3 runs so that load
from other processes falls on both alike.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from wmnet.localnet.yuma import U16_MAX, EpochInput, YumaParams, run_epoch


def random_epoch_input(n: int = 256, validators: int = 64, seed: int = 0) -> EpochInput:
    """A dense, seeded subnet: `validators` staked UIDs weighting every UID."""
    rng = np.random.default_rng(seed)
    block = 100_000
    stake = np.zeros(n)
    stake[:validators] = rng.uniform(1, 1_000, validators) * 1e9
    weights = np.zeros((n, n))
    weights[:validators] = np.floor(rng.uniform(0, 1, (validators, n)) * U16_MAX)
    bonds = np.zeros((n, n))
    bonds[:validators] = np.floor(rng.uniform(0, 0.2, (validators, n)) * U16_MAX)
    return EpochInput(
        block=block,
        stake=stake,
        last_update=np.where(np.arange(n) < validators, block - 50, 0),
        block_at_registration=rng.integers(0, block - 200, n),
        validator_permit=np.arange(n) < validators,
        weights=weights,
        bonds=bonds,
        owner_uid=None,
        last_epoch_block=block - 100,
    )


def _normalize(x: list[float]) -> list[float]:
    total = sum(x)
    return [v / total for v in x] if total != 0 else list(x)


def _weighted_median(
    stake: list[float], score: list[float], idx: list[int], minority: float, lo: float, hi: float
) -> float:
    """math.rs::weighted_median: mid-pivot partition search, recursive."""
    if not idx:
        return 0.0
    if len(idx) == 1:
        return score[idx[0]]
    pivot = score[idx[len(idx) // 2]]
    lo_stake = hi_stake = 0.0
    lower: list[int] = []
    upper: list[int] = []
    for i in idx:
        if score[i] == pivot:
            continue
        if score[i] < pivot:
            lo_stake += stake[i]
            lower.append(i)
        else:
            hi_stake += stake[i]
            upper.append(i)
    if lo + lo_stake <= minority < hi - hi_stake:
        return pivot
    if minority < lo + lo_stake and lower:
        return _weighted_median(stake, score, lower, minority, lo, lo + lo_stake)
    if hi - hi_stake <= minority and upper:
        return _weighted_median(stake, score, upper, minority, hi - hi_stake, hi)
    return pivot


def reference_epoch(inp: EpochInput, params: YumaParams) -> dict[str, list]:
    """Loop-based Yuma3 epoch (liquid alpha off), for timing and cross-checks."""
    n = len(inp.stake)
    lu = [int(x) for x in inp.last_update]
    reg = [int(x) for x in inp.block_at_registration]
    owner = inp.owner_uid
    active = [lu[i] + params.activity_cutoff >= inp.block for i in range(n)]
    stake = [
        0.0 if (i != owner and float(np.floor(inp.stake[i])) < params.stake_threshold) else s
        for i, s in enumerate(float(x) for x in inp.stake)
    ]
    stake = _normalize(stake)
    permit = [bool(p) or i == owner for i, p in enumerate(inp.validator_permit)]
    active_stake = _normalize([stake[i] if active[i] and permit[i] else 0.0 for i in range(n)])

    weights: list[list[float]] = []
    for i in range(n):
        row = [0.0] * n
        if permit[i]:
            for j in range(n):
                if (i == j and i != owner) or lu[i] <= reg[j]:
                    continue
                row[j] = float(inp.weights[i][j])
        weights.append(_normalize(row) if sum(row) > 0 else row)

    use = [i for i in range(n) if active_stake[i] > 0]
    use_stake = _normalize([active_stake[i] for i in use])
    minority = sum(use_stake) - params.kappa
    consensus = []
    for j in range(n):
        scores = [weights[i][j] for i in use]
        consensus.append(
            _weighted_median(
                use_stake, scores, list(range(len(use))), minority, 0.0, sum(use_stake)
            )
        )
    clipped = [[min(weights[i][j], consensus[j]) for j in range(n)] for i in range(n)]
    ranks = [sum(active_stake[i] * clipped[i][j] for i in range(n)) for j in range(n)]
    incentive = _normalize(ranks)

    p = params.bonds_penalty
    alpha = params.ema_alpha
    ema = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            wb = weights[i][j] + p * (clipped[i][j] - weights[i][j])
            old = 0.0 if reg[j] > inp.last_epoch_block else float(inp.bonds[i][j]) / U16_MAX
            ema[i][j] = alpha * wb + (1 - alpha) * old
    col = [sum(ema[i][j] for i in range(n)) for j in range(n)]
    per_val = [
        sum((ema[i][j] / col[j] if col[j] else 0.0) * incentive[j] for j in range(n))
        for i in range(n)
    ]
    dividends = _normalize([per_val[i] * active_stake[i] for i in range(n)])
    return {
        "consensus": consensus,
        "incentive": incentive,
        "dividends": dividends,
        "ema_bonds": ema,
    }


def _interleaved_ms(fns, repeats: int) -> list[list[float]]:
    """Wall times (ms) of each of `fns`, run in turn `repeats` times."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
    return times


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_epoch(
    n: int = 256, validators: int = 64, repeats: int = 30, baseline_repeats: int = 3
) -> dict:
    """Median wall time of one epoch, vectorised vs the loop reference, same inputs.

    Returns uids, validators, repeats, epoch_ms (Yuma3, median of `repeats`) and
    epoch_ms_min, epoch_ms_yuma2 and epoch_ms_yuma2_min (the pre-Yuma3 branch on the
    same input, runs interleaved with the Yuma3 ones), baseline_ms (median of
    `baseline_repeats` runs of `reference_epoch`), speedup, and max_abs_diff between
    the two implementations' incentive and dividends.
    """
    inp = random_epoch_input(n, validators)
    params = YumaParams()
    yuma2 = YumaParams(yuma3=False)
    run_epoch(inp, params)  # warm-up: first-call allocations, imports
    run_epoch(inp, yuma2)
    yuma3_ms, yuma2_ms = _interleaved_ms(
        [lambda: run_epoch(inp, params), lambda: run_epoch(inp, yuma2)], repeats
    )
    epoch_ms = statistics.median(yuma3_ms)
    baseline_ms = _median_ms(lambda: reference_epoch(inp, params), baseline_repeats)
    out = run_epoch(inp, params)
    ref = reference_epoch(inp, params)
    diff = max(
        float(np.max(np.abs(out.incentive - np.array(ref["incentive"])))),
        float(np.max(np.abs(out.dividends - np.array(ref["dividends"])))),
    )
    return {
        "uids": n,
        "validators": validators,
        "repeats": repeats,
        "epoch_ms": round(epoch_ms, 3),
        "epoch_ms_min": round(min(yuma3_ms), 3),
        "epoch_ms_yuma2": round(statistics.median(yuma2_ms), 3),
        "epoch_ms_yuma2_min": round(min(yuma2_ms), 3),
        "baseline_ms": round(baseline_ms, 1),
        "speedup": round(baseline_ms / epoch_ms, 1) if epoch_ms > 0 else float("inf"),
        "max_abs_diff": diff,
    }
