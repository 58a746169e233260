"""Subtensor's epoch tests, run two ways: `run_epoch` directly, and a chain through the SDK.

A ported test speaks in upstream UIDs (0..n-1, as subtensor's `tests/epoch.rs` does) and
upstream stake units, and calls the same few steps on either path:

- `DirectPath` keeps the stored state itself (stake, u16 weights, bonds, permits,
  registration and update blocks) and runs `localnet.yuma.run_epoch` plus
  `localnet.payout.pay_epoch` the way subtensor's mock runs `epoch(netuid, 1e9)`: at the
  current block, no subnet-owner neuron, and the bonds mask of `epoch_mechanism`
  (`last_tempo = block - tempo`, saturating, `last_tempo <= registered`).
- `ChainPath` builds the same subnet on an in-process chain through `bittensor.Client`:
  hyperparameters as the owner (`SetHyperparameter`) or as sudo (`Sudo.sudo`),
  `burned_register`, `add_stake`, `set_mechanism_weights`; it advances blocks until the
  subnet's own epoch runs, then reads the metagraph and the Bonds map through the SDK.
  The owner's hotkey holds UID 0 there (as on subtensor), so upstream UID i is chain UID
  i + 1; it holds no stake and sets no weights, so it takes no part. Upstream's `epoch()`
  pays nobody (it only returns the amounts) while the chain credits every epoch's
  emission as stake; so that the next epoch sees the stakes the test set, the harness
  unstakes what each hotkey was paid by each epoch before the test's next step
  (`keep_stakes`, on by default; the owner's hotkey is always unstaked, so it never
  votes).

Emission is compared as a share: each UID's rao over the epoch's non-owner emission,
i.e. upstream's `E / rao_emission`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import bittensor as bt
import numpy as np

from tests.localnet.conftest import make_subnet, register_raw, set_weights_raw, wallet
from wmnet.localnet.backend import InProcessBackend
from wmnet.localnet.calls.weights import max_upscale
from wmnet.localnet.chain import Chain
from wmnet.localnet.emission import pending_emission
from wmnet.localnet.epoch import is_epoch_block
from wmnet.localnet.params import RAO_PER_TAO, SUBNET_OWNER_CUT_U16, U16_MAX
from wmnet.localnet.payout import pay_epoch
from wmnet.localnet.state import parse_stake_key
from wmnet.localnet.substrate import LocalnetSubstrate
from wmnet.localnet.yuma import EpochInput, YumaParams, run_epoch

PATHS = ("direct", "chain")
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
    emission: list[float]  # rao / the epoch's non-owner emission
    server_emission: list[float]  # the miners' part of `emission`
    bonds: list[list[int]]  # u16 as stored, [validator][target]
    paid: int = 0  # rao paid to all UIDs and the owner this epoch
    accrued: int = 0  # rao the epoch had to pay


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
        payout = pay_epoch(out, UPSTREAM_EMISSION, owner_cut_u16=0)
        self.bonds = out.bonds.astype(np.float64)
        self.permit = out.validator_permit.tolist()
        stored = out.as_u16()
        self.pruning = stored["PruningScores"].tolist()
        emission = (payout.server + payout.validator) / UPSTREAM_EMISSION
        return Snapshot(
            rank=stored["Rank"].tolist(),
            trust=stored["Trust"].tolist(),
            consensus=stored["Consensus"].tolist(),
            incentive=stored["Incentive"].tolist(),
            dividends=stored["Dividends"].tolist(),
            pruning_score=list(self.pruning),
            validator_permit=list(self.permit),
            emission=emission.tolist(),
            server_emission=(payout.server / UPSTREAM_EMISSION).tolist(),
            bonds=out.bonds.astype(int).tolist(),
            paid=payout.total,
            accrued=UPSTREAM_EMISSION,
        )


# ----------------------------------------------------------------------------------
# the chain, through the SDK
# ----------------------------------------------------------------------------------


@dataclass
class ChainPath:
    """An in-process chain driven through `bittensor.Client`; UID i is chain UID i + 1."""

    hyper: Hyper
    chain: Chain
    client: bt.Client
    stake_unit: int = RAO_PER_TAO  # rao per upstream stake unit
    keep_stakes: bool = True
    tempo: int = 50  # the chain's own: room for a test's calls between two epochs
    name: str = "chain"
    netuid: int = 0
    owner: Any = None
    hotkeys: list[Any] = field(default_factory=list)
    _keys: int = 0
    _accrued: int = 0
    _paid: int = 0
    _guarded: bool = True
    _owed: dict[str, int] | None = None  # stakes before the last epoch, to restore

    async def start(self) -> None:
        subnet = await make_subnet(self.client, self.chain)
        self.netuid, self.owner = subnet.netuid, subnet.owner
        h = self.hyper
        # Set-up may cross epochs (nothing is registered yet): no guard until the end.
        self._guarded = False
        for name, value in (
            ("yuma3_enabled", h.yuma3),
            ("bonds_penalty", h.bonds_penalty),
            ("bonds_moving_avg", h.bonds_moving_average),
            ("liquid_alpha_enabled", h.liquid_alpha),
            ("immunity_period", 0),  # upstream's mock prunes without immunity
        ):
            await self._owner_sets(name, value)
        if h.liquid_alpha and h.alpha is not None:
            low, high = (round(a * U16_MAX) for a in h.alpha)  # stored as u16 on chain
            call = bt.calls.AdminUtils.sudo_set_alpha_values(
                netuid=self.netuid, alpha_low=low, alpha_high=high
            )
            await self._submit(call, self.owner)
        await self._sudo("sudo_set_kappa", netuid=self.netuid, kappa=h.kappa)
        threshold = h.stake_threshold * self.stake_unit
        await self._sudo("sudo_set_stake_threshold", min_stake=threshold)
        # Owners may not go below a tempo of 360 (the SDK refuses it); root may.
        await self._sudo("sudo_set_tempo", netuid=self.netuid, tempo=self.tempo)
        # Start the test at the top of a tempo: `tempo` blocks before the next epoch;
        # the owner cut of the epochs so far back off the owner's hotkey.
        await self._through_epoch()
        await self._restore_stakes()
        hotkey = self.owner.hotkey.ss58_address
        held = self.chain.state.hotkey_stake(hotkey, self.netuid)
        if held:
            call = bt.calls.SubtensorModule.remove_stake(
                hotkey=hotkey, netuid=self.netuid, amount_unstaked=held
            )
            await self._submit(call, self.owner)
        self._guarded = True

    async def _owner_sets(self, name: str, value: object) -> None:
        await self._restore_stakes()
        self._guard()
        intent = bt.SetHyperparameter(netuid=self.netuid, name=name, value=value)
        result = await self.client.execute(intent, self.owner)
        assert result.success, f"{name}: {result.message}"

    async def _sudo(self, setter: str, **params: object) -> None:
        inner = await self.client.compose(bt.calls.Call("AdminUtils", setter, dict(params)))
        await self._submit(bt.calls.Sudo.sudo(call=inner), wallet("//Alice"))

    async def _submit(self, call: Any, keys: Any, **kwargs: Any) -> None:
        await self._restore_stakes()
        self._guard()
        result = await self.client.submit_call(call, keys, **kwargs)
        assert result.success, result.message

    def _guard(self) -> None:
        """A submission seals the next block; it must not be the subnet's epoch block,
        or the epoch would run before the call (tests pick the tempo to avoid it)."""
        subnet = self.chain.state.subnets[self.netuid]
        if self._guarded:
            assert not is_epoch_block(subnet, self.chain.head + 1), "tempo too short for a test"

    async def add_neurons(self, stakes: list[int]) -> None:
        n_after = len(self.hotkeys) + len(stakes) + 1  # the owner holds UID 0
        await self._sudo("sudo_set_max_allowed_uids", netuid=self.netuid, max_allowed_uids=n_after)
        validators = min(self.hyper.max_validators, n_after)
        await self._sudo(
            "sudo_set_max_allowed_validators",
            netuid=self.netuid,
            max_allowed_validators=validators,
        )
        first = len(self.hotkeys)
        for _ in stakes:
            await self._register()
        for i, amount in enumerate(stakes):
            if amount:
                await self.add_stake(first + i, amount)

    async def _register(self) -> int:
        w = wallet("//Bob", f"u{self._keys}")
        self._keys += 1
        await self._restore_stakes()
        self._guard()
        result = await register_raw(self.client, self.netuid, w)
        assert result.success, result.message
        uid = self.chain.state.subnets[self.netuid].uid_of(w.hotkey.ss58_address)
        assert uid is not None
        if uid - 1 < len(self.hotkeys):
            self.hotkeys[uid - 1] = w
        else:
            self.hotkeys.append(w)
        return uid - 1

    async def add_stake(self, uid: int, amount: int) -> None:
        hotkey = self.hotkeys[uid].hotkey.ss58_address
        call = bt.calls.SubtensorModule.add_stake(
            hotkey=hotkey, netuid=self.netuid, amount_staked=amount * self.stake_unit
        )
        await self._submit(call, self.hotkeys[uid])

    async def register_new(self) -> int:
        return await self._register()

    async def stake_owner(self, amount: int) -> None:
        """Stake on the owner's hotkey (chain UID 0), as its coldkey."""
        call = bt.calls.SubtensorModule.add_stake(
            hotkey=self.owner.hotkey.ss58_address,
            netuid=self.netuid,
            amount_staked=amount * self.stake_unit,
        )
        await self._submit(call, self.owner)

    async def set_owner_weights(self, chain_dests: list[int], values: list[int]) -> None:
        """The owner's hotkey sets weights; destinations are chain UIDs."""
        await self._restore_stakes()
        self._guard()
        result = await set_weights_raw(self.client, self.netuid, self.owner, chain_dests, values)
        assert result.success, result.message

    async def set_weights(self, uid: int, dests: list[int], values: list[int]) -> None:
        await self._restore_stakes()
        self._guard()
        chain_dests = [d + 1 for d in dests]
        result = await set_weights_raw(
            self.client, self.netuid, self.hotkeys[uid], chain_dests, values
        )
        assert result.success, result.message

    async def next_block(self, blocks: int = 1) -> None:
        """`blocks` blocks, running the epochs that fall among them (on the chain the
        activity cutoff is at least a tempo, so waiting it out crosses epochs); one
        more epoch if the next block would be one, so a call can follow."""
        await self._restore_stakes()
        target = self.chain.head + blocks
        while self.chain.head < target:
            await self._seal_one()
        if is_epoch_block(self.chain.state.subnets[self.netuid], self.chain.head + 1):
            await self._through_epoch()

    async def set_liquid_alpha(self, on: bool) -> None:
        await self._owner_sets("liquid_alpha_enabled", on)

    async def mask_tempo(self, tempo: int) -> None:
        """No-op: the chain masks bonds to UIDs registered since its previous epoch, which
        no tempo setting moves (the tempo only schedules the epochs)."""

    async def activity_cutoff(self) -> int:
        """The cutoff the chain's epoch uses, as the SDK reports it."""
        hp = await self.client.subnets.subnet_hyperparameters(self.netuid)
        return int(hp["activity_cutoff"])

    async def epoch(self) -> Snapshot:
        """Advance until the subnet's next epoch has run, then read it through the SDK."""
        return await self._read(await self._through_epoch())

    async def _through_epoch(self) -> int:
        """Seal blocks up to and including the subnet's next epoch; returns its block."""
        await self._restore_stakes()
        subnet = self.chain.state.subnets[self.netuid]
        while not is_epoch_block(subnet, self.chain.head + 1):
            self.chain.advance(1)
        epoch_block = self.chain.head + 1
        await self._seal_one()
        return epoch_block

    async def _seal_one(self) -> None:
        await self._restore_stakes()
        subnet = self.chain.state.subnets[self.netuid]
        if not is_epoch_block(subnet, self.chain.head + 1):
            self.chain.advance(1)
            return
        # What the epoch must pay: everything accrued up to and including its block;
        # what it paid: the issuance it added (an advanced block carries nothing else).
        state = self.chain.state
        self._accrued = pending_emission(state, subnet, self.chain.head + 1)
        issued, before = state.total_issuance, dict(state.stakes)
        self.chain.advance(1)
        self._paid = self.chain.state.total_issuance - issued
        self._owed = before

    async def _restore_stakes(self) -> None:
        """Take back, as each coldkey, what the last epoch credited to its hotkeys; done
        before the next step, so a test that ends after an epoch pays nothing for it."""
        before, self._owed = self._owed, None
        if before is None:
            return
        for key, amount in list(self.chain.state.stakes.items()):
            hotkey, coldkey, netuid = parse_stake_key(key)
            paid = amount - before.get(key, 0)
            owners = hotkey == self.owner.hotkey.ss58_address
            if netuid != self.netuid or paid <= 0 or not (self.keep_stakes or owners):
                continue
            signer = self.owner if coldkey == self.owner.coldkey.ss58_address else wallet("//Bob")
            call = bt.calls.SubtensorModule.remove_stake(
                hotkey=hotkey, netuid=self.netuid, amount_unstaked=paid
            )
            await self._submit(call, signer)

    async def _read(self, epoch_block: int) -> Snapshot:
        graph = await self.client.subnets.metagraph(self.netuid)
        raw = graph.raw
        n = len(self.hotkeys)
        rest = self._accrued - self._accrued * SUBNET_OWNER_CUT_U16 // U16_MAX
        history = self.chain.epoch_history(self.netuid, since_block=epoch_block)
        server = {
            row["uid"]: row["server_emission"] for row in history if row["block"] == epoch_block
        }
        bonds = [[0] * n for _ in range(n)]
        for i, row in (await self.client.weights.bonds(self.netuid)).items():
            for j, frac in row.items():
                if 1 <= i <= n and 1 <= j <= n:
                    bonds[i - 1][j - 1] = round(frac * U16_MAX)

        def col(key: str) -> list[int]:
            return [int(v) for v in raw[key][1 : n + 1]]

        return Snapshot(
            rank=col("rank"),
            trust=col("trust"),
            consensus=col("consensus"),
            incentive=col("incentives"),
            dividends=col("dividends"),
            pruning_score=col("pruning_score"),
            validator_permit=[bool(p) for p in raw["validator_permit"][1 : n + 1]],
            emission=[int(e) / rest for e in raw["emission"][1 : n + 1]],
            server_emission=[server.get(i + 1, 0) / rest for i in range(n)],
            bonds=bonds,
            paid=self._paid,
            accrued=self._accrued,
        )


@asynccontextmanager
async def open_path(kind: str, hyper: Hyper, **chain_options: Any) -> AsyncIterator[Any]:
    """A started path of `kind` ("direct" or "chain") with `hyper` set."""
    if kind == "direct":  # chain_options only shape the chain
        yield DirectPath(hyper)
        return
    chain = Chain()
    try:
        substrate = LocalnetSubstrate(InProcessBackend(chain))
        async with bt.Client("local", substrate=substrate) as client:
            path = ChainPath(hyper, chain, client, **chain_options)
            await path.start()
            yield path
    finally:
        chain.close()
