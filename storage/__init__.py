"""Persistence for affbot: schema, migrations and repositories on SQLite or PostgreSQL.

Nothing outside this package writes SQL. Callers open a unit of work with
``Database.transaction()`` (or ``read()``) and use the repositories on the ``Store`` it
yields; every repository returns frozen dataclasses, never rows.
"""

from storage.database import Database
from storage.errors import Conflict, StorageError
from storage.store import Store

__all__ = ["Conflict", "Database", "StorageError", "Store"]
