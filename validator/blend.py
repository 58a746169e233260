"""One weight vector from several workloads' scores, and where each weight came from.

Each tempo a validator turns its per-workload moving averages into the weights it sets:

1. each workload's scores are normalised to sum 1 over miners with a positive score
   (``MovingScores.weights``);
2. the configured workload shares (e.g. rollout 0.5, train_shard 0.5) are renormalised
   over the workloads that have any positive score, so a workload nobody has earned
   anything in yet gives its share to the others instead of leaving it unset;
3. ``weight[uid] = sum_w share_w * norm_w[uid]`` (sums to 1);
4. attribution: ``by_workload[uid][w] = share_w * norm_w[uid] / weight[uid]``, the
   shares of that miner's weight each workload earned (what the ledger splits that
   miner's emission by).
"""

from __future__ import annotations

from wmnet.validator.scoring import MovingScores


def blend(
    averages: dict[str, MovingScores], shares: dict[str, float]
) -> tuple[dict[int, float], dict[int, dict[str, float]]]:
    """``(weights, by_workload)``; both empty when no miner has a positive score."""
    normed = {w: s.weights() for w, s in averages.items()}
    live = {w: max(0.0, shares.get(w, 0.0)) for w, n in normed.items() if n}
    total = sum(live.values())
    if total <= 0:
        return {}, {}
    parts: dict[int, dict[str, float]] = {}
    for workload, share in live.items():
        for uid, value in normed[workload].items():
            part = share / total * value
            if part > 0:
                parts.setdefault(uid, {})[workload] = part
    weights = {uid: sum(p.values()) for uid, p in parts.items()}
    by_workload = {uid: {w: v / weights[uid] for w, v in p.items()} for uid, p in parts.items()}
    return weights, by_workload
