"""What the chain implements and the recorded spec-300 runtime lacks, from subtensor's sources.

Each addition names its upstream definition (opentensor/subtensor and the
RaoFoundation/subtensor monorepo the SDK v11 was generated from). Type ids are
the recorded registry's wherever it has the type; new types are appended.
Where upstream's hasher for a new map is not in the sources this was taken
from, the netuid maps use ``Identity`` as every other netuid map in
pallet-subtensor does; keys are built from this metadata by clients, so the
chain and its clients agree either way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from bittensor._generated.errors import ERRORS

from wmnet.localnet.metadata import v15
from wmnet.localnet.metadata.registry import MetadataEditor

# runtime/src/lib.rs construct_runtime!: `MevShield: pallet_shield = 30`.
MEV_SHIELD_INDEX = 30
# Pallets whose error enums the chain can raise (localnet/calls/*), completed
# from the SDK's error catalogue (bittensor/_generated/errors.py, generated
# from subtensor's metadata) where the recorded runtime predates an error.
ERROR_PALLETS = ("System", "Balances", "Sudo", "SubtensorModule", "AdminUtils")


@dataclass(frozen=True)
class RuntimeIdentity:
    """What the served runtime calls itself, and the chain constants it runs with."""

    spec_name: str
    impl_name: str
    spec_version: int
    impl_version: int
    slot_ms: int  # Aura.SlotDuration: the SDK's block time
    existential_deposit: int
    start_call_delay: int


def extend(document: dict[str, Any], identity: RuntimeIdentity) -> None:
    editor = MetadataEditor(document)
    _mev_shield(editor)
    _subnet_storage(editor)
    _admin_utils(editor)
    _runtime_apis(editor)
    _errors(editor)
    _constants(editor, identity)


def _constants(ed: MetadataEditor, ident: RuntimeIdentity) -> None:
    """The chain's own constants: block time, deposit, start-call delay, version.

    A real fast-blocks localnet runtime is built with a 250 ms ``SlotDuration``
    the same way; the SDK reads its block time from this constant.
    """
    u64 = (ed.prim("u64"), lambda v: int(v).to_bytes(8, "little"))
    _set_constant(ed, "Aura", "SlotDuration", ident.slot_ms, *u64)
    _set_constant(ed, "Timestamp", "MinimumPeriod", ident.slot_ms // 2, *u64)
    _set_constant(ed, "Balances", "ExistentialDeposit", ident.existential_deposit, *u64)
    # pallets/subtensor: `type InitialStartCallDelay: Get<u64>` (blocks before start_call).
    _set_constant(ed, "SubtensorModule", "InitialStartCallDelay", ident.start_call_delay, *u64)
    system = ed.pallet("System")
    for constant in system["constants"]:
        if constant["name"] == "Version":
            constant["value"] = runtime_version_bytes(constant["value"], ident)


def _set_constant(ed: MetadataEditor, pallet: str, name: str, value: int, ty: int, enc) -> None:
    constants = ed.pallet(pallet)["constants"]
    for constant in constants:
        if constant["name"] == name:
            constant["value"] = enc(value)
            return
    constants.append({"name": name, "ty": ty, "value": enc(value), "docs": []})


def runtime_version_bytes(recorded: bytes, ident: RuntimeIdentity) -> bytes:
    """sp_version ``RuntimeVersion`` with this chain's names and versions; the
    recorded runtime's API list and transaction version kept (SubnetInfoRuntimeApi at
    version 2, which declares ``get_subnet_hyperparams_v3``)."""
    version = parse_runtime_version(recorded)
    subnet_info = api_id("SubnetInfoRuntimeApi")
    apis = [(i, max(v, 2) if i == subnet_info else v) for i, v in version["apis"]]
    out = bytearray()
    for text in (ident.spec_name, ident.impl_name):
        out += v15.encode_compact(len(text)) + text.encode()
    for number in (version["authoring_version"], ident.spec_version, ident.impl_version):
        out += number.to_bytes(4, "little")
    out += v15.encode_compact(len(apis))
    for api, number in apis:
        out += api + number.to_bytes(4, "little")
    out += version["transaction_version"].to_bytes(4, "little")
    out += bytes([version["system_version"]])
    return bytes(out)


def parse_runtime_version(data: bytes) -> dict[str, Any]:
    reader = v15._Reader(data)
    names = [reader.take(reader.compact()).decode() for _ in range(2)]
    authoring, spec, impl = (int.from_bytes(reader.take(4), "little") for _ in range(3))
    apis = [
        (reader.take(8), int.from_bytes(reader.take(4), "little")) for _ in range(reader.compact())
    ]
    transaction = int.from_bytes(reader.take(4), "little")
    system = reader.take(1)[0] if reader.at < len(data) else 0
    return {
        "spec_name": names[0],
        "impl_name": names[1],
        "authoring_version": authoring,
        "spec_version": spec,
        "impl_version": impl,
        "apis": apis,
        "transaction_version": transaction,
        "system_version": system,
    }


def api_id(name: str) -> bytes:
    """sp_api's runtime API id: blake2b-64 of the trait name."""
    return hashlib.blake2b(name.encode(), digest_size=8).digest()


