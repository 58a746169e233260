"""Dialect-aware ``INSERT … ON CONFLICT`` for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert(session: Session, table: Table):  # noqa: ANN202 - a dialect Insert
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the ledger supports SQLite and PostgreSQL, not {name}")


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping any that collide with a unique constraint."""
    if rows:
        session.execute(_insert(session, table).on_conflict_do_nothing(), list(rows))


def insert_new(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], returning: Sequence[str]
) -> list[Any]:
    """Insert ``rows`` skipping collisions; the ``returning`` columns of the rows that
    were new (RETURNING names only the inserted rows, also under concurrent writers)."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _insert_new_unnest(session, table, rows, returning)
    statement = _insert(session, table).on_conflict_do_nothing()
    statement = statement.returning(*(table.c[name] for name in returning))
    return list(session.execute(statement, list(rows)).all())


def _insert_new_unnest(
    session: Session, table: Table, rows: Sequence[dict[str, Any]], returning: Sequence[str]
) -> list[Any]:
    """PostgreSQL: one ``INSERT … SELECT * FROM unnest(array, …)`` per batch, a column an
    array parameter. A multi-row VALUES statement would carry one placeholder per value,
    and psycopg parses such a statement in Python each time (it caches small ones only)."""
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    columns = list(rows[0])
    arrays = ", ".join(
        f"CAST(:{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in columns
    )
    sql = text(
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING "
        f"RETURNING {', '.join(quote(c) for c in returning)}"
    )
    params = {c: [row[c] for row in rows] for c in columns}
    return list(session.execute(sql, params).all())


def add_to(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    counters: Sequence[str],
) -> None:
    """Insert ``rows``; on a conflict over ``keys`` add their ``counters`` to the stored."""
    if not rows:
        return
    statement = _insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: table.c[c] + statement.excluded[c] for c in counters},
    )
    session.execute(statement, list(rows))


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert ``rows``; on a conflict over ``keys`` overwrite the ``update`` columns."""
    if not rows:
        return
    statement = _insert(session, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: statement.excluded[column] for column in update},
    )
    session.execute(statement, list(rows))
