"""A test's ``database`` is a copy of a template migrated once per session; the copy has to
be exactly the database a fresh migration makes, or every test on it proves less than it
says. Compared here through SQLAlchemy's inspector and each engine's own catalog."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, inspect, select, table, text

from storage import Database
from storage.migrate import head_revision, upgrade


def _rows(connection: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in connection.execute(text(sql))]


def _inspected(connection: Connection) -> dict[str, Any]:
    """Every table as the inspector reflects it (what the storage code relies on)."""
    inspector = inspect(connection)
    commented = connection.dialect.name != "sqlite"  # SQLite keeps no table comments
    return {
        name: {
            "columns": [
                {key: repr(value) for key, value in column.items()}
                for column in inspector.get_columns(name)
            ],
            "primary key": inspector.get_pk_constraint(name),
            "foreign keys": sorted(inspector.get_foreign_keys(name), key=repr),
            "indexes": sorted(inspector.get_indexes(name), key=repr),
            "unique": sorted(inspector.get_unique_constraints(name), key=repr),
            "checks": sorted(inspector.get_check_constraints(name), key=repr),
            "comment": inspector.get_table_comment(name) if commented else None,
            "rows": connection.execute(select(func.count()).select_from(table(name))).scalar(),
        }
        for name in inspector.get_table_names()
    }


def _sqlite_catalog(connection: Connection) -> dict[str, Any]:
    objects = _rows(connection, "SELECT type, name, tbl_name, sql FROM sqlite_master")
    return {
        # The DDL SQLite keeps for every table, index and trigger, line by line. Alembic's
        # batch mode rebuilds a table with its constraints in an order that can differ
        # from one migration to the next, so the lines are compared in sorted order.
        "objects": sorted(
            (kind, name, table, sorted(line.rstrip(" ,") for line in (sql or "").splitlines()))
            for kind, name, table, sql in objects
        ),
        "user_version": _rows(connection, "PRAGMA user_version"),
    }


def _postgresql_catalog(connection: Connection) -> dict[str, Any]:
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    catalog = {
        "relations": _rows(
            connection,
            "SELECT relname, relkind, relpersistence FROM pg_class "
            "WHERE relnamespace = current_schema()::regnamespace",
        ),
        "columns": _rows(
            connection,
            "SELECT table_name, column_name, ordinal_position, column_default, is_nullable, "
            "data_type, character_maximum_length, numeric_precision, collation_name, "
            "is_identity, is_generated FROM information_schema.columns "
            "WHERE table_schema = current_schema()",
        ),
        "constraints": _rows(
            connection,
            "SELECT conrelid::regclass::text, conname, contype, condeferrable, "
            "pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = current_schema()::regnamespace",
        ),
        "indexes": _rows(
            connection,
            "SELECT indexname, replace(indexdef, current_schema() || '.', '') "
            "FROM pg_indexes WHERE schemaname = current_schema()",
        ),
        "sequences": _rows(
            connection,
            "SELECT sequencename, data_type, start_value, min_value, max_value, "
            "increment_by, cycle, cache_size, last_value FROM pg_sequences "
            "WHERE schemaname = current_schema()",
        ),
        # Which column owns each sequence (a serial column's, dropped along with it).
        "sequence owners": _rows(
            connection,
            "SELECT sequence.relname, owner.relname, attribute.attname, depend.deptype "
            "FROM pg_depend depend "
            "JOIN pg_class sequence ON sequence.oid = depend.objid AND sequence.relkind = 'S' "
            "JOIN pg_class owner ON owner.oid = depend.refobjid "
            "JOIN pg_attribute attribute ON attribute.attrelid = owner.oid "
            "AND attribute.attnum = depend.refobjsubid "
            "WHERE sequence.relnamespace = current_schema()::regnamespace",
        ),
        "triggers": _rows(
            connection,
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger "
            "JOIN pg_class ON pg_class.oid = tgrelid "
            "WHERE NOT tgisinternal AND relnamespace = current_schema()::regnamespace",
        ),
        "functions": _rows(
            connection,
            "SELECT proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace",
        ),
    }
    # Each database lives in a schema of its own name; the name is not part of the schema.
    return {
        key: sorted(tuple(str(value).replace(schema, "<schema>") for value in row) for row in rows)
        for key, rows in catalog.items()
    }


async def _described(database: Database) -> dict[str, Any]:
    def describe(connection: Connection) -> dict[str, Any]:
        catalog = _sqlite_catalog if connection.dialect.name == "sqlite" else _postgresql_catalog
        return {
            "tables": _inspected(connection),
            "catalog": catalog(connection),
            "alembic_version": _rows(connection, "SELECT version_num FROM alembic_version"),
        }

    async with database.engine.connect() as connection:
        return await connection.run_sync(describe)


async def test_a_copy_is_the_database_a_fresh_migration_makes(
    database: Database, empty_database: Database
) -> None:
    await upgrade(empty_database)
    copied = await _described(database)
    assert copied["alembic_version"] == [(head_revision(),)]
    assert len(copied["tables"]) > 30, "the comparison must not pass on two empty databases"
    assert copied == await _described(empty_database)
