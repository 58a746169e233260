"""Alembic revisions upgrade and downgrade on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from wmnet.ledger.db import VERSION_TABLE, current_revision, downgrade, make_engine, migrate
from wmnet.ledger.models import Base

TABLES = {table.name for table in Base.metadata.sorted_tables}


def test_up_down_up(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        assert current_revision(engine) == "0001"
        assert set(inspect(engine).get_table_names()) >= TABLES
        migrate(engine)  # again: a no-op
        downgrade(engine)
        assert current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) <= {VERSION_TABLE}
        migrate(engine)
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_migrations_match_the_models(db_url: str) -> None:
    """The hand-written revision builds exactly the schema the ORM declares."""
    engine = make_engine(db_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = [
                d
                for d in compare_metadata(context, Base.metadata)
                if not (d[0] == "remove_table" and d[1].name == VERSION_TABLE)
            ]
        assert diff == []
    finally:
        engine.dispose()
