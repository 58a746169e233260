"""Genesis constants and subnet hyperparameter defaults of the local chain.

Values follow subtensor's fast-runtime localnet (`subtensor-localnet:devnet`)
(the `subtensor-localnet` image, fast-blocks runtime); the rest are subtensor's pallet defaults.
Storage names are subtensor's own, so reads by name work unchanged.
"""

from __future__ import annotations

RAO_PER_TAO = 1_000_000_000
U16_MAX = 65_535

# Dev accounts funded at genesis, as on the real localnet image.
DEV_ACCOUNTS: tuple[str, ...] = ("Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie")
DEV_BALANCE_RAO = 1_000_000 * RAO_PER_TAO
SUDO_URI = "//Alice"

SS58_FORMAT = 42
FAST_BLOCK_TIME = 0.25
SLOW_BLOCK_TIME = 12.0

# Economics (documented simplifications: see docs/localnet.md).
BLOCK_EMISSION_RAO = 1 * RAO_PER_TAO  # split equally across started subnets
NETWORK_MIN_LOCK_RAO = 100 * RAO_PER_TAO
NETWORK_LOCK_REDUCTION_INTERVAL = 14 * 7200
EXISTENTIAL_DEPOSIT_RAO = 500
BASE_FEE_RAO = 125_000  # flat weight fee of a paying extrinsic
DEFAULT_MIN_STAKE_RAO = 2_000_000
START_CALL_DELAY = 10  # blocks between register_network and start_call (fast runtime)
SUBNET_OWNER_CUT_U16 = 11_796  # 18 %
DEFAULT_DELEGATE_TAKE_U16 = 11_796  # 18 %: a hotkey's take of its dividends
MAX_EPOCHS_PER_BLOCK = 32  # MaxEpochsPerBlock: prod_or_fast!(2, 32), the fast runtime's
MAX_SUBNETS = 128
MEV_KEY_BYTES = 1184

# Activity cutoff as current subtensor derives it: ActivityCutoffFactorMilli per-mille
# of the tempo (pallet constants MIN/MAX/INITIAL_ACTIVITY_CUTOFF_FACTOR_MILLI; 13_889
# at subtensor's tempo 360 is the legacy 5,000 blocks).
MIN_ACTIVITY_CUTOFF_FACTOR_MILLI = 1_000
MAX_ACTIVITY_CUTOFF_FACTOR_MILLI = 50_000


