"""Subsidy attribution: each miner's emission in an epoch split across workloads.

For an epoch at block ``b`` of subnet ``n`` (see docs/ledger.md):

1. Attribution in force: for each validator, its newest attribution set with
   ``block <= b`` (weights stay on chain until replaced, so the newest set a
   validator recorded is what that epoch's Yuma read).
2. Validator weight: its stake in that epoch when it held a permit, else 0; if no
   attributing validator has stake, each counts equally.
3. For miner ``j`` with emission ``e_j``: workload ``w`` gets the integer weight
   ``A_w = sum_v stake_v * weight_v(j) * share_v(j, w)`` (weights and shares in
   parts per billion); ``e_j`` is split by :func:`apportion` (largest remainder),
   so the parts add up to ``e_j`` exactly. A miner nobody attributed keeps its
   whole emission under the workload ``unattributed``.

Summed over miners, the subsidies of an epoch equal the chain's miner emission to
the rao (all amounts are rao of alpha).
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from wmnet.ledger.apportion import apportion
from wmnet.ledger.models import UNATTRIBUTED, Epoch, EpochEmission, Subsidy, WeightAttribution


def _attribution_in_force(
    session: Session, netuid: int, block: int
) -> dict[str, list[WeightAttribution]]:
    """validator hotkey → its newest attribution rows at or before ``block``."""
    newest = (
        select(
            WeightAttribution.validator_hotkey,
            func.max(WeightAttribution.block).label("block"),
        )
        .where(WeightAttribution.netuid == netuid, WeightAttribution.block <= block)
        .group_by(WeightAttribution.validator_hotkey)
        .subquery()
    )
    rows = session.scalars(
        select(WeightAttribution)
        .join(
            newest,
            (WeightAttribution.validator_hotkey == newest.c.validator_hotkey)
            & (WeightAttribution.block == newest.c.block),
        )
        .where(WeightAttribution.netuid == netuid)
    )
    by_validator: dict[str, list[WeightAttribution]] = defaultdict(list)
    for row in rows:
        by_validator[row.validator_hotkey].append(row)
    return by_validator


def split_epoch(
    emissions: list[EpochEmission], attribution: dict[str, list[WeightAttribution]]
) -> list[tuple[int, str, str, int]]:
    """``(uid, hotkey, workload, rao)`` for every miner with emission in the epoch."""
    stakes = {e.hotkey: (e.stake_alpha_rao if e.validator_permit else 0) for e in emissions}
    validator_weight = {v: stakes.get(v, 0) for v in attribution}
    if not any(validator_weight.values()):
        validator_weight = dict.fromkeys(attribution, 1)
    # (miner uid, miner hotkey) → workload → integer weight
    weights: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for validator, rows in attribution.items():
        stake = validator_weight[validator]
        if stake == 0:
            continue
        for row in rows:
            weights[(row.miner_uid, row.miner_hotkey)][row.workload] += (
                stake * row.weight_ppb * row.share_ppb
            )
    out: list[tuple[int, str, str, int]] = []
    for e in emissions:
        if e.role != "miner" or e.emission_alpha_rao == 0:
            continue
        parts = apportion(e.emission_alpha_rao, weights.get((e.uid, e.hotkey), {}))
        parts = {w: rao for w, rao in parts.items() if rao} or {UNATTRIBUTED: e.emission_alpha_rao}
        out.extend((e.uid, e.hotkey, workload, rao) for workload, rao in sorted(parts.items()))
    return out


def attribute_epoch(session: Session, epoch: Epoch) -> None:
    """(Re)write the epoch's subsidy rows from the attribution known now."""
    emissions = list(
        session.scalars(select(EpochEmission).where(EpochEmission.epoch_id == epoch.id))
    )
    attribution = _attribution_in_force(session, epoch.netuid, epoch.block)
    session.execute(delete(Subsidy).where(Subsidy.epoch_id == epoch.id))
    rows = [
        {
            "epoch_id": epoch.id,
            "uid": uid,
            "hotkey": hotkey,
            "workload": w,
            "emission_alpha_rao": rao,
        }  # fmt: skip
        for uid, hotkey, w, rao in split_epoch(emissions, attribution)
    ]
    if rows:
        session.execute(Subsidy.__table__.insert(), rows)


def reattribute(session: Session, netuid: int, from_block: int) -> int:
    """Rewrite the subsidies of every epoch of ``netuid`` at or after ``from_block``
    (new attribution at ``from_block`` may be in force for each of them)."""
    epochs = session.scalars(
        select(Epoch).where(Epoch.netuid == netuid, Epoch.block >= from_block).order_by(Epoch.block)
    ).all()
    for epoch in epochs:
        attribute_epoch(session, epoch)
    return len(epochs)
