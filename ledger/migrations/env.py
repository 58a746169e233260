"""Alembic environment for the ledger, configured in code (see ``wmnet.ledger.db``).

The caller puts an ``Engine`` in ``config.attributes["engine"]``; there is no
alembic.ini and no offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from wmnet.ledger.db import VERSION_TABLE
from wmnet.ledger.models import Base


def run_migrations() -> None:
    engine = context.config.attributes["engine"]
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=VERSION_TABLE,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


# Alembic runs this file with a live context; a plain import (a module walk) does nothing.
if hasattr(context, "config"):
    run_migrations()
