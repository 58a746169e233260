"""Alembic revisions upgrade and downgrade on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.orm import sessionmaker

from wmnet.ledger.db import (
    VERSION_TABLE,
    alembic_config,
    current_revision,
    downgrade,
    make_engine,
    migrate,
)
from wmnet.ledger.models import Base
from wmnet.ledger.reports import ReportQuery, build_report

TABLES = {table.name for table in Base.metadata.sorted_tables}


def test_up_down_up(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine)
        head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        assert current_revision(engine) == head
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


# A ledger as revision 0002 wrote it: three epochs whose alpha prices came from the
# chain (0.05 TAO per alpha), the operator and the old 1:1 default, with per-UID and
# subsidy rows under them.
EPOCHS_0002 = [
    # id, block, alpha_price_rao, alpha_price_source
    (1, 100, 50_000_000, "chain: pool tao_in/alpha_in at block 100"),
    (2, 200, 2 * 10**9, "config: --alpha-price 2"),
    (3, 300, 10**9, "default: 1 alpha = 1 TAO (the chain reported no pool)"),
]


def _fill_0002(engine) -> None:
    with engine.begin() as connection:
        for epoch_id, block, price, source in EPOCHS_0002:
            connection.execute(
                text(
                    "INSERT INTO epochs (id, netuid, block, time, tempo, network,"
                    " uid_emission_rao, miner_emission_rao, validator_emission_rao,"
                    " owner_emission_rao, owner_cut_rao, owner_cut_source, total_emission_rao,"
                    " alpha_price_rao, alpha_price_source, currency, tao_price_micro,"
                    " tao_price_source, ingested_at) VALUES (:id, 7, :block, :time, 99, 'test',"
                    " 8000000000, 4000000000, 4000000000, 1725000000, 1725000000, 'derived',"
                    " 9725000000, :price, :source, 'USD', 300000000, 'test', 0)"
                ),
                {"id": epoch_id, "block": block, "time": 1.75e9 + block, "price": price,
                 "source": source},
            )  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO epoch_emissions (epoch_id, uid, hotkey, coldkey, role,"
                    " emission_rao, stake_rao, incentive_u16, dividends_u16, validator_permit)"
                    " VALUES (:e, 1, 'v', 'cv', 'validator', 4000000000, 1000000000000, 0,"
                    " 65535, TRUE), (:e, 2, 'm', 'cm', 'miner', 4000000000, 0, 65535, 0, FALSE)"
                ),
                {"e": epoch_id},
            )
            connection.execute(
                text(
                    "INSERT INTO subsidies (epoch_id, uid, hotkey, workload, emission_rao)"
                    " VALUES (:e, 2, 'm', 'rollout', 3000000000),"
                    " (:e, 2, 'm', 'train_shard', 1000000000)"
                ),
                {"e": epoch_id},
            )


def test_0003_keeps_alpha_and_tao_apart_in_a_ledger_with_data(db_url: str) -> None:
    """A 0002 ledger with epochs, per-UID rows and subsidies upgrades with every amount
    in its renamed alpha column, the price where one was given (NULL for the old 1:1
    default), no child row lost; reports value it; the downgrade restores 0002's rows."""
    engine = make_engine(db_url)
    try:
        migrate(engine, "0002")
        _fill_0002(engine)
        migrate(engine, "0003")
        with engine.connect() as connection:
            epochs = connection.execute(
                text(
                    "SELECT block, miner_emission_alpha_rao, total_emission_alpha_rao,"
                    " owner_cut_alpha_rao, alpha_price_tao_rao, alpha_price_origin,"
                    " alpha_price_source, pool_tao_rao FROM epochs ORDER BY block"
                )
            ).all()
            emissions = connection.execute(
                text("SELECT SUM(emission_alpha_rao), SUM(stake_alpha_rao) FROM epoch_emissions")
            ).one()
            subsidies = connection.execute(
                text("SELECT COUNT(*), SUM(emission_alpha_rao) FROM subsidies")
            ).one()
        assert [tuple(e[:6]) for e in epochs] == [
            (100, 4 * 10**9, 9_725_000_000, 1_725_000_000, 50_000_000, "chain"),
            (200, 4 * 10**9, 9_725_000_000, 1_725_000_000, 2 * 10**9, "config"),
            (300, 4 * 10**9, 9_725_000_000, 1_725_000_000, None, "missing"),
        ]
        assert epochs[2][6].startswith("default:")  # the old source is kept as written
        assert all(e[7] is None for e in epochs)  # reserves were not recorded before
        assert tuple(emissions) == (3 * 8 * 10**9, 3 * 10**12)
        assert tuple(subsidies) == (6, 3 * 4 * 10**9)  # no cascade from a table copy

        with sessionmaker(engine)() as session:
            whole = build_report(session, ReportQuery(by="workload"))
            priced = build_report(session, ReportQuery(by="workload", until=1.75e9 + 250))
        rollout = {r["workload"]: r for r in whole["rows"]}["rollout"]
        assert rollout["emission_alpha_rao"] == 3 * 3 * 10**9
        assert rollout["emission_tao_rao"] is None  # epoch 300 has no alpha price
        assert any("1 epoch(s) have no alpha price" in note for note in whole["notes"])
        rollout = {r["workload"]: r for r in priced["rows"]}["rollout"]
        # 3 α at 0.05 TAO per alpha plus 3 α at 2, then 300 USD per TAO.
        assert rollout["emission_tao_rao"] == 150_000_000 + 6 * 10**9
        assert rollout["emission_value_micro"] == 6_150 * 300 * 10**6 // 1000

        downgrade(engine, "0002")
        assert current_revision(engine) == "0002"
        with engine.connect() as connection:
            back = connection.execute(
                text(
                    "SELECT block, miner_emission_rao, alpha_price_rao, alpha_price_source"
                    " FROM epochs ORDER BY block"
                )
            ).all()
            children = connection.execute(
                text(
                    "SELECT (SELECT SUM(emission_rao) FROM epoch_emissions),"
                    " (SELECT SUM(stake_rao) FROM epoch_emissions),"
                    " (SELECT SUM(emission_rao) FROM subsidies)"
                )
            ).one()
        assert [tuple(b) for b in back] == [
            (block, 4 * 10**9, price, source) for _, block, price, source in EPOCHS_0002
        ]
        assert tuple(children) == (3 * 8 * 10**9, 3 * 10**12, 3 * 4 * 10**9)
        migrate(engine)  # and up again over the downgraded data
        assert (
            current_revision(engine)
            == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
        )
    finally:
        engine.dispose()
