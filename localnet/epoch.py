"""Run a subnet's epoch: gather Yuma's inputs from state, run it, pay emission.

The Yuma arithmetic lives in :mod:`localnet.yuma` (pure numpy) and the rao split
in :mod:`localnet.payout`; this module is the glue that reads the subnet (its
`Yuma3On` picks the bonds branch, its activity cutoff follows the tempo), writes
the results back the way subtensor stores them (u16 by truncation, bonds as
returned, rao), and credits emission as stake. Every rao accrued is paid: owner +
miners + validators equals the pending emission.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wmnet.localnet.emission import pending_emission
from wmnet.localnet.params import SUBNET_OWNER_CUT_U16, U16_MAX
from wmnet.localnet.payout import pay_epoch
from wmnet.localnet.state import ChainState, Subnet, stake_key
from wmnet.localnet.yuma import EpochInput, YumaParams, run_epoch


@dataclass(frozen=True)
class EpochRecord:
    """One UID's share of one epoch, kept for history (the ledger reads it)."""

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


def is_epoch_block(subnet: Subnet, block: int) -> bool:
    """subtensor's schedule: blocks_until_next_epoch(netuid, tempo, block) == 0."""
    tempo = subnet.hp("Tempo")
    if tempo == 0:
        return False
    return (block + subnet.netuid + 1) % (tempo + 1) == 0


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


def run_subnet_epoch(state: ChainState, subnet: Subnet, block: int) -> list[EpochRecord]:
    """Run Yuma for ``subnet`` at ``block`` and distribute its pending emission."""
    n = len(subnet.neurons)
    emission = pending_emission(state, subnet, block)
    subnet.pending_emission = 0
    subnet.accrued_since = block + 1
    previous_epoch = subnet.last_epoch_block
    subnet.last_epoch_block = block
    if n == 0:
        # Nobody to run Yuma over: the owner's hotkey takes it, so nothing is lost.
        _pay_owner(state, subnet, emission)
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
        last_epoch_block=previous_epoch,
    )
    out = run_epoch(inputs, yuma_params(state, subnet))
    payout = pay_epoch(out, emission, SUBNET_OWNER_CUT_U16)
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
        paid = int(server[i]) + int(validator[i])
        neuron.emission = paid
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
                emission=paid,
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
    return records


def _pay_owner(state: ChainState, subnet: Subnet, amount: int) -> None:
    """The owner cut (and any part no UID could take) lands on the owner's hotkey."""
    if amount:
        _credit(state, subnet.owner_hotkey, subnet.netuid, amount)
        state.total_issuance += amount


def _credit(state: ChainState, hotkey: str, netuid: int, amount: int) -> None:
    """Emission lands as alpha stake on the hotkey, owned by its coldkey."""
    coldkey = state.hotkey_owner.get(hotkey, hotkey)
    key = stake_key(hotkey, coldkey, netuid)
    state.stakes[key] = state.stakes.get(key, 0) + amount
