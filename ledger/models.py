"""The ledger's tables (SQLAlchemy 2 typed ORM).

Money is integers only, and every column names its unit: ``*_alpha_rao`` is an amount
of the subnet's alpha token in rao of alpha (1 α = 1e9 rao of alpha; emission and
stake on a subnet are alpha, not TAO), ``*_tao_rao`` an amount of TAO in rao
(1 TAO = 1e9 rao), ``*_micro`` currency micro-units (1 USD = 1,000,000 micro-USD).
Prices are integers too: ``alpha_price_tao_rao`` is TAO rao per whole alpha (1e9
means 1 α = 1 TAO; NULL when neither the chain nor the operator gave one),
``tao_price_micro`` currency micro-units per whole TAO. Shares and weights that must
apportion exactly are parts per billion (``*_ppb``). Times are unix seconds.

``docs/ledger.md`` describes every table and how each report figure is computed.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so migrations can name what they drop on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ROLES = ("miner", "validator", "owner")
ORIGINS = ("organic", "synthetic")
# Where an epoch's alpha price came from (``valuation.PriceOrigin``).
ALPHA_PRICE_ORIGINS = ("chain", "config", "missing")
UNATTRIBUTED = "unattributed"  # the workload of miner emission no attribution covered
PPB = 10**9  # parts per billion: shares and weights as exact integers
RAO_PER_TAO = 10**9
MICRO = 10**6  # micro-units per currency unit


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Epoch(Base):
    """One epoch of one subnet as the chain reported it, valued at the prices used."""

    __tablename__ = "epochs"
    __table_args__ = (UniqueConstraint("netuid", "block"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    netuid: Mapped[int] = mapped_column(Integer)
    block: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[float] = mapped_column(Float, index=True)  # the epoch block's timestamp
    tempo: Mapped[int] = mapped_column(Integer)
    network: Mapped[str] = mapped_column(String(200))
    # Emission of the epoch in rao of alpha (the subnet's token, not TAO).
    uid_emission_alpha_rao: Mapped[int] = mapped_column(BigInteger)  # sum of per-UID emission
    miner_emission_alpha_rao: Mapped[int] = mapped_column(BigInteger)
    validator_emission_alpha_rao: Mapped[int] = mapped_column(BigInteger)
    owner_emission_alpha_rao: Mapped[int] = mapped_column(BigInteger)  # owner UID's + owner cut
    owner_cut_alpha_rao: Mapped[int] = mapped_column(BigInteger)
    owner_cut_source: Mapped[str] = mapped_column(String(200))
    total_emission_alpha_rao: Mapped[int] = mapped_column(BigInteger)  # uid emission + cut
    # TAO rao per whole alpha at the epoch's block; NULL: unknown (no TAO value).
    alpha_price_tao_rao: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    alpha_price_origin: Mapped[str] = mapped_column(String(16), server_default="missing")
    alpha_price_source: Mapped[str] = mapped_column(String(200))
    # The subnet pool's reserves the chain price was read from (SubnetTAO, SubnetAlphaIn).
    pool_tao_rao: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pool_alpha_rao: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str] = mapped_column(String(8))
    tao_price_micro: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tao_price_source: Mapped[str] = mapped_column(String(200))
    ingested_at: Mapped[float] = mapped_column(Float)


class EpochEmission(Base):
    """One UID's emission in one epoch (rao of alpha), with the role that earned it."""

    __tablename__ = "epoch_emissions"
    __table_args__ = (
        UniqueConstraint("epoch_id", "uid"),
        CheckConstraint("role IN ('miner', 'validator', 'owner')", name="role"),
        CheckConstraint("emission_alpha_rao >= 0", name="emission_nonnegative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(Integer)
    hotkey: Mapped[str] = mapped_column(String(64), index=True)
    coldkey: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    emission_alpha_rao: Mapped[int] = mapped_column(BigInteger)
    stake_alpha_rao: Mapped[int] = mapped_column(BigInteger)  # total stake, subnet units
    incentive_u16: Mapped[int] = mapped_column(Integer)
    dividends_u16: Mapped[int] = mapped_column(Integer)
    validator_permit: Mapped[bool] = mapped_column(Boolean)


class Subsidy(Base):
    """A miner's emission in one epoch split across workloads (sums to its emission, in
    rao of alpha)."""

    __tablename__ = "subsidies"
    __table_args__ = (UniqueConstraint("epoch_id", "uid", "workload"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch_id: Mapped[int] = mapped_column(ForeignKey("epochs.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(Integer)
    hotkey: Mapped[str] = mapped_column(String(64))
    workload: Mapped[str] = mapped_column(String(32))
    emission_alpha_rao: Mapped[int] = mapped_column(BigInteger)


class WeightAttribution(Base):
    """Per validator, weights set at ``block``, per miner: the share from one workload."""

    __tablename__ = "weight_attributions"
    __table_args__ = (
        UniqueConstraint(
            "netuid",
            "block",
            "validator_hotkey",
            "miner_uid",
            "workload",
            name="uq_weight_attributions_key",
        ),
        Index("ix_weight_attributions_lookup", "netuid", "validator_hotkey", "block"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    netuid: Mapped[int] = mapped_column(Integer)
    block: Mapped[int] = mapped_column(BigInteger)
    time: Mapped[float] = mapped_column(Float)
    validator_hotkey: Mapped[str] = mapped_column(String(64))
    miner_uid: Mapped[int] = mapped_column(Integer)
    miner_hotkey: Mapped[str] = mapped_column(String(64))
    workload: Mapped[str] = mapped_column(String(32))
    weight_ppb: Mapped[int] = mapped_column(BigInteger)  # the miner's weight, 0..1e9
    share_ppb: Mapped[int] = mapped_column(BigInteger)  # this workload's share of it


class UsageEvent(Base):
    """One request a miner answered (or failed), as a validator or the gateway saw it."""

    __tablename__ = "usage_events"
    __table_args__ = (
        UniqueConstraint("request_id"),
        CheckConstraint("origin IN ('organic', 'synthetic')", name="origin"),
        Index("ix_usage_events_report", "time", "workload", "origin"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128))
    time: Mapped[float] = mapped_column(Float)
    netuid: Mapped[int] = mapped_column(Integer)
    validator_hotkey: Mapped[str] = mapped_column(String(64))
    miner_uid: Mapped[int] = mapped_column(Integer)
    miner_hotkey: Mapped[str] = mapped_column(String(64))
    workload: Mapped[str] = mapped_column(String(32))
    units: Mapped[int] = mapped_column(BigInteger)
    device_seconds: Mapped[float] = mapped_column(Float)
    origin: Mapped[str] = mapped_column(String(16))
    verified: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(200))


class UsageRollup(Base):
    """Usage events summed per hour, subnet, workload and origin (kept by ingestion in the
    same transaction as the events), so reports need not scan every event."""

    __tablename__ = "usage_rollups"
    __table_args__ = (UniqueConstraint("hour", "netuid", "workload", "origin"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger)  # floor(time / 3600)
    netuid: Mapped[int] = mapped_column(Integer)
    workload: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(16))
    requests: Mapped[int] = mapped_column(BigInteger)
    verified: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    device_seconds: Mapped[float] = mapped_column(Float)


class CapacityReport(Base):
    """A miner's ``GET /v1/capacity`` answer: what it offered at ``time``."""

    __tablename__ = "capacity_reports"
    __table_args__ = (UniqueConstraint("hotkey", "time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    netuid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    miner_uid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hotkey: Mapped[str] = mapped_column(String(64))
    time: Mapped[float] = mapped_column(Float, index=True)
    device: Mapped[str] = mapped_column(String(32))
    device_name: Mapped[str] = mapped_column(String(128))
    workloads: Mapped[str] = mapped_column(String(200))  # comma-separated
    precisions: Mapped[str] = mapped_column(String(100))
    slots: Mapped[int] = mapped_column(Integer)
    queue_limit: Mapped[int] = mapped_column(Integer)
    queue_depth: Mapped[int] = mapped_column(Integer)
    free_slots: Mapped[int] = mapped_column(Integer)
    busy_fraction: Mapped[float] = mapped_column(Float)
    window_s: Mapped[float] = mapped_column(Float)


class Customer(Base):
    """A paying customer: an API key (stored as its SHA-256) and prepaid credit."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("name"),
        UniqueConstraint("api_key_sha256"),
        CheckConstraint("credit_micro >= 0", name="credit_nonnegative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    api_key_sha256: Mapped[str] = mapped_column(String(64))
    key_prefix: Mapped[str] = mapped_column(String(16))  # to recognise a key, not to use it
    currency: Mapped[str] = mapped_column(String(8))
    credit_micro: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)


class RevenueEvent(Base):
    """One charge to a customer; the idempotency key makes a retried charge a no-op."""

    __tablename__ = "revenue_events"
    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key"),
        CheckConstraint("amount_micro >= 0", name="amount_nonnegative"),
        Index("ix_revenue_events_report", "time", "workload"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    time: Mapped[float] = mapped_column(Float)
    workload: Mapped[str] = mapped_column(String(32))
    units: Mapped[int] = mapped_column(BigInteger)
    amount_micro: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(8))
    request_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)


class Price(Base):
    """What one unit of a workload costs a customer from ``valid_from`` on."""

    __tablename__ = "prices"
    __table_args__ = (
        UniqueConstraint("workload", "currency", "valid_from"),
        CheckConstraint("micro_per_unit >= 0", name="price_nonnegative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workload: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(8))
    micro_per_unit: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[float] = mapped_column(Float)


class IngestOffset(Base):
    """How far a JSON-lines file has been ingested (bytes), so a rerun resumes there."""

    __tablename__ = "ingest_offsets"
    __table_args__ = (UniqueConstraint("source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(1000))
    offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[float] = mapped_column(Float)
