"""`ChainPath`: subtensor's epoch tests on an in-process chain driven through the SDK.

See `tests/localnet/epoch_paths.py` for the two paths and what they share. Here the
subnet is built as a user would build it: hyperparameters as the owner
(`SetHyperparameter`) or as sudo (`Sudo.sudo`), `burned_register`, `add_stake`,
`set_mechanism_weights`; blocks are advanced until the subnet's own epoch runs, and the
metagraph and the Bonds map are read back through `bittensor.Client`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import bittensor as bt

from tests.localnet.conftest import make_subnet, register_raw, set_weights_raw, wallet
from tests.localnet.epoch_paths import Hyper, Snapshot
from wmnet.localnet.chain import Chain
from wmnet.localnet.emission import pending_emission
from wmnet.localnet.epoch import should_run_epoch
from wmnet.localnet.params import RAO_PER_TAO, U16_MAX
from wmnet.localnet.payout import PendingEmission
from wmnet.localnet.state import parse_stake_key

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
    _accrued: PendingEmission = field(default_factory=PendingEmission)
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
            assert not should_run_epoch(subnet, self.chain.head + 1), "tempo too short for a test"

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
        if should_run_epoch(self.chain.state.subnets[self.netuid], self.chain.head + 1):
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
        while not should_run_epoch(subnet, self.chain.head + 1):
            self.chain.advance(1)
        epoch_block = self.chain.head + 1
        await self._seal_one()
        return epoch_block

    async def _seal_one(self) -> None:
        await self._restore_stakes()
        subnet = self.chain.state.subnets[self.netuid]
        if not should_run_epoch(subnet, self.chain.head + 1):
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
        rest = self._accrued.server + self._accrued.validator
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
            emission_rao=[int(e) for e in raw["emission"][1 : n + 1]],
            rao_emission=rest,
            paid=self._paid,
            accrued=self._accrued.total,
        )
