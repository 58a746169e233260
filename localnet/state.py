"""The chain's state: plain pydantic models.

Everything an extrinsic or an epoch can change lives here. The store keeps
it as periodic snapshots of this document plus each block's journal (its
extrinsics), so a block writes only what it carried (localnet/store.py).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from wmnet.localnet.params import (
    DEFAULT_HYPERPARAMS,
    SUBNET_OWNER_CUT_U16,
    U16_MAX,
    activity_cutoff_blocks,
)


class Account(BaseModel):
    free: int = 0
    nonce: int = 0


class AxonInfo(BaseModel):
    block: int
    version: int
    ip: int
    port: int
    ip_type: int = 4
    protocol: int = 4
    placeholder1: int = 0
    placeholder2: int = 0


class Neuron(BaseModel):
    uid: int
    hotkey: str
    coldkey: str
    registered_at: int
    last_update: int = 0
    axon: AxonInfo | None = None
    active: bool = True
    validator_permit: bool = False
    # Epoch outputs, stored as subtensor stores them (u16 fractions, rao).
    rank: int = 0
    trust: int = 0
    consensus: int = 0
    incentive: int = 0
    dividends: int = 0
    validator_trust: int = 0
    pruning_score: int = 0
    emission: int = 0


class TimelockedCommit(BaseModel):
    """A commit-reveal weight commit; stored and listed, never revealed offline."""

    hotkey: str
    block: int
    commit: str  # 0x-hex ciphertext
    reveal_round: int
    commit_reveal_version: int


class Subnet(BaseModel):
    netuid: int
    owner_coldkey: str
    owner_hotkey: str
    registered_at: int
    locked: int
    first_emission_block: int | None = None
    hyperparams: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_HYPERPARAMS))
    neurons: list[Neuron] = Field(default_factory=list)
    # uid -> [(dest uid, u16 weight)], exactly subtensor's Weights/Bonds rows.
    weights: dict[int, list[tuple[int, int]]] = Field(default_factory=dict)
    bonds: dict[int, list[tuple[int, int]]] = Field(default_factory=dict)
    timelocked_commits: list[TimelockedCommit] = Field(default_factory=list)
    # Subtensor's stateful epoch schedule: LastEpochBlock (the slot last consumed),
    # PendingEpochAt (a deferred or triggered epoch), LastMechansimStepBlock (the last
    # epoch that ran; its spelling is subtensor's) and SubnetEpochIndex.
    last_epoch_block: int = 0
    pending_epoch_at: int = 0
    last_step_block: int = 0
    epoch_index: int = 0
    # Emission accrues per block from `accrued_since` on (lazily: see localnet/emission.py)
    # into subtensor's pending maps, and is paid at the epoch.
    accrued_since: int = 0
    pending_server: int = 0
    pending_validator: int = 0
    pending_owner_cut: int = 0
    registrations_this_block: int = 0
    last_registration_block: int = 0
    name: str = ""

    @model_validator(mode="before")
    @classmethod
    def _split_legacy_pending(cls, data: object) -> object:
        """A state written before the pending maps kept one `pending_emission` total:
        split it as the chain splits a block's emission (owner cut, then halves)."""
        if isinstance(data, dict) and "pending_emission" in data:
            data = dict(data)
            total = int(data.pop("pending_emission"))
            owner = total * SUBNET_OWNER_CUT_U16 // U16_MAX
            data.setdefault("pending_owner_cut", owner)
            data.setdefault("pending_server", (total - owner) // 2)
            data.setdefault("pending_validator", total - owner - (total - owner) // 2)
        return data

    def hp(self, name: str) -> int:
        return int(self.hyperparams.get(name, DEFAULT_HYPERPARAMS.get(name, 0)))

    def blocks_since_last_step(self, block: int) -> int:
        """Subtensor's BlocksSinceLastStep at ``block``: counted up each block, capped at
        tempo + 1, reset by an epoch that runs; derived instead of written every block."""
        anchor = max(self.last_step_block, self.registered_at)
        return min(max(block - anchor, 0), self.hp("Tempo") + 1)

    def activity_cutoff(self) -> int:
        """The cutoff the epoch uses: ActivityCutoffFactorMilli of the current tempo."""
        return activity_cutoff_blocks(self.hp("ActivityCutoffFactorMilli"), self.hp("Tempo"))

    def uid_of(self, hotkey: str) -> int | None:
        for neuron in self.neurons:
            if neuron.hotkey == hotkey:
                return neuron.uid
        return None


class ChainState(BaseModel):
    block: int = 0
    genesis_hash: str = ""
    accounts: dict[str, Account] = Field(default_factory=dict)
    subnets: dict[int, Subnet] = Field(default_factory=dict)
    # "hotkey|coldkey|netuid" -> alpha rao (1 alpha == 1 TAO in this chain).
    stakes: dict[str, int] = Field(default_factory=dict)
    # hotkey -> owning coldkey (subtensor's Owner map).
    hotkey_owner: dict[str, str] = Field(default_factory=dict)
    sudo_key: str = ""
    last_lock_cost: int = 0
    last_lock_block: int = 0
    total_issuance: int = 0
    stake_threshold: int = 0

    def account(self, address: str) -> Account:
        """The account to change, created if absent: only for writes that succeed."""
        return self.accounts.setdefault(address, Account())

    def find_account(self, address: str) -> Account | None:
        """The account if it exists; reads and checks never create one."""
        return self.accounts.get(address)

    def hotkey_stake(self, hotkey: str, netuid: int) -> int:
        """Total alpha on a hotkey on a subnet, over all its stakers."""
        prefix, suffix = f"{hotkey}|", f"|{netuid}"
        return sum(v for k, v in self.stakes.items() if k.startswith(prefix) and k.endswith(suffix))


def stake_key(hotkey: str, coldkey: str, netuid: int) -> str:
    return f"{hotkey}|{coldkey}|{netuid}"


def parse_stake_key(key: str) -> tuple[str, str, int]:
    hotkey, coldkey, netuid = key.split("|")
    return hotkey, coldkey, int(netuid)
