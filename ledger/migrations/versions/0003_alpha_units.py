"""Alpha and TAO kept apart: emission and stake columns say they are rao of alpha, the
alpha price may be unknown (NULL) and records where it came from and the pool behind it.

* ``epochs``: ``uid_/miner_/validator_/owner_/total_emission_rao`` and ``owner_cut_rao``
  become ``*_alpha_rao``; ``alpha_price_rao`` (NOT NULL) becomes ``alpha_price_tao_rao``
  (nullable: an epoch whose price nobody reported is stored without a TAO value instead
  of an assumed 1 α = 1 TAO); new ``alpha_price_origin`` (``chain``, ``config`` or
  ``missing``, filled from ``alpha_price_source``) and ``pool_tao_rao`` /
  ``pool_alpha_rao`` (NULL for epochs stored before this revision).
* ``epoch_emissions``: ``emission_rao`` → ``emission_alpha_rao``, ``stake_rao`` →
  ``stake_alpha_rao``; ``subsidies``: ``emission_rao`` → ``emission_alpha_rao``.

Only in-place ``ALTER TABLE`` (RENAME COLUMN, ADD COLUMN, DROP COLUMN: SQLite 3.35+), no
table copy: on SQLite, copying ``epochs`` would drop the old table, and with foreign
keys on that cascades to every per-UID and subsidy row.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RAO_PER_TAO = 10**9
EPOCH_RENAMES = [
    ("uid_emission_rao", "uid_emission_alpha_rao"),
    ("miner_emission_rao", "miner_emission_alpha_rao"),
    ("validator_emission_rao", "validator_emission_alpha_rao"),
    ("owner_emission_rao", "owner_emission_alpha_rao"),
    ("owner_cut_rao", "owner_cut_alpha_rao"),
    ("total_emission_rao", "total_emission_alpha_rao"),
]
OTHER_RENAMES = [
    ("epoch_emissions", "emission_rao", "emission_alpha_rao"),
    ("epoch_emissions", "stake_rao", "stake_alpha_rao"),
    ("subsidies", "emission_rao", "emission_alpha_rao"),
]
# Sources the indexer wrote before this revision: "chain: pool …", "config: --alpha-price
# …", and "default: 1 alpha = 1 TAO (the chain reported no pool)" (a guess, not a price).
ORIGIN_FROM_SOURCE = """
    CASE WHEN alpha_price_source LIKE 'chain:%' THEN 'chain'
         WHEN alpha_price_source LIKE 'config:%' THEN 'config'
         ELSE 'missing' END
"""


def _require_sqlite_drop_column() -> None:
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        raise RuntimeError(
            f"ledger revision 0003 needs SQLite 3.35 or newer (ALTER TABLE DROP COLUMN); "
            f"this Python links SQLite {sqlite3.sqlite_version}"
        )


def _rename(table: str, old: str, new: str) -> None:
    op.alter_column(table, old, new_column_name=new)


def upgrade() -> None:
    _require_sqlite_drop_column()
    for old, new in EPOCH_RENAMES:
        _rename("epochs", old, new)
    for table, old, new in OTHER_RENAMES:
        _rename(table, old, new)
    op.add_column("epochs", sa.Column("alpha_price_tao_rao", sa.BigInteger(), nullable=True))
    op.add_column(
        "epochs",
        sa.Column("alpha_price_origin", sa.String(16), nullable=False, server_default="missing"),
    )
    op.add_column("epochs", sa.Column("pool_tao_rao", sa.BigInteger(), nullable=True))
    op.add_column("epochs", sa.Column("pool_alpha_rao", sa.BigInteger(), nullable=True))
    op.execute(f"UPDATE epochs SET alpha_price_origin = {ORIGIN_FROM_SOURCE}")
    # A defaulted 1:1 was never a price the chain or the operator gave: no TAO value.
    op.execute(
        "UPDATE epochs SET alpha_price_tao_rao = alpha_price_rao "
        "WHERE alpha_price_origin <> 'missing'"
    )
    op.drop_column("epochs", "alpha_price_rao")


def downgrade() -> None:
    _require_sqlite_drop_column()
    # 0002 cannot hold an unknown price: such epochs go back to the 1:1 it assumed.
    op.add_column(
        "epochs",
        sa.Column(
            "alpha_price_rao",
            sa.BigInteger(),
            nullable=False,
            server_default=sa.text(str(RAO_PER_TAO)),
        ),
    )
    op.execute(
        "UPDATE epochs SET alpha_price_rao = alpha_price_tao_rao "
        "WHERE alpha_price_tao_rao IS NOT NULL"
    )
    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot drop a default in place
        op.alter_column("epochs", "alpha_price_rao", server_default=None)
    for column in ("pool_alpha_rao", "pool_tao_rao", "alpha_price_origin", "alpha_price_tao_rao"):
        op.drop_column("epochs", column)
    for table, old, new in reversed(OTHER_RENAMES):
        _rename(table, new, old)
    for old, new in reversed(EPOCH_RENAMES):
        _rename("epochs", new, old)
