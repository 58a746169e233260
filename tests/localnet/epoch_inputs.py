"""Epoch inputs built by hand for the Yuma tests: two validators (70 / 30 TAO) and three
miners unless a test says otherwise."""

from __future__ import annotations

import numpy as np

from wmnet.localnet.yuma import EpochInput

BLOCK = 10_000
TAO = 1_000_000_000


def make_input(
    weights: dict[int, dict[int, float]],
    stake: list[float] | None = None,
    *,
    permit: list[bool] | None = None,
    last_update: list[int] | None = None,
    registered: list[int] | None = None,
    bonds: np.ndarray | None = None,
    owner_uid: int | None = None,
    last_epoch_block: int = BLOCK - 10,
    block: int = BLOCK,
) -> EpochInput:
    """Two validators (70 / 30 TAO) and three miners unless told otherwise."""
    stake = stake if stake is not None else [70 * TAO, 30 * TAO, 0, 0, 0]
    n = len(stake)
    w = np.zeros((n, n))
    for i, row in weights.items():
        for j, v in row.items():
            w[i, j] = v
    return EpochInput(
        block=block,
        stake=np.array(stake, dtype=float),
        last_update=np.array(last_update or [block - 1] * 2 + [0] * (n - 2)),
        block_at_registration=np.array(registered or [0] * n),
        validator_permit=np.array(permit or [True, True] + [False] * (n - 2)),
        weights=w,
        bonds=np.zeros((n, n)) if bonds is None else bonds,
        owner_uid=owner_uid,
        last_epoch_block=last_epoch_block,
    )
