"""Storage reads by subtensor's (pallet, item) names, answered from state.

Each reader takes the state and the query's params and returns the plain
decoded value a real node returns (None where the node has no entry), so
SDK code reading ``SubtensorModule.Tempo`` or ``System.Account`` works
unchanged. ``MAP_READERS`` answer ``query_map`` with (key, value) pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wmnet.localnet.emission import pending_emission
from wmnet.localnet.params import (
    DEFAULT_HYPERPARAMS,
    MEV_KEY_BYTES,
    STORAGE_DEFAULTS,
    SUBNET_OWNER_CUT_U16,
)
from wmnet.localnet.registry import Registry
from wmnet.localnet.state import ChainState, Subnet, parse_stake_key, stake_key

GLOBAL_MAX_SUBNET_COUNT = 4096
Reader = Callable[[ChainState, list[Any]], Any]
MapReader = Callable[[ChainState, list[Any]], list[tuple[Any, Any]]]
READERS: Registry[tuple[str, str], Reader] = Registry("storage reader")
MAP_READERS: Registry[tuple[str, str], MapReader] = Registry("storage map reader")

# Storage items that are plain per-subnet hyperparameters, by storage name.
_HYPERPARAM_ITEMS = set(DEFAULT_HYPERPARAMS) | {"AlphaValues"}


def reader(module: str, *items: str) -> Callable[[Reader], Reader]:
    return READERS.register(*((module, item) for item in items))


def _subnet(state: ChainState, params: list[Any], position: int = 0) -> Subnet | None:
    try:
        value = params[position]
    except IndexError:
        raise ValueError("this storage item is keyed by netuid; no netuid given") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"netuid must be an integer, got {value!r}")
    netuid = value
    # Mechanism-indexed maps use mechid * 4096 + netuid; mechid 0 is the netuid.
    return state.subnets.get(netuid % GLOBAL_MAX_SUBNET_COUNT)


def _account_info(state: ChainState, address: str) -> dict[str, Any]:
    account = state.accounts.get(address)
    free = account.free if account else 0
    nonce = account.nonce if account else 0
    return {
        "nonce": nonce,
        "consumers": 0,
        "providers": 1 if free else 0,
        "sufficients": 0,
        "data": {"free": free, "reserved": 0, "frozen": 0, "flags": 0},
    }


@reader("System", "Account")
def _system_account(state: ChainState, params: list[Any]) -> Any:
    return _account_info(state, str(params[0]))


@reader("System", "Number")
def _system_number(state: ChainState, params: list[Any]) -> Any:
    return state.block


@reader("Balances", "TotalIssuance")
def _total_issuance(state: ChainState, params: list[Any]) -> Any:
    return state.total_issuance


@reader("Sudo", "Key")
def _sudo_key(state: ChainState, params: list[Any]) -> Any:
    return state.sudo_key


@reader("MevShield", "NextKey", "CurrentKey")
def _mev_key(state: ChainState, params: list[Any]) -> Any:
    # A well-formed encapsulation key the chain holds no secret for (calls/mev.py).
    return "0x" + (b"\x01" * MEV_KEY_BYTES).hex()


def _hyperparam(state: ChainState, params: list[Any], item: str) -> Any:
    subnet = _subnet(state, params)
    if item == "AlphaValues":
        if subnet is None:
            return [DEFAULT_HYPERPARAMS["AlphaLow"], DEFAULT_HYPERPARAMS["AlphaHigh"]]
        return [subnet.hp("AlphaLow"), subnet.hp("AlphaHigh")]
    return STORAGE_DEFAULTS[item] if subnet is None else subnet.hp(item)


for _item in _HYPERPARAM_ITEMS:
    READERS.add(
        ("SubtensorModule", _item),
        lambda state, params, item=_item: _hyperparam(state, params, item),
    )


@reader("SubtensorModule", "StakeThreshold")
def _stake_threshold(state: ChainState, params: list[Any]) -> Any:
    return state.stake_threshold


# Per-subnet scalars: (value for an existing subnet, default where none exists).
_SUBNET_SCALARS: dict[str, tuple[Callable[[ChainState, Subnet], Any], Any]] = {
    "SubnetOwner": (lambda st, s: s.owner_coldkey, None),
    "SubnetOwnerHotkey": (lambda st, s: s.owner_hotkey, None),
    "NetworksAdded": (lambda st, s: True, False),
    "SubnetLocked": (lambda st, s: s.locked, None),
    "NetworkRegisteredAt": (lambda st, s: s.registered_at, None),
    "FirstEmissionBlockNumber": (lambda st, s: s.first_emission_block, None),
    "SubtokenEnabled": (lambda st, s: s.first_emission_block is not None, False),
    "SubnetworkN": (lambda st, s: len(s.neurons), 0),
    "LastEpochBlock": (lambda st, s: s.last_epoch_block, 0),
    "PendingEpochAt": (lambda st, s: s.pending_epoch_at, 0),
    "SubnetEpochIndex": (lambda st, s: s.epoch_index, 0),
    "LastMechansimStepBlock": (lambda st, s: s.last_step_block, 0),
    "BlocksSinceLastStep": (lambda st, s: s.blocks_since_last_step(st.block), 0),
    "PendingServerEmission": (lambda st, s: pending_emission(st, s, st.block).server, 0),
    "PendingValidatorEmission": (lambda st, s: pending_emission(st, s, st.block).validator, 0),
    "PendingOwnerCut": (lambda st, s: pending_emission(st, s, st.block).owner_cut, 0),
    "SubnetEpochConsensus": (lambda st, s: "Yuma", None),
    "MechanismCountCurrent": (lambda st, s: 1, 0),
}


def _subnet_scalar(item: str) -> Reader:
    value, default = _SUBNET_SCALARS[item]

    def read(state: ChainState, params: list[Any]) -> Any:
        subnet = _subnet(state, params)
        return default if subnet is None else value(state, subnet)

    return read


for _item in _SUBNET_SCALARS:
    READERS.add(("SubtensorModule", _item), _subnet_scalar(_item))


def _per_subnet_map(read: Reader) -> MapReader:
    """query_map over a netuid-keyed item: one (netuid, value) row per subnet."""

    def rows(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
        return [(netuid, read(state, [netuid])) for netuid in sorted(state.subnets)]

    return rows


# subnets.all() lists subnets with four map queries: NetworksAdded, Tempo, Burn, SubnetworkN.
for _item in sorted(_HYPERPARAM_ITEMS - {"AlphaValues"}) + ["SubnetworkN"]:
    MAP_READERS.add(
        ("SubtensorModule", _item), _per_subnet_map(READERS[("SubtensorModule", _item)])
    )


@reader("SubtensorModule", "TotalNetworks")
def _total_networks(state: ChainState, params: list[Any]) -> Any:
    return len(state.subnets)


@reader("SubtensorModule", "SubnetOwnerCut")
def _owner_cut(state: ChainState, params: list[Any]) -> Any:
    return SUBNET_OWNER_CUT_U16


@reader("SubtensorModule", "CollateralLockShare", "SubnetMechanism")
def _zero(state: ChainState, params: list[Any]) -> Any:
    return 0


@reader("SubtensorModule", "NetworkLastLockCost")
def _last_lock(state: ChainState, params: list[Any]) -> Any:
    return state.last_lock_cost


@reader("SubtensorModule", "Uids")
def _uids(state: ChainState, params: list[Any]) -> Any:
    subnet = _subnet(state, params)
    return subnet.uid_of(str(params[1])) if subnet else None


@reader("SubtensorModule", "Keys")
def _keys(state: ChainState, params: list[Any]) -> Any:
    subnet = _subnet(state, params)
    uid = int(params[1])
    if subnet is None or not 0 <= uid < len(subnet.neurons):
        return None
    return subnet.neurons[uid].hotkey


@reader("SubtensorModule", "Owner")
def _owner(state: ChainState, params: list[Any]) -> Any:
    return state.hotkey_owner.get(str(params[0]))


@reader("SubtensorModule", "OwnedHotkeys")
def _owned_hotkeys(state: ChainState, params: list[Any]) -> Any:
    return [h for h, c in state.hotkey_owner.items() if c == str(params[0])]


@reader("SubtensorModule", "IsNetworkMember")
def _is_member(state: ChainState, params: list[Any]) -> Any:
    subnet = _subnet(state, params, 1)
    return bool(subnet and subnet.uid_of(str(params[0])) is not None)


def _column(name: str) -> Reader:
    def read(state: ChainState, params: list[Any]) -> Any:
        subnet = _subnet(state, params)
        return [getattr(n, name) for n in subnet.neurons] if subnet else []

    return read


for _item, _field in {
    "LastUpdate": "last_update",
    "ValidatorPermit": "validator_permit",
    "Active": "active",
    "Rank": "rank",
    "Trust": "trust",
    "Consensus": "consensus",
    "Incentive": "incentive",
    "Dividends": "dividends",
    "ValidatorTrust": "validator_trust",
    "PruningScores": "pruning_score",
    "Emission": "emission",
}.items():
    READERS.add(("SubtensorModule", _item), _column(_field))


@reader("SubtensorModule", "BlockAtRegistration")
def _block_at_registration(state: ChainState, params: list[Any]) -> Any:
    subnet = _subnet(state, params)
    uid = int(params[1])
    if subnet is None or not 0 <= uid < len(subnet.neurons):
        return 0
    return subnet.neurons[uid].registered_at


@reader("SubtensorModule", "Axons")
def _axons(state: ChainState, params: list[Any]) -> Any:
    subnet = _subnet(state, params)
    uid = subnet.uid_of(str(params[1])) if subnet else None
    if uid is None or subnet.neurons[uid].axon is None:
        return None
    return subnet.neurons[uid].axon.model_dump()


@reader("SubtensorModule", "Alpha", "TotalHotkeyAlpha")
def _alpha(state: ChainState, params: list[Any]) -> Any:
    if len(params) >= 3:  # Alpha(hotkey, coldkey, netuid)
        return state.stakes.get(stake_key(str(params[0]), str(params[1]), int(params[2])), 0)
    return state.hotkey_stake(str(params[0]), int(params[1]))  # TotalHotkeyAlpha(hotkey, netuid)


def _matrix_rows(subnet: Subnet, name: str) -> dict[int, list[tuple[int, int]]]:
    return subnet.weights if name == "Weights" else subnet.bonds


def _row_reader(name: str) -> Reader:
    """Weights/Bonds(netuid, uid): one row, empty where none is stored (ValueQuery)."""

    def read(state: ChainState, params: list[Any]) -> Any:
        subnet = _subnet(state, params)
        if subnet is None:
            return []
        return [list(p) for p in _matrix_rows(subnet, name).get(int(params[1]), [])]

    return read


def _map_rows(name: str) -> Callable[[ChainState, list[Any]], list[tuple[Any, Any]]]:
    def read(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
        subnet = _subnet(state, params)
        if subnet is None:
            return []
        rows = _matrix_rows(subnet, name)
        return [(uid, [list(p) for p in row]) for uid, row in sorted(rows.items())]

    return read


for _item in ("Weights", "Bonds"):
    READERS.add(("SubtensorModule", _item), _row_reader(_item))
    MAP_READERS.add(("SubtensorModule", _item), _map_rows(_item))


def _timelocked(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
    from wmnet.localnet.calls.weights import epoch_index

    subnet = _subnet(state, params)
    if subnet is None:
        return []
    by_epoch: dict[int, list[Any]] = {}
    for c in subnet.timelocked_commits:
        by_epoch.setdefault(epoch_index(subnet, c.block), []).append(
            [c.hotkey, c.block, c.commit, c.reveal_round]
        )
    return sorted(by_epoch.items())


MAP_READERS.add(("SubtensorModule", "TimelockedWeightCommits"), _timelocked)
MAP_READERS.add(("SubtensorModule", "CRV3WeightCommitsV2"), _timelocked)


def _uids_map(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
    subnet = _subnet(state, params)
    return [(n.hotkey, n.uid) for n in subnet.neurons] if subnet else []


MAP_READERS.add(("SubtensorModule", "Uids"), _uids_map)


def _is_member_map(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
    hotkey = str(params[0])
    return [
        (netuid, True)
        for netuid, s in sorted(state.subnets.items())
        if s.uid_of(hotkey) is not None
    ]


MAP_READERS.add(("SubtensorModule", "IsNetworkMember"), _is_member_map)


def _empty_map(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
    return []


for _item in ("CommitmentOf", "RevealedCommitments"):
    MAP_READERS.add(("Commitments", _item), _empty_map)


def _token_symbols(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
    return [(netuid, list(f"SN{netuid}".encode())) for netuid in sorted(state.subnets)]


MAP_READERS.add(("SubtensorModule", "TokenSymbol"), _token_symbols)


def _networks_added_map(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
    return [(netuid, True) for netuid in sorted(state.subnets)]


MAP_READERS.add(("SubtensorModule", "NetworksAdded"), _networks_added_map)


def _alpha_map(state: ChainState, params: list[Any]) -> list[tuple[Any, Any]]:
    rows = []
    for key, amount in state.stakes.items():
        hotkey, coldkey, netuid = parse_stake_key(key)
        if params and str(params[0]) != hotkey:
            continue
        rows.append(((coldkey, netuid), amount))
    return rows


MAP_READERS.add(("SubtensorModule", "Alpha"), _alpha_map)