def _mev_shield(ed: MetadataEditor) -> None:
    """pallets/shield/src/lib.rs: the carrier call, the keys, its event and errors."""
    account, h256 = ed.prim_account(), ed.by_path("primitive_types", "H256")
    bytes_ = ed.bounded_bytes()
    call = ed.enum(
        ["pallet_shield", "pallet", "Call"],
        [
            (
                "submit_encrypted",
                1,  # #[pallet::call_index(1)]
                [("ciphertext", bytes_, "BoundedVec<u8, ConstU32<8192>>")],
                "Users submit an encrypted wrapper: key_hash || kem_len || kem_ct || "
                "nonce || aead_ct (ML-KEM-768 + XChaCha20-Poly1305).",
            )
        ],
    )
    event = ed.enum(
        ["pallet_shield", "pallet", "Event"],
        [
            (
                "EncryptedSubmitted",
                0,
                [("id", h256, "T::Hash"), ("who", account, "T::AccountId")],
                "`submit_encrypted` accepted; `id` is `hash(who, ciphertext)`.",
            ),
        ],
    )
    errors = ed.enum(
        ["pallet_shield", "pallet", "Error"],
        [
            ("BadEncKeyLen", 0, [], "Announced key length is not MLKEM768_ENC_KEY_LEN."),
            ("Unreachable", 1, [], "Inherent ran without a resolvable current author."),
            ("TooManyPendingExtrinsics", 2, [], "PendingExtrinsics is at its limit."),
            ("WeightExceedsAbsoluteMax", 3, [], "Admin weight above MAX_ON_INITIALIZE_WEIGHT."),
        ],
    )
    outer = ed.md["outer_enums"]
    for enum_id, inner, type_name in (
        (outer["call_enum_ty"], call, "dispatch::CallableCallFor<MevShield, Runtime>"),
        (outer["event_enum_ty"], event, "pallet_shield::Event<Runtime>"),
        (outer["error_enum_ty"], errors, "pallet_shield::Error<Runtime>"),
    ):
        ed.add_variant(enum_id, "MevShield", MEV_SHIELD_INDEX, [(None, inner, type_name)])
    ed.md["pallets"].append(
        {
            "name": "MevShield",
            "storage": {"prefix": "MevShield", "entries": []},
            "calls": {"ty": call},
            "event": {"ty": event},
            "constants": [],
            "error": {"ty": errors},
            "index": MEV_SHIELD_INDEX,
            "docs": ["Encrypts user extrinsics to the block author's ML-KEM-768 key."],
        }
    )
    ed.md["pallets"].sort(key=lambda p: p["index"])
    for name, docs in (
        ("CurrentKey", "Current author's ML-KEM-768 encapsulation key after rotation."),
        ("NextKey", "N+2 author's ML-KEM-768 encapsulation key: the client encrypt target."),
    ):
        # `StorageValue<_, ShieldEncKey, OptionQuery>`, ShieldEncKey a BoundedVec<u8>.
        ed.add_storage("MevShield", name, bytes_, optional=True, docs=docs)