def activity_cutoff_blocks(factor_milli: int, tempo: int) -> int:
    """Blocks without setting weights before a UID is inactive: max(1, factor·tempo // 1000).

    Computed from the current tempo wherever it is used, so changing the tempo moves
    the cutoff with it; never below one block (a tempo of 0 would give 0).
    """
    return max(1, factor_milli * tempo // 1000)


# Per-subnet hyperparameters a new subnet starts with, by storage name: the pallet's
# defaults, and where `init_new_network` writes its own value (subnets/subnet.rs:
# max UIDs 256, max validators 64, min allowed weights 1, immunity period 5000,
# Yuma3 on), that value.
DEFAULT_HYPERPARAMS: dict[str, int] = {
    "Tempo": 10,
    "Kappa": 32_767,
    "Rho": 10,
    "ImmunityPeriod": 5_000,
    "MinAllowedWeights": 1,
    "MaxWeightsLimit": U16_MAX,
    "MaxAllowedUids": 256,
    "MaxAllowedValidators": 64,
    "ActivityCutoff": 5_000,  # legacy absolute cutoff: stored, not read by the epoch
    "ActivityCutoffFactorMilli": 13_889,
    "WeightsSetRateLimit": 100,
    "WeightsVersionKey": 0,
    "CommitRevealWeightsEnabled": 1,
    "RevealPeriodEpochs": 1,
    "BondsMovingAverage": 900_000,
    "BondsPenalty": U16_MAX,
    "LiquidAlphaOn": 0,
    "AlphaLow": 45_875,
    "AlphaHigh": 58_982,
    "AlphaSigmoidSteepness": 1_000,
    "Burn": 1 * RAO_PER_TAO,
    "MinBurn": 500_000,
    "MaxBurn": 100 * RAO_PER_TAO,
    "ServingRateLimit": 50,
    "NetworkRegistrationAllowed": 1,
    "NetworkPowRegistrationAllowed": 0,
    "MaxRegistrationsPerBlock": 1_000,
    "TargetRegistrationsPerInterval": 1_000,
    "AdjustmentInterval": 100,
    "AdjustmentAlpha": 0,
    "Difficulty": 10_000_000,
    "MinDifficulty": 10_000_000,
    "MaxDifficulty": 2**64 - 1,
    "Yuma3On": 1,
    "BondsResetOn": 0,
    "TransferToggle": 1,
    "OwnerImmuneNeuronLimit": 1,
    "MinChildkeyTake": 0,
}

# What a read of a subnet that was never initialised returns where the storage item's
# own default (ValueQuery) differs from what `init_new_network` writes: the runtime's
# `SubtensorInitial*` constants, and `DefaultYuma3` (false).
STORAGE_DEFAULTS: dict[str, int] = {
    **DEFAULT_HYPERPARAMS,
    "MaxAllowedValidators": 128,
    "MinAllowedWeights": 1_024,
    "ImmunityPeriod": 4_096,
    "Yuma3On": 0,
}

# AdminUtils setter -> (storage names it writes, in parameter order).
# Only setters with one value parameter besides netuid are listed here;
# alpha values and tempo have their own handling in calls/admin.py.
ADMIN_SETTERS: dict[str, str] = {
    "sudo_set_tempo": "Tempo",
    "sudo_set_kappa": "Kappa",
    "sudo_set_rho": "Rho",
    "sudo_set_immunity_period": "ImmunityPeriod",
    "sudo_set_min_allowed_weights": "MinAllowedWeights",
    "sudo_set_max_weight_limit": "MaxWeightsLimit",
    "sudo_set_max_allowed_uids": "MaxAllowedUids",
    "sudo_set_max_allowed_validators": "MaxAllowedValidators",
    "sudo_set_activity_cutoff": "ActivityCutoff",
    "sudo_set_weights_set_rate_limit": "WeightsSetRateLimit",
    "sudo_set_weights_version_key": "WeightsVersionKey",
    "sudo_set_commit_reveal_weights_enabled": "CommitRevealWeightsEnabled",
    "sudo_set_commit_reveal_weights_interval": "RevealPeriodEpochs",
    "sudo_set_bonds_moving_average": "BondsMovingAverage",
    "sudo_set_bonds_penalty": "BondsPenalty",
    "sudo_set_liquid_alpha_enabled": "LiquidAlphaOn",
    "sudo_set_alpha_sigmoid_steepness": "AlphaSigmoidSteepness",
    "sudo_set_burn": "Burn",
    "sudo_set_min_burn": "MinBurn",
    "sudo_set_max_burn": "MaxBurn",
    "sudo_set_serving_rate_limit": "ServingRateLimit",
    "sudo_set_network_registration_allowed": "NetworkRegistrationAllowed",
    "sudo_set_network_pow_registration_allowed": "NetworkPowRegistrationAllowed",
    "sudo_set_max_registrations_per_block": "MaxRegistrationsPerBlock",
    "sudo_set_target_registrations_per_interval": "TargetRegistrationsPerInterval",
    "sudo_set_adjustment_interval": "AdjustmentInterval",
    "sudo_set_adjustment_alpha": "AdjustmentAlpha",
    "sudo_set_difficulty": "Difficulty",
    "sudo_set_min_difficulty": "MinDifficulty",
    "sudo_set_max_difficulty": "MaxDifficulty",
    "sudo_set_yuma3_enabled": "Yuma3On",
    "sudo_set_bonds_reset_enabled": "BondsResetOn",
    "sudo_set_toggle_transfer": "TransferToggle",
    "sudo_set_owner_immune_neuron_limit": "OwnerImmuneNeuronLimit",
    "sudo_set_min_childkey_take_per_subnet": "MinChildkeyTake",
}

# Setters a subnet owner may call for its own subnet; the rest need root.
OWNER_SETTABLE: frozenset[str] = frozenset(
    {
        "sudo_set_tempo",
        "sudo_set_rho",
        "sudo_set_immunity_period",
        "sudo_set_min_allowed_weights",
        "sudo_set_weights_version_key",
        "sudo_set_min_burn",
        "sudo_set_max_burn",
        "sudo_set_bonds_moving_average",
        "sudo_set_bonds_penalty",
        "sudo_set_serving_rate_limit",
        "sudo_set_commit_reveal_weights_interval",
        "sudo_set_commit_reveal_weights_enabled",
        "sudo_set_max_allowed_uids",
        "sudo_set_liquid_alpha_enabled",
        "sudo_set_alpha_values",
        "sudo_set_alpha_sigmoid_steepness",
        "sudo_set_network_registration_allowed",
        "sudo_set_network_pow_registration_allowed",
        "sudo_set_yuma3_enabled",
        "sudo_set_bonds_reset_enabled",
        "sudo_set_toggle_transfer",
        "sudo_set_adjustment_alpha",
        "sudo_set_max_difficulty",
        "sudo_set_owner_immune_neuron_limit",
        "sudo_set_min_childkey_take_per_subnet",
        "sudo_set_activity_cutoff_factor",
    }
)
