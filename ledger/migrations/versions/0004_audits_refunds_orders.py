"""Audits, refunds and gateway orders: one row per full check of an answer, credit given
back for work that failed its audit (once per charge), orders reserved under their
idempotency key before any work (bound to the request's hash, with credit held), and
the price multiple of a synchronously verified order.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("id", BIGID, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("validator_hotkey", sa.String(64), nullable=False),
        sa.Column("miner_uid", sa.Integer(), nullable=False),
        sa.Column("miner_hotkey", sa.String(64), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("check_seconds", sa.Float(), nullable=False),
        sa.Column("penalty_until_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audits"),
        sa.UniqueConstraint("request_id", name="uq_audits_request_id"),
        sa.CheckConstraint("outcome IN ('passed', 'failed', 'error')", name="ck_audits_outcome"),
        sa.CheckConstraint("origin IN ('organic', 'synthetic')", name="ck_audits_origin"),
    )
    op.create_index("ix_audits_report", "audits", ["time", "workload"])
    op.create_index("ix_audits_miner_hotkey", "audits", ["miner_hotkey"])

    op.create_table(
        "refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revenue_event_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("amount_micro", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(
            ["revenue_event_id"], ["revenue_events.id"],
            name="fk_refunds_revenue_event_id_revenue_events",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_refunds_customer_id_customers"
        ),
        sa.UniqueConstraint("revenue_event_id", name="uq_refunds_revenue_event_id"),
        sa.CheckConstraint("amount_micro >= 0", name="ck_refunds_amount_nonnegative"),
    )  # fmt: skip
    op.create_index("ix_refunds_report", "refunds", ["time", "workload"])

    op.create_table(
        "gateway_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("gateway", sa.String(64), nullable=False),
        sa.Column("instance", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("full_check", sa.Boolean(), nullable=False),
        sa.Column("quote_micro", sa.BigInteger(), nullable=False),
        sa.Column("held_micro", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("request", sa.LargeBinary(), nullable=False),
        sa.Column("task", sa.LargeBinary(), nullable=True),
        sa.Column("answer", sa.LargeBinary(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("revenue_event_id", sa.Integer(), nullable=True),
        sa.Column("audit", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_orders"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name="fk_gateway_orders_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["revenue_event_id"], ["revenue_events.id"],
            name="fk_gateway_orders_revenue_event_id_revenue_events",
        ),
        sa.UniqueConstraint(
            "customer_id", "idempotency_key",
            name="uq_gateway_orders_customer_id_idempotency_key",
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'done', 'failed')", name="ck_gateway_orders_state"
        ),
        sa.CheckConstraint(
            "audit IN ('none', 'queued', 'passed', 'failed', 'error')",
            name="ck_gateway_orders_audit",
        ),
        sa.CheckConstraint("held_micro >= 0", name="ck_gateway_orders_held_nonnegative"),
    )  # fmt: skip
    op.create_index("ix_gateway_orders_audit", "gateway_orders", ["gateway", "audit"])
    op.create_index("ix_gateway_orders_request_id", "gateway_orders", ["request_id"])

    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("held_micro", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.create_check_constraint("ck_customers_held_nonnegative", "held_micro >= 0")
    with op.batch_alter_table("prices") as batch:
        batch.add_column(
            sa.Column("full_check_ppm", sa.BigInteger(), nullable=False, server_default="2000000")
        )


def downgrade() -> None:
    with op.batch_alter_table("prices") as batch:
        batch.drop_column("full_check_ppm")
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("ck_customers_held_nonnegative", type_="check")
        batch.drop_column("held_micro")
    op.drop_table("gateway_orders")
    op.drop_table("refunds")
    op.drop_table("audits")