def _subnet_storage(ed: MetadataEditor) -> None:
    """pallets/subtensor/src/lib.rs: per-subnet items SDK v11's intents and reads use."""
    netuid, u16, u32, u64 = ed.netuid(), ed.prim("u16"), ed.prim("u32"), ed.prim("u64")
    zero64 = (0).to_bytes(8, "little")
    for name, value, default, docs in (
        ("LastEpochBlock", u64, zero64, "Block at which the subnet's last epoch ran."),
        ("PendingEpochAt", u64, zero64, "Block at which a manually triggered epoch fires."),
        ("SubnetEpochIndex", u64, zero64, "Monotonic epoch counter."),
        # DefaultActivityCutoffFactorMilli: 13,889 per mille (~5,000 blocks at tempo 360).
        (
            "ActivityCutoffFactorMilli",
            u32,
            (13_889).to_bytes(4, "little"),
            "Activity-cutoff factor in per-mille epochs.",
        ),  # fmt: skip
        (
            "CollateralLockShare",
            u16,
            b"\x00\x00",
            "Share of the registration price locked as collateral (u16::MAX = 100%).",
        ),  # fmt: skip
    ):
        ed.add_storage("SubtensorModule", name, value, key=netuid, default=default, docs=docs)
    consensus = ed.enum(
        ["pallet_subtensor", "epoch", "EpochConsensus"],
        [("Yuma", 0, [], "Yuma consensus."), ("Null", 1, [], "No consensus: raw weights.")],
    )
    ed.add_storage(
        "SubtensorModule",
        "SubnetEpochConsensus",
        consensus,
        key=netuid,
        default=b"\x00",
        docs="The consensus a subnet's epoch runs (Yuma by default).",
    )


def _admin_utils(ed: MetadataEditor) -> None:
    """pallets/admin-utils/src/lib.rs: two setters newer than the recorded runtime."""
    calls = ed.pallet("AdminUtils")["calls"]["ty"]
    ed.add_variant(
        calls,
        "sudo_set_min_childkey_take_per_subnet",
        93,  # #[pallet::call_index(93)]
        [("netuid", ed.netuid(), "NetUid"), ("take", ed.prim("u16"), "u16")],
        "Sets the minimum childkey take for a subnet (root or the subnet owner).",
    )
    ed.add_variant(
        calls,
        "sudo_set_activity_cutoff_factor",
        97,  # #[pallet::call_index(97)]
        [("netuid", ed.netuid(), "NetUid"), ("factor_milli", ed.prim("u32"), "u32")],
        "Sets the activity-cutoff factor for a subnet, in per-mille of the tempo.",
    )


