"""Run a subnet's epoch: when it is due, gather Yuma's inputs, run it, pay emission.

The schedule is subtensor's stateful one (`run_coinbase/drain_pending_emissions.rs`,
`should_run_epoch`): an epoch is due once `tempo` blocks have passed since
`LastEpochBlock`, at a `PendingEpochAt` block, or when `BlocksSinceLastStep` exceeds the
tempo; at most `MAX_EPOCHS_PER_BLOCK` run per block and the rest are deferred a block.

The Yuma arithmetic lives in :mod:`localnet.yuma` (float64) and the rao in
:mod:`localnet.payout` (subtensor's fixed point, truncating); this module is the glue
that reads the subnet (its `Yuma3On` picks the bonds branch, its activity cutoff follows
the tempo), writes the results back the way subtensor stores them (u16 by truncation,
bonds as returned, `Emission` per UID in rao), and credits what the epoch pays as stake.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmnet.localnet.emission import drain_pending
from wmnet.localnet.params import DEFAULT_DELEGATE_TAKE_U16, U16_MAX
from wmnet.localnet.payout import distribute, epoch_emission
from wmnet.localnet.state import ChainState, Subnet, stake_key
from wmnet.localnet.yuma import EpochInput, YumaParams, run_epoch


@dataclass(frozen=True)
class EpochRecord:
    """One UID's share of one epoch, kept for history (the ledger reads it).

    ``emission`` is subtensor's `Emission` value (the metagraph's column);
    ``server_emission`` and ``validator_emission`` are what the epoch credited.
    """

    netuid: int
    block: int
    uid: int
    hotkey: str
    coldkey: str
    stake: int
    incentive: float
    dividends: float
    emission: int
    server_emission: int
    validator_emission: int
    validator_permit: bool


def should_run_epoch(subnet: Subnet, block: int) -> bool:
    """subtensor's `should_run_epoch_given_tempo` at ``block``."""
    tempo = subnet.hp("Tempo")
    if tempo == 0:
        return False
    if subnet.pending_epoch_at > 0 and block >= subnet.pending_epoch_at:
        return True
    if subnet.blocks_since_last_step(block) > tempo:
        return True
    return max(block - subnet.last_epoch_block, 0) >= tempo


def next_epoch_block(subnet: Subnet) -> int | None:
    """subtensor's `get_next_epoch_start_block`: LastEpochBlock + tempo, or a sooner
    PendingEpochAt; None with tempo 0."""
    tempo = subnet.hp("Tempo")
    if tempo == 0:
        return None
    auto = subnet.last_epoch_block + tempo
    return min(auto, subnet.pending_epoch_at) if subnet.pending_epoch_at > 0 else auto


def initial_last_epoch_block(netuid: int, tempo: int, block: int) -> int:
    """`init_new_network`'s LastEpochBlock: the registration block, staggered by netuid."""
    return max(block - netuid % max(tempo, 1), 0)


def yuma_params(state: ChainState, subnet: Subnet) -> YumaParams:
    return YumaParams(
        kappa=subnet.hp("Kappa") / U16_MAX,
        activity_cutoff=subnet.activity_cutoff(),
        max_allowed_validators=subnet.hp("MaxAllowedValidators"),
        bonds_moving_average=subnet.hp("BondsMovingAverage"),
        bonds_penalty=subnet.hp("BondsPenalty") / U16_MAX,
        liquid_alpha_enabled=bool(subnet.hp("LiquidAlphaOn")),
        alpha_low=subnet.hp("AlphaLow") / U16_MAX,
        alpha_high=subnet.hp("AlphaHigh") / U16_MAX,
        alpha_sigmoid_steepness=float(subnet.hp("AlphaSigmoidSteepness")),
        stake_threshold=float(state.stake_threshold),
        yuma3=bool(subnet.hp("Yuma3On")),
    )


def stake_vector(state: ChainState, subnet: Subnet) -> np.ndarray:
    totals: dict[str, int] = {}
    suffix = f"|{subnet.netuid}"
    for key, amount in state.stakes.items():
        if key.endswith(suffix):
            hotkey = key.split("|", 1)[0]
            totals[hotkey] = totals.get(hotkey, 0) + amount
    return np.array([float(totals.get(n.hotkey, 0)) for n in subnet.neurons], dtype=np.float64)


def _matrix(rows: dict[int, list[tuple[int, int]]], n: int) -> np.ndarray:
    out = np.zeros((n, n), dtype=np.float64)
    for i, row in rows.items():
        if i >= n:
            continue
        for j, value in row:
            if j < n:
                out[i, j] = value
    return out


