"""The ledger schema: epochs, per-UID emission, subsidies, attribution, usage, capacity,
customers, revenue, prices and ingest offsets.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "epochs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("tempo", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(200), nullable=False),
        sa.Column("uid_emission_rao", sa.BigInteger(), nullable=False),
        sa.Column("miner_emission_rao", sa.BigInteger(), nullable=False),
        sa.Column("validator_emission_rao", sa.BigInteger(), nullable=False),
        sa.Column("owner_emission_rao", sa.BigInteger(), nullable=False),
        sa.Column("owner_cut_rao", sa.BigInteger(), nullable=False),
        sa.Column("owner_cut_source", sa.String(200), nullable=False),
        sa.Column("total_emission_rao", sa.BigInteger(), nullable=False),
        sa.Column("alpha_price_rao", sa.BigInteger(), nullable=False),
        sa.Column("alpha_price_source", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("tao_price_micro", sa.BigInteger(), nullable=True),
        sa.Column("tao_price_source", sa.String(200), nullable=False),
        sa.Column("ingested_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_epochs"),
        sa.UniqueConstraint("netuid", "block", name="uq_epochs_netuid_block"),
    )
    op.create_index("ix_epochs_time", "epochs", ["time"])

    op.create_table(
        "epoch_emissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("hotkey", sa.String(64), nullable=False),
        sa.Column("coldkey", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("emission_rao", sa.BigInteger(), nullable=False),
        sa.Column("stake_rao", sa.BigInteger(), nullable=False),
        sa.Column("incentive_u16", sa.Integer(), nullable=False),
        sa.Column("dividends_u16", sa.Integer(), nullable=False),
        sa.Column("validator_permit", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_epoch_emissions"),
        sa.ForeignKeyConstraint(
            ["epoch_id"],
            ["epochs.id"],
            name="fk_epoch_emissions_epoch_id_epochs",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("epoch_id", "uid", name="uq_epoch_emissions_epoch_id_uid"),
        sa.CheckConstraint(
            "role IN ('miner', 'validator', 'owner')", name="ck_epoch_emissions_role"
        ),
        sa.CheckConstraint("emission_rao >= 0", name="ck_epoch_emissions_emission_nonnegative"),
    )
    op.create_index("ix_epoch_emissions_hotkey", "epoch_emissions", ["hotkey"])

    op.create_table(
        "subsidies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("hotkey", sa.String(64), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("emission_rao", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subsidies"),
        sa.ForeignKeyConstraint(
            ["epoch_id"], ["epochs.id"], name="fk_subsidies_epoch_id_epochs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "epoch_id", "uid", "workload", name="uq_subsidies_epoch_id_uid_workload"
        ),
    )

    op.create_table(
        "weight_attributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("validator_hotkey", sa.String(64), nullable=False),
        sa.Column("miner_uid", sa.Integer(), nullable=False),
        sa.Column("miner_hotkey", sa.String(64), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("weight_ppb", sa.BigInteger(), nullable=False),
        sa.Column("share_ppb", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_weight_attributions"),
        sa.UniqueConstraint(
            "netuid",
            "block",
            "validator_hotkey",
            "miner_uid",
            "workload",
            name="uq_weight_attributions_key",
        ),
    )
    op.create_index(
        "ix_weight_attributions_lookup",
        "weight_attributions",
        ["netuid", "validator_hotkey", "block"],
    )

    op.create_table(
        "usage_events",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("validator_hotkey", sa.String(64), nullable=False),
        sa.Column("miner_uid", sa.Integer(), nullable=False),
        sa.Column("miner_hotkey", sa.String(64), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("device_seconds", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_events"),
        sa.UniqueConstraint("request_id", name="uq_usage_events_request_id"),
        sa.CheckConstraint("origin IN ('organic', 'synthetic')", name="ck_usage_events_origin"),
    )
    op.create_index("ix_usage_events_report", "usage_events", ["time", "workload", "origin"])

    op.create_table(
        "capacity_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=True),
        sa.Column("miner_uid", sa.Integer(), nullable=True),
        sa.Column("hotkey", sa.String(64), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("device_name", sa.String(128), nullable=False),
        sa.Column("workloads", sa.String(200), nullable=False),
        sa.Column("precisions", sa.String(100), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("queue_limit", sa.Integer(), nullable=False),
        sa.Column("queue_depth", sa.Integer(), nullable=False),
        sa.Column("free_slots", sa.Integer(), nullable=False),
        sa.Column("busy_fraction", sa.Float(), nullable=False),
        sa.Column("window_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_capacity_reports"),
        sa.UniqueConstraint("hotkey", "time", name="uq_capacity_reports_hotkey_time"),
    )
    op.create_index("ix_capacity_reports_time", "capacity_reports", ["time"])

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("api_key_sha256", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("credit_micro", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
        sa.UniqueConstraint("name", name="uq_customers_name"),
        sa.UniqueConstraint("api_key_sha256", name="uq_customers_api_key_sha256"),
        sa.CheckConstraint("credit_micro >= 0", name="ck_customers_credit_nonnegative"),
    )

    op.create_table(
        "revenue_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("amount_micro", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_revenue_events"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_revenue_events_customer_id_customers"
        ),
        sa.UniqueConstraint(
            "customer_id",
            "idempotency_key",
            name="uq_revenue_events_customer_id_idempotency_key",
        ),
        sa.CheckConstraint("amount_micro >= 0", name="ck_revenue_events_amount_nonnegative"),
    )
    op.create_index("ix_revenue_events_report", "revenue_events", ["time", "workload"])
    op.create_index("ix_revenue_events_request_id", "revenue_events", ["request_id"])

    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("micro_per_unit", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_prices"),
        sa.UniqueConstraint(
            "workload", "currency", "valid_from", name="uq_prices_workload_currency_valid_from"
        ),
        sa.CheckConstraint("micro_per_unit >= 0", name="ck_prices_price_nonnegative"),
    )

    op.create_table(
        "ingest_offsets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_offsets"),
        sa.UniqueConstraint("source", name="uq_ingest_offsets_source"),
    )


def downgrade() -> None:
    for table in (
        "ingest_offsets",
        "prices",
        "revenue_events",
        "customers",
        "capacity_reports",
        "usage_events",
        "weight_attributions",
        "subsidies",
        "epoch_emissions",
        "epochs",
    ):
        op.drop_table(table)