def _runtime_apis(ed: MetadataEditor) -> None:
    """pallets/subtensor/runtime-api/src/lib.rs, rpc_info/subnet_info.rs, pallets/swap."""
    netuid = ed.netuid()
    u16, u32, u64, u128 = (ed.prim(n) for n in ("u16", "u32", "u64", "u128"))
    i64 = ed.prim("i64")
    # substrate_fixed I32F32 = FixedI64<U32>, U64F64 = FixedU128<U64>: `{bits}` composites.
    i32f32 = ed.composite(["substrate_fixed", "FixedI64"], [("bits", i64, "i64")])
    u64f64 = ed.composite(["substrate_fixed", "FixedU128"], [("bits", u128, "u128")])
    value = ed.enum(
        ["pallet_subtensor", "rpc_info", "subnet_info", "HyperparamValue"],
        [
            ("Bool", 0, [(None, ed.prim("bool"), "bool")], ""),
            ("U16", 1, [(None, ed.compact(u16), "Compact<u16>")], ""),
            ("U32", 2, [(None, ed.compact(u32), "Compact<u32>")], ""),
            ("U64", 3, [(None, ed.compact(u64), "Compact<u64>")], ""),
            ("U128", 4, [(None, ed.compact(u128), "Compact<u128>")], ""),
            ("TaoBalance", 5, [(None, ed.compact(u64), "Compact<TaoBalance>")], ""),
            ("I32F32", 6, [(None, i32f32, "I32F32")], ""),
            ("U64F64", 7, [(None, u64f64, "U64F64")], ""),
        ],
    )
    entry = ed.composite(
        ["pallet_subtensor", "rpc_info", "subnet_info", "HyperparamEntry"],
        [("name", ed.vec(ed.prim("u8")), "Vec<u8>"), ("value", value, "HyperparamValue")],
    )
    ed.add_api_method(
        "SubnetInfoRuntimeApi",
        "get_subnet_hyperparams_v3",
        [("netuid", netuid)],
        ed.option(ed.vec(entry)),
        "Current subnet hyperparameters (`SubnetHyperparamsV3`).",
    )
    # pallets/swap/runtime-api: `fn current_alpha_price_all() -> Vec<SubnetPrice>`.
    price = ed.composite(
        ["pallet_subtensor_swap_runtime_api", "SubnetPrice"],
        [("netuid", netuid, "NetUid"), ("price", u64, "u64")],
    )
    ed.add_api_method(
        "SwapRuntimeApi",
        "current_alpha_price_all",
        [],
        ed.vec(price),
        "Alpha prices for every subnet that has a dynamic mechanism.",
    )
    # rpc_info/stake_info.rs: what a coldkey may unstake per subnet (`btcli wallet balance`).
    availability = ed.composite(
        ["pallet_subtensor", "rpc_info", "stake_info", "StakeAvailability"],
        [("total", ed.compact(u64), "Compact<AlphaBalance>"),
         ("locked", ed.compact(u64), "Compact<AlphaBalance>"),
         ("available", ed.compact(u64), "Compact<AlphaBalance>")],
    )  # fmt: skip
    account = ed.prim_account()
    ed.add_api_method(
        "StakeInfoRuntimeApi",
        "get_stake_availability_for_coldkeys",
        [("coldkey_accounts", ed.vec(account)), ("netuids", ed.option(ed.vec(netuid)))],
        ed.btree_map(account, ed.btree_map(netuid, availability)),
        "Per-coldkey, per-netuid stake availability; `netuids == None` means all subnets.",
    )
    ed.add_api_method(
        "SubnetInfoRuntimeApi",
        "get_next_epoch_start_block",
        [("netuid", netuid)],
        ed.option(u64),
        "The block in which the subnet's next epoch runs.",
    )


def _errors(ed: MetadataEditor) -> None:
    """The error enums of the pallets the chain raises errors in, indexed as the runtime
    SDK v11 targets indexes them (the SDK's error catalogue, generated from subtensor's
    metadata).

    The SDK names a failed extrinsic's error from the served metadata but a wrapped
    one (``Sudo.Sudid``'s) from its own catalogue, so the two must agree: each enum
    becomes the catalogue's variants at the catalogue's indices, and the recorded
    runtime's variants the catalogue no longer has follow at free indices.
    """
    for pallet in ERROR_PALLETS:
        enum_id = ed.pallet(pallet)["error"]["ty"]
        recorded = {v["name"]: v for v in ed.variants(enum_id)}
        catalogue = sorted(
            (index, info) for (_, index), info in ERRORS.items() if info.pallet == pallet
        )
        variants = [
            {
                "name": info.name,
                "fields": [],
                "index": error_index,
                "docs": recorded[info.name]["docs"] if info.name in recorded else [info.docs],
            }
            for error_index, info in catalogue
        ]
        named = {v["name"] for v in variants}
        for old in recorded.values():
            if old["name"] not in named:
                variants.append({**old, "index": max(v["index"] for v in variants) + 1})
        if max(v["index"] for v in variants) > 255:
            raise ValueError(f"{pallet}'s errors do not fit a u8 index")
        ed.types[enum_id]["def"]["variant"]["variants"] = variants
