"""Subtensor's epoch tests, run two ways: `run_epoch` directly, and a chain through the SDK.

A ported test speaks in upstream UIDs (0..n-1, as subtensor's `tests/epoch.rs` does) and
upstream stake units, and calls the same few steps on either path:

- `DirectPath` keeps the stored state itself (stake, u16 weights, bonds, permits,
  registration and update blocks) and runs `localnet.yuma.run_epoch` plus
  `localnet.payout.epoch_emission` the way subtensor's mock runs `epoch(netuid, 1e9)`: at the
  current block, no subnet-owner neuron, and the bonds mask of `epoch_mechanism`
  (`last_tempo = block - tempo`, saturating, `last_tempo <= registered`).
- `ChainPath` (`chain_path.py`) builds the same subnet on an in-process chain through
  `bittensor.Client`: hyperparameters as the owner (`SetHyperparameter`) or as sudo
  (`Sudo.sudo`), `burned_register`, `add_stake`, `set_mechanism_weights`; it advances
  blocks until the subnet's own epoch runs, then reads the metagraph and the Bonds map
  through the SDK.
  The owner's hotkey holds UID 0 there (as on subtensor), so upstream UID i is chain UID
  i + 1; it holds no stake and sets no weights, so it takes no part. Upstream's `epoch()`
  pays nobody (it only returns the amounts) while the chain credits every epoch's
  emission as stake; so that the next epoch sees the stakes the test set, the harness
  unstakes what each hotkey was paid by each epoch before the test's next step
  (`keep_stakes`, on by default; the owner's hotkey is always unstaked, so it never
  votes).

Emission is compared as a share (each UID's `Emission` over the epoch's emission to UIDs,
i.e. upstream's `E / rao_emission`) on both paths, and to the rao where upstream pins it:
the direct path's epoch pays 1e9 as upstream's mock does, so its `emission_rao` is
upstream's number (`assert_upstream_rao`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import bittensor as bt
import numpy as np
import pytest

from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.calls.weights import max_upscale
from wmnet.localnet.chain import Chain
from wmnet.localnet.params import U16_MAX
from wmnet.localnet.payout import epoch_emission
from wmnet.localnet.substrate import LocalnetSubstrate
from wmnet.localnet.yuma import EpochInput, YumaParams, run_epoch

PATHS = ("direct", "chain")
SHARE = 1e-8  # absolute tolerance on an emission share


def shares(values: list[float]) -> list[object]:
    """``values`` as approximate shares, for comparing with an epoch's output."""
    return [pytest.approx(v, abs=SHARE) for v in values]


def assert_upstream_rao(s: Snapshot, uids: list[int], upstream: list[int]) -> None:
    """Where the epoch paid upstream's 1e9 (the direct path), `Emission` of ``uids`` is
    upstream's pinned rao exactly (its I32F32 shares times 1e9, truncated)."""
    if s.rao_emission == UPSTREAM_EMISSION:
        assert [s.emission_rao[uid] for uid in uids] == upstream


def dust_bound(n: int, rao_emission: int) -> int:
    """The most truncation can leave unpaid of an epoch's emission over ``n`` UIDs: per
    UID two figures (server, validator), each off by up to three I32F32 steps of the
    emission (the proportion floored, the quotient floored, the product floored: one
    step is emission / 2^32 rao) and a rao for each of the payout's truncations."""
    return n * 2 * (3 * (rao_emission >> 32) + 3)


def assert_dust_only(s: Snapshot) -> None:
    """The epoch minted what it had, less truncation dust (`dust_bound`)."""
    assert 0 <= s.accrued - s.paid <= dust_bound(len(s.emission), s.rao_emission), (
        s.accrued,
        s.paid,
    )


# Upstream's epoch(netuid, 1_000_000_000): the direct path pays this much, no owner cut.
UPSTREAM_EMISSION = 1_000_000_000


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters a ported test sets, in subtensor's storage units."""

    max_validators: int = 64
    bonds_penalty: int = U16_MAX
    kappa: int = 32_767
    yuma3: bool = False
    liquid_alpha: bool = False
    alpha: tuple[float, float] | None = None  # (low, high); subtensor's default if None
    bonds_moving_average: int = 900_000
    stake_threshold: int = 0  # in upstream stake units
    tempo: int = 360  # the upstream test's tempo: the direct path's bonds mask reads it


@dataclass
class Snapshot:
    """One epoch's stored results, by upstream UID."""

    rank: list[int]
    trust: list[int]
    consensus: list[int]
    incentive: list[int]
    dividends: list[int]
    pruning_score: list[int]
    validator_permit: list[bool]
    emission: list[float]  # `Emission` rao / the epoch's emission to UIDs
    server_emission: list[float]  # incentive credited, over the same
    bonds: list[list[int]]  # u16 as stored, [validator][target]
    emission_rao: list[int] = field(default_factory=list)  # subtensor's `Emission`
    rao_emission: int = 0  # the epoch's emission to UIDs (server + validator pending)
    paid: int = 0  # rao minted by this epoch (owner cut included)
    accrued: int = 0  # rao pending for this epoch (owner cut included)


def yuma_params(h: Hyper) -> YumaParams:
    alpha = {} if h.alpha is None else {"alpha_low": h.alpha[0], "alpha_high": h.alpha[1]}
    return YumaParams(
        **alpha,
        kappa=h.kappa / U16_MAX,
        max_allowed_validators=h.max_validators,
        bonds_moving_average=h.bonds_moving_average,
        bonds_penalty=h.bonds_penalty / U16_MAX,
        liquid_alpha_enabled=h.liquid_alpha,
        stake_threshold=float(h.stake_threshold),
        yuma3=h.yuma3,
    )


