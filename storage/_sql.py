"""Small SQL helpers shared by the repositories (private to storage)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_ignoring_conflicts(connection: AsyncConnection, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for whichever engine the connection is on.

    Uniqueness races are settled by the database this way, never by check-then-insert.
    """
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def row_values(row: Any) -> dict[str, Any]:
    """A result row as a plain dict keyed by column name."""
    return dict(row._mapping)
