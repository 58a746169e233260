"""Where the ledger lives: the database URL, engines, sessions and migrations.

The URL is ``--db`` when given, else ``WMNET_DB_URL``, else
``sqlite:///~/.wmnet/ledger.db``. SQLite is the default; PostgreSQL
(``postgresql+psycopg://…``) is supported. The schema is Alembic's: :func:`migrate`
runs the revisions in ``wmnet/ledger/migrations`` programmatically (no alembic.ini).
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///~/.wmnet/ledger.db"
ENV_URL = "WMNET_DB_URL"
VERSION_TABLE = "ledger_alembic_version"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def resolve_url(db: str | None = None) -> str:
    """``db``, else ``$WMNET_DB_URL``, else the default; ``~`` in a SQLite path expanded."""
    url = db or os.environ.get(ENV_URL) or DEFAULT_URL
    parsed = make_url(url)  # raises ArgumentError on a malformed URL
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI objects
        cursor = dbapi_connection.cursor()
        if parsed.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Downgrade the schema to ``revision`` (default: no ledger tables at all)."""
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def open_ledger(db: str | None = None, *, upgrade: bool = True) -> sessionmaker[Session]:
    """A session factory on the ledger at ``db`` (resolved), migrated to head first."""
    engine = make_engine(resolve_url(db))
    if upgrade:
        migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
