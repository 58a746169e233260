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
        assert current_revision(engine) == "0004"
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


def test_0002_rolls_up_events_stored_before_it(db_url: str) -> None:
    """Events in a 0001 ledger are summed into the hourly rollups by the upgrade."""
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from wmnet.ledger.models import UsageEvent, UsageRollup

    engine = make_engine(db_url)
    try:
        migrate(engine, "0001")
        times = [3600.0 * 10 + 0.5, 3600.0 * 10 + 3599.9, 3600.0 * 11]
        with engine.begin() as connection:
            connection.execute(
                UsageEvent.__table__.insert(),
                [
                    {"request_id": f"r{i}", "time": t, "netuid": 1, "validator_hotkey": "v",
                     "miner_uid": 1, "miner_hotkey": "m", "workload": "rollout", "units": 5,
                     "device_seconds": 0.25, "origin": "organic", "verified": i != 1,
                     "reason": "ok"}
                    for i, t in enumerate(times)
                ],
            )  # fmt: skip
        migrate(engine)
        with sessionmaker(engine)() as session:
            rows = session.execute(
                select(UsageRollup.hour, UsageRollup.requests, UsageRollup.verified,
                       UsageRollup.units, UsageRollup.device_seconds).order_by(UsageRollup.hour)
            ).all()  # fmt: skip
        assert [tuple(r) for r in rows] == [(10, 2, 1, 10, 0.5), (11, 1, 1, 5, 0.25)]
        downgrade(engine, "0001")
        assert "usage_rollups" not in inspect(engine).get_table_names()
        assert current_revision(engine) == "0001"
    finally:
        engine.dispose()