def _bonds_last_tempo(subnet: Subnet, block: int) -> int:
    """`epoch_mechanism`'s bonds mask for dynamic tempo: bonds to UIDs registered at or
    after `last_tempo` go, where `last_tempo` is the block after the last epoch that ran
    (`LastMechansimStepBlock + 1`), or `block - tempo` before any has."""
    if subnet.last_step_block == 0:
        return max(block - subnet.hp("Tempo"), 0)
    return subnet.last_step_block + 1


def owner_hotkeys(state: ChainState, subnet: Subnet) -> np.ndarray:
    """UIDs whose hotkey the subnet owner's coldkey owns (the owner's hotkey first among
    them): `owner_immune_hotkeys_on_subnet`, whose incentive is burned."""
    return np.array(
        [
            n.hotkey == subnet.owner_hotkey
            or state.hotkey_owner.get(n.hotkey) == subnet.owner_coldkey
            for n in subnet.neurons
        ],
        dtype=bool,
    )


def run_subnet_epoch(state: ChainState, subnet: Subnet, block: int) -> list[EpochRecord]:
    """Run Yuma for ``subnet`` at ``block`` and distribute its pending emission."""
    pending = drain_pending(state, subnet, block)
    n = len(subnet.neurons)
    if n == 0:
        # Nobody to run Yuma over: only the owner cut has a taker.
        _pay_owner(state, subnet, pending.owner_cut)
        subnet.last_step_block = block
        return []

    owner_uid = subnet.uid_of(subnet.owner_hotkey)
    stake = stake_vector(state, subnet)
    inputs = EpochInput(
        block=block,
        stake=stake,
        last_update=np.array([nr.last_update for nr in subnet.neurons], dtype=np.int64),
        block_at_registration=np.array([nr.registered_at for nr in subnet.neurons], dtype=np.int64),
        validator_permit=np.array([nr.validator_permit for nr in subnet.neurons], dtype=bool),
        weights=_matrix(subnet.weights, n),
        bonds=_matrix(subnet.bonds, n),
        owner_uid=owner_uid,
        # run_epoch masks bonds to UIDs registered after this block.
        last_epoch_block=_bonds_last_tempo(subnet, block) - 1,
    )
    out = run_epoch(inputs, yuma_params(state, subnet))
    emission = epoch_emission(out, pending.server + pending.validator)
    payout = distribute(emission, pending, owner_hotkeys(state, subnet), DEFAULT_DELEGATE_TAKE_U16)
    server, validator = payout.server, payout.validator
    # Per-UID vectors as subtensor stores them: fixed_proportion_to_u16 (truncation),
    # pruning scores max-upscaled.
    stored = out.as_u16()

    records: list[EpochRecord] = []
    for i, neuron in enumerate(subnet.neurons):
        neuron.active = bool(out.active[i])
        neuron.validator_permit = bool(out.validator_permit[i])
        neuron.rank = int(stored["Rank"][i])
        neuron.trust = int(stored["Trust"][i])
        neuron.consensus = int(stored["Consensus"][i])
        neuron.incentive = int(stored["Incentive"][i])
        neuron.dividends = int(stored["Dividends"][i])
        neuron.validator_trust = int(stored["ValidatorTrust"][i])
        neuron.pruning_score = int(stored["PruningScores"][i])
        neuron.emission = int(emission.combined[i])
        paid = int(server[i]) + int(validator[i])
        if paid:
            _credit(state, neuron.hotkey, subnet.netuid, paid)
        records.append(
            EpochRecord(
                netuid=subnet.netuid,
                block=block,
                uid=i,
                hotkey=neuron.hotkey,
                coldkey=neuron.coldkey,
                stake=int(stake[i]),
                incentive=float(out.incentive[i]),
                dividends=float(out.dividends[i]),
                emission=int(emission.combined[i]),
                server_emission=int(server[i]),
                validator_emission=int(validator[i]),
                validator_permit=bool(out.validator_permit[i]),
            )
        )
    bonds = np.asarray(out.bonds)
    subnet.bonds = {
        i: [(j, int(bonds[i, j])) for j in range(n) if bonds[i, j] > 0]
        for i in range(n)
        if bonds[i].any()
    }
    state.total_issuance += int(server.sum()) + int(validator.sum())
    _pay_owner(state, subnet, payout.owner)
    subnet.last_step_block = block
    return records


def _pay_owner(state: ChainState, subnet: Subnet, amount: int) -> None:
    """The owner cut lands on the owner's hotkey, owned by the owner's coldkey."""
    if amount:
        _credit(state, subnet.owner_hotkey, subnet.netuid, amount)
        state.total_issuance += amount


def _credit(state: ChainState, hotkey: str, netuid: int, amount: int) -> None:
    """Emission lands as alpha stake on the hotkey, owned by its coldkey."""
    coldkey = state.hotkey_owner.get(hotkey, hotkey)
    key = stake_key(hotkey, coldkey, netuid)
    state.stakes[key] = state.stakes.get(key, 0) + amount
