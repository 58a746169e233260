"""Runtime API answers (``state_call``) with the keys subtensor's carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wmnet.localnet.calls.subnets import network_lock_cost
from wmnet.localnet.emission import pending_emission
from wmnet.localnet.epoch import next_epoch_block
from wmnet.localnet.params import RAO_PER_TAO
from wmnet.localnet.registry import Registry
from wmnet.localnet.state import ChainState, Neuron, Subnet, parse_stake_key

RuntimeFn = Callable[[ChainState, Any], Any]
RUNTIME: Registry[tuple[str, str], RuntimeFn] = Registry("runtime API")


def runtime(api: str, method: str) -> Callable[[RuntimeFn], RuntimeFn]:
    return RUNTIME.register((api, method))


def _arg(params: Any, index: int, name: str) -> Any:
    if isinstance(params, dict):
        return params[name]
    return params[index]


def _pending_alpha(state: ChainState, subnet: Subnet) -> int:
    """What the next epoch pays to UIDs so far (server + validator pending)."""
    pending = pending_emission(state, subnet, state.block)
    return pending.server + pending.validator


def _subnet(state: ChainState, params: Any) -> Subnet | None:
    try:
        return state.subnets.get(int(_arg(params, 0, "netuid")))
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _axon(neuron: Neuron) -> dict[str, Any]:
    if neuron.axon is None:
        return {
            "block": 0,
            "version": 0,
            "ip": 0,
            "port": 0,
            "ip_type": 0,
            "protocol": 0,
            "placeholder1": 0,
            "placeholder2": 0,
        }
    return neuron.axon.model_dump()


@runtime("SubnetInfoRuntimeApi", "get_metagraph")
def get_metagraph(state: ChainState, params: Any) -> Any:
    subnet = _subnet(state, params)
    if subnet is None:
        return None
    neurons = subnet.neurons
    stakes = [state.hotkey_stake(n.hotkey, subnet.netuid) for n in neurons]
    return {
        "netuid": subnet.netuid,
        "name": list(subnet.name.encode()),
        "symbol": list(f"SN{subnet.netuid}".encode()),
        "identity": None,
        "network_registered_at": subnet.registered_at,
        "owner_hotkey": subnet.owner_hotkey,
        "owner_coldkey": subnet.owner_coldkey,
        "block": state.block,
        "tempo": subnet.hp("Tempo"),
        "last_step": subnet.last_step_block,
        "blocks_since_last_step": subnet.blocks_since_last_step(state.block),
        "subnet_emission": 0,
        "alpha_in": RAO_PER_TAO,
        "alpha_out": 0,
        "tao_in": RAO_PER_TAO,  # price 1.0: 1 alpha == 1 TAO on this chain
        "alpha_out_emission": 0,
        "alpha_in_emission": 0,
        "tao_in_emission": 0,
        "pending_alpha_emission": _pending_alpha(state, subnet),
        "pending_root_emission": 0,
        "subnet_volume": 0,
        "moving_price": {"bits": 1 << 32},
        "rho": subnet.hp("Rho"),
        "kappa": subnet.hp("Kappa"),
        "min_allowed_weights": subnet.hp("MinAllowedWeights"),
        "max_weights_limit": subnet.hp("MaxWeightsLimit"),
        "weights_version": subnet.hp("WeightsVersionKey"),
        "weights_rate_limit": subnet.hp("WeightsSetRateLimit"),
        "activity_cutoff": subnet.activity_cutoff(),
        "max_validators": subnet.hp("MaxAllowedValidators"),
        "num_uids": len(neurons),
        "max_uids": subnet.hp("MaxAllowedUids"),
        "burn": subnet.hp("Burn"),
        "difficulty": subnet.hp("Difficulty"),
        "registration_allowed": bool(subnet.hp("NetworkRegistrationAllowed")),
        "pow_registration_allowed": bool(subnet.hp("NetworkPowRegistrationAllowed")),
        "immunity_period": subnet.hp("ImmunityPeriod"),
        "min_difficulty": subnet.hp("MinDifficulty"),
        "max_difficulty": subnet.hp("MaxDifficulty"),
        "min_burn": subnet.hp("MinBurn"),
        "max_burn": subnet.hp("MaxBurn"),
        "adjustment_alpha": subnet.hp("AdjustmentAlpha"),
        "adjustment_interval": subnet.hp("AdjustmentInterval"),
        "target_regs_per_interval": subnet.hp("TargetRegistrationsPerInterval"),
        "max_regs_per_block": subnet.hp("MaxRegistrationsPerBlock"),
        "serving_rate_limit": subnet.hp("ServingRateLimit"),
        "commit_reveal_weights_enabled": bool(subnet.hp("CommitRevealWeightsEnabled")),
        "commit_reveal_period": subnet.hp("RevealPeriodEpochs"),
        "liquid_alpha_enabled": bool(subnet.hp("LiquidAlphaOn")),
        "alpha_high": subnet.hp("AlphaHigh"),
        "alpha_low": subnet.hp("AlphaLow"),
        "bonds_moving_avg": subnet.hp("BondsMovingAverage"),
        "hotkeys": [n.hotkey for n in neurons],
        "coldkeys": [n.coldkey for n in neurons],
        "identities": [None for _ in neurons],
        "axons": [_axon(n) for n in neurons],
        "active": [n.active for n in neurons],
        "validator_permit": [n.validator_permit for n in neurons],
        "pruning_score": [n.pruning_score for n in neurons],
        "last_update": [n.last_update for n in neurons],
        "emission": [n.emission for n in neurons],
        "dividends": [n.dividends for n in neurons],
        "incentives": [n.incentive for n in neurons],
        "consensus": [n.consensus for n in neurons],
        "trust": [n.trust for n in neurons],
        "rank": [n.rank for n in neurons],
        "block_at_registration": [n.registered_at for n in neurons],
        "alpha_stake": stakes,
        "tao_stake": [0 for _ in neurons],
        "total_stake": stakes,
        "tao_dividends_per_hotkey": [(n.hotkey, 0) for n in neurons],
        "alpha_dividends_per_hotkey": [(n.hotkey, 0) for n in neurons],
    }


def _neuron_lite(state: ChainState, subnet: Subnet, n: Neuron) -> dict[str, Any]:
    stake_rows = [
        (coldkey, amount)
        for key, amount in state.stakes.items()
        for hotkey, coldkey, netuid in [parse_stake_key(key)]
        if hotkey == n.hotkey and netuid == subnet.netuid
    ]
    return {
        "hotkey": n.hotkey,
        "coldkey": n.coldkey,
        "uid": n.uid,
        "netuid": subnet.netuid,
        "active": n.active,
        "axon_info": _axon(n),
        "prometheus_info": {"block": 0, "version": 0, "ip": 0, "port": 0, "ip_type": 0},
        "stake": stake_rows,
        "rank": n.rank,
        "emission": n.emission,
        "incentive": n.incentive,
        "consensus": n.consensus,
        "trust": n.trust,
        "validator_trust": n.validator_trust,
        "dividends": n.dividends,
        "last_update": n.last_update,
        "validator_permit": n.validator_permit,
        "pruning_score": n.pruning_score,
    }


@runtime("NeuronInfoRuntimeApi", "get_neurons_lite")
def get_neurons_lite(state: ChainState, params: Any) -> Any:
    subnet = _subnet(state, params)
    return [_neuron_lite(state, subnet, n) for n in subnet.neurons] if subnet else []


@runtime("NeuronInfoRuntimeApi", "get_neurons")
def get_neurons(state: ChainState, params: Any) -> Any:
    subnet = _subnet(state, params)
    if subnet is None:
        return []
    out = []
    for n in subnet.neurons:
        record = _neuron_lite(state, subnet, n)
        record["weights"] = [list(p) for p in subnet.weights.get(n.uid, [])]
        record["bonds"] = [list(p) for p in subnet.bonds.get(n.uid, [])]
        out.append(record)
    return out


@runtime("SubnetInfoRuntimeApi", "get_subnet_hyperparams_v3")
def get_subnet_hyperparams_v3(state: ChainState, params: Any) -> Any:
    subnet = _subnet(state, params)
    if subnet is None:
        return None
    values = {
        "rho": subnet.hp("Rho"),
        "kappa": subnet.hp("Kappa"),
        "immunity_period": subnet.hp("ImmunityPeriod"),
        "min_allowed_weights": subnet.hp("MinAllowedWeights"),
        "max_weights_limit": subnet.hp("MaxWeightsLimit"),
        "tempo": subnet.hp("Tempo"),
        "min_difficulty": subnet.hp("MinDifficulty"),
        "max_difficulty": subnet.hp("MaxDifficulty"),
        "weights_version": subnet.hp("WeightsVersionKey"),
        "weights_rate_limit": subnet.hp("WeightsSetRateLimit"),
        "adjustment_interval": subnet.hp("AdjustmentInterval"),
        # What the epoch uses (derived from the factor and tempo, as on subtensor);
        # the legacy ActivityCutoff item is stored but no longer read.
        "activity_cutoff": subnet.activity_cutoff(),
        "activity_cutoff_factor": subnet.hp("ActivityCutoffFactorMilli"),
        "registration_allowed": bool(subnet.hp("NetworkRegistrationAllowed")),
        "target_regs_per_interval": subnet.hp("TargetRegistrationsPerInterval"),
        "min_burn": subnet.hp("MinBurn"),
        "max_burn": subnet.hp("MaxBurn"),
        "bonds_moving_avg": subnet.hp("BondsMovingAverage"),
        "max_regs_per_block": subnet.hp("MaxRegistrationsPerBlock"),
        "serving_rate_limit": subnet.hp("ServingRateLimit"),
        "max_validators": subnet.hp("MaxAllowedValidators"),
        "adjustment_alpha": subnet.hp("AdjustmentAlpha"),
        "difficulty": subnet.hp("Difficulty"),
        "commit_reveal_period": subnet.hp("RevealPeriodEpochs"),
        "commit_reveal_weights_enabled": bool(subnet.hp("CommitRevealWeightsEnabled")),
        "alpha_high": subnet.hp("AlphaHigh"),
        "alpha_low": subnet.hp("AlphaLow"),
        "liquid_alpha_enabled": bool(subnet.hp("LiquidAlphaOn")),
        "alpha_sigmoid_steepness": subnet.hp("AlphaSigmoidSteepness"),
        "yuma_version": 3 if subnet.hp("Yuma3On") else 2,
        "bonds_penalty": subnet.hp("BondsPenalty"),
        "subnet_is_active": subnet.first_emission_block is not None,
        "transfers_enabled": bool(subnet.hp("TransferToggle")),
        "bonds_reset_enabled": bool(subnet.hp("BondsResetOn")),
        "user_liquidity_enabled": False,
        "owner_immune_neuron_limit": subnet.hp("OwnerImmuneNeuronLimit"),
        "min_childkey_take": subnet.hp("MinChildkeyTake"),
    }
    return [{"name": name, "value": _typed(value)} for name, value in values.items()]


def _typed(value: Any) -> Any:
    if isinstance(value, bool):
        return {"Bool": value}
    return {"U64": int(value)}


def _stake_info(state: ChainState, hotkey: str, coldkey: str, netuid: int, amount: int) -> dict:
    subnet = state.subnets.get(netuid)
    return {
        "hotkey": hotkey,
        "coldkey": coldkey,
        "netuid": netuid,
        "stake": amount,
        "locked": 0,
        "emission": 0,
        "tao_emission": 0,
        "drain": 0,
        "is_registered": bool(subnet and subnet.uid_of(hotkey) is not None),
    }


@runtime("StakeInfoRuntimeApi", "get_stake_info_for_hotkey_coldkey_netuid")
def stake_for_hotkey_coldkey_netuid(state: ChainState, params: Any) -> Any:
    hotkey = str(_arg(params, 0, "hotkey_account"))
    coldkey = str(_arg(params, 1, "coldkey_account"))
    netuid = int(_arg(params, 2, "netuid"))
    amount = state.stakes.get(f"{hotkey}|{coldkey}|{netuid}")
    if amount is None:
        return None
    return _stake_info(state, hotkey, coldkey, netuid, amount)


@runtime("StakeInfoRuntimeApi", "get_stake_info_for_coldkey")
def stake_for_coldkey(state: ChainState, params: Any) -> Any:
    wanted = str(_arg(params, 0, "coldkey_account"))
    out = []
    for key, amount in state.stakes.items():
        hotkey, coldkey, netuid = parse_stake_key(key)
        if coldkey == wanted and amount > 0:
            out.append(_stake_info(state, hotkey, coldkey, netuid, amount))
    return out


@runtime("StakeInfoRuntimeApi", "get_stake_info_for_coldkeys")
def stake_for_coldkeys(state: ChainState, params: Any) -> Any:
    return [(c, stake_for_coldkey(state, [c])) for c in _arg(params, 0, "coldkey_accounts")]


@runtime("StakeInfoRuntimeApi", "get_stake_availability_for_coldkeys")
def stake_availability(state: ChainState, params: Any) -> Any:
    """subtensor ``get_stake_availability_for_coldkeys``: per coldkey, per subnet with
    stake, the total, what is locked (nothing: no locks on this chain) and what is free."""
    coldkeys = [str(c) for c in _arg(params, 0, "coldkey_accounts")]
    wanted = _arg(params, 1, "netuids")
    netuids = sorted(state.subnets) if wanted is None else sorted(set(wanted) & set(state.subnets))
    out: dict[str, dict[int, dict[str, int]]] = {}
    for coldkey in coldkeys:
        totals: dict[int, int] = {}
        for key, amount in state.stakes.items():
            _hotkey, owner, netuid = parse_stake_key(key)
            if owner == coldkey and netuid in netuids:
                totals[netuid] = totals.get(netuid, 0) + amount
        out[coldkey] = {
            n: {"total": t, "locked": 0, "available": t} for n, t in sorted(totals.items()) if t
        }
    return out


@runtime("SwapRuntimeApi", "current_alpha_price")
def current_alpha_price(state: ChainState, params: Any) -> Any:
    return RAO_PER_TAO


@runtime("SwapRuntimeApi", "current_alpha_price_all")
def current_alpha_price_all(state: ChainState, params: Any) -> Any:
    """Every subnet at 1 TAO per alpha (no AMM on this chain)."""
    return [{"netuid": netuid, "price": RAO_PER_TAO} for netuid in sorted(state.subnets)]


def _fixed_price_swap(amount: int) -> dict[str, int]:
    """A swap quote at 1 alpha = 1 TAO: no fee, no slippage (no AMM on this chain)."""
    return {
        "tao_amount": amount,
        "alpha_amount": amount,
        "tao_fee": 0,
        "alpha_fee": 0,
        "tao_slippage": 0,
        "alpha_slippage": 0,
    }


@runtime("SwapRuntimeApi", "sim_swap_tao_for_alpha")
def sim_swap_tao_for_alpha(state: ChainState, params: Any) -> Any:
    return _fixed_price_swap(int(_arg(params, 1, "tao")))


@runtime("SwapRuntimeApi", "sim_swap_alpha_for_tao")
def sim_swap_alpha_for_tao(state: ChainState, params: Any) -> Any:
    return _fixed_price_swap(int(_arg(params, 1, "alpha")))


@runtime("SubnetRegistrationRuntimeApi", "get_network_registration_cost")
def get_network_registration_cost(state: ChainState, params: Any) -> Any:
    """subtensor ``get_network_lock_cost`` at the current block (what register_network charges)."""
    return network_lock_cost(state, state.block)


@runtime("SubnetInfoRuntimeApi", "get_next_epoch_start_block")
def get_next_epoch_start_block(state: ChainState, params: Any) -> Any:
    """subtensor's `get_next_epoch_start_block`: LastEpochBlock + tempo, or a sooner
    PendingEpochAt. None for an unknown subnet or tempo 0, as on subtensor."""
    subnet = _subnet(state, params)
    return None if subnet is None else next_epoch_block(subnet)