# ----------------------------------------------------------------------------------
# run_epoch directly
# ----------------------------------------------------------------------------------


@dataclass
class DirectPath:
    """The subnet's storage as arrays; `epoch()` is subtensor's mock `epoch()` call."""

    hyper: Hyper
    name: str = "direct"
    block: int = 0
    cutoff: int = 5_000  # the mock's ActivityCutoff
    owner_uid: int | None = None  # the mock's add_network registers no owner neuron
    tempo: int = -1  # the bonds mask's tempo; the hyperparameter's unless a test moves it
    stake: list[float] = field(default_factory=list)
    registered: list[int] = field(default_factory=list)
    last_update: list[int] = field(default_factory=list)
    permit: list[bool] = field(default_factory=list)
    pruning: list[int] = field(default_factory=list)
    weights: dict[int, dict[int, int]] = field(default_factory=dict)
    bonds: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        if self.tempo < 0:
            self.tempo = self.hyper.tempo

    @property
    def n(self) -> int:
        return len(self.stake)

    async def add_neurons(self, stakes: list[int]) -> None:
        for amount in stakes:
            self.stake.append(float(amount))
            self.registered.append(self.block)
            self.last_update.append(0)
            self.permit.append(False)
            self.pruning.append(0)
        grown = np.zeros((self.n, self.n))
        k = self.bonds.shape[0]
        grown[:k, :k] = self.bonds
        self.bonds = grown

    async def add_stake(self, uid: int, amount: int) -> None:
        self.stake[uid] += amount

    async def register_new(self) -> int:
        """A registration on a full subnet: the lowest pruning score is replaced
        (ties: older registration, then lower UID); its weights and bond row go."""
        uid = min(range(self.n), key=lambda i: (self.pruning[i], self.registered[i], i))
        self.stake[uid] = 0.0
        self.registered[uid] = self.block
        self.last_update[uid] = 0
        self.permit[uid] = False
        self.weights.pop(uid, None)
        self.bonds[uid, :] = 0
        return uid

    async def set_weights(self, uid: int, dests: list[int], values: list[int]) -> None:
        self.weights[uid] = dict(zip(dests, max_upscale(values), strict=True))
        self.last_update[uid] = self.block

    async def next_block(self, blocks: int = 1) -> None:
        self.block += blocks

    async def activity_cutoff(self) -> int:
        return self.cutoff

    async def set_liquid_alpha(self, on: bool) -> None:
        self.hyper = replace(self.hyper, liquid_alpha=on)

    async def mask_tempo(self, tempo: int) -> None:
        """Upstream tests change the tempo to steer the bonds mask of their manual epoch."""
        self.tempo = tempo

    async def epoch(self) -> Snapshot:
        n = self.n
        w = np.zeros((n, n))
        for i, row in self.weights.items():
            for j, value in row.items():
                w[i, j] = value
        h = self.hyper
        last_tempo = max(self.block - self.tempo, 0)
        inp = EpochInput(
            block=self.block,
            stake=np.array(self.stake),
            last_update=np.array(self.last_update),
            block_at_registration=np.array(self.registered),
            validator_permit=np.array(self.permit),
            weights=w,
            bonds=self.bonds,
            owner_uid=self.owner_uid,
            last_epoch_block=last_tempo - 1,
        )
        params = yuma_params(h)
        params = YumaParams(**{**params.__dict__, "activity_cutoff": self.cutoff})
        out = run_epoch(inp, params)
        emission = epoch_emission(out, UPSTREAM_EMISSION)  # upstream's epoch(netuid, 1e9)
        self.bonds = out.bonds.astype(np.float64)
        self.permit = out.validator_permit.tolist()
        stored = out.as_u16()
        self.pruning = stored["PruningScores"].tolist()
        return Snapshot(
            rank=stored["Rank"].tolist(),
            trust=stored["Trust"].tolist(),
            consensus=stored["Consensus"].tolist(),
            incentive=stored["Incentive"].tolist(),
            dividends=stored["Dividends"].tolist(),
            pruning_score=list(self.pruning),
            validator_permit=list(self.permit),
            emission=(emission.combined / UPSTREAM_EMISSION).tolist(),
            server_emission=(emission.server / UPSTREAM_EMISSION).tolist(),
            bonds=out.bonds.astype(int).tolist(),
            emission_rao=emission.combined.tolist(),
            rao_emission=UPSTREAM_EMISSION,
            # upstream's epoch() returns what it would pay: each UID's two parts.
            paid=int(emission.server.sum() + emission.validator.sum()),
            accrued=UPSTREAM_EMISSION,
        )


@asynccontextmanager
async def open_path(kind: str, hyper: Hyper, **chain_options: Any) -> AsyncIterator[Any]:
    """A started path of `kind` ("direct" or "chain") with `hyper` set."""
    if kind == "direct":  # chain_options only shape the chain
        yield DirectPath(hyper)
        return
    from tests.localnet.chain_path import ChainPath  # imports this module

    chain = Chain()
    try:
        substrate = LocalnetSubstrate(InProcessBackend(chain))
        async with bt.Client("local", substrate=substrate) as client:
            path = ChainPath(hyper, chain, client, **chain_options)
            await path.start()
            yield path
    finally:
        chain.close()
