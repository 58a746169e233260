"""Hourly usage rollups (per subnet, workload and origin), filled from the events stored.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("netuid", sa.Integer(), nullable=False),
        sa.Column("workload", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("verified", sa.BigInteger(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("device_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_usage_rollups"),
        sa.UniqueConstraint(
            "hour",
            "netuid",
            "workload",
            "origin",
            name="uq_usage_rollups_hour_netuid_workload_origin",
        ),
    )
    # Events stored before this revision. SQLite's integer cast truncates, which is
    # floor() for positive unix seconds; PostgreSQL's rounds, so it takes floor().
    hour = "CAST(time / 3600 AS BIGINT)"
    if op.get_bind().dialect.name == "postgresql":
        hour = "CAST(floor(time / 3600) AS BIGINT)"
    op.execute(
        f"""
        INSERT INTO usage_rollups
            (hour, netuid, workload, origin, requests, verified, units, device_seconds)
        SELECT {hour}, netuid, workload, origin, COUNT(*),
               SUM(CASE WHEN verified THEN 1 ELSE 0 END), SUM(units), SUM(device_seconds)
        FROM usage_events
        GROUP BY {hour}, netuid, workload, origin
        """
    )


def downgrade() -> None:
    op.drop_table("usage_rollups")
