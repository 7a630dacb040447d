"""Small SQL helpers shared by the repositories (private to storage)."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Insert, Row, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def insert_ignoring_conflicts(connection: AsyncConnection, table: Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for whichever engine the connection is on.

    Uniqueness races are settled by the database this way, never by check-then-insert.
    """
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _json_object(value: Any) -> dict[str, Any]:
    return dict(value or {})


def _json_list(value: Any) -> list[Any]:
    return list(value or [])


def _int_tuple(value: Any) -> tuple[int, ...]:
    return tuple(int(item) for item in value or ())


# What a column hands back that the field's declared type does not promise, keyed by that
# type. SQLite stores booleans as 0 and 1 (Boolean turns them back, a column read without
# its type does not); a None written to a JSON column is stored as JSON null and read back
# as None; JSON has arrays, never tuples. Aware UTC datetimes need nothing here:
# ``UtcDateTime`` returns them so on both engines. Other types are passed through as read.
_CONVERTERS: dict[object, Callable[[Any], Any]] = {
    bool: bool,
    dict[str, Any]: _json_object,
    list[dict[str, Any]]: _json_list,
    tuple[int, ...]: _int_tuple,
}
# Container fields without a converter above are refused rather than passed through.
_CONTAINERS = (dict, list, tuple, set, frozenset)


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    """How to build one dataclass from a row, as C-level steps where possible."""

    read: Callable[[Any], tuple[Any, ...]]  # the column fields' values, from row._mapping
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]  # (index in those, converter)
    # Puts (column values + explicit values) into field order; None when no explicit.
    arrange: Callable[[Any], tuple[Any, ...]] | None


# One plan per (class, names passed explicitly); built on first use, so the dataclass's
# fields and type hints are looked at once, never per row.
_PLANS: dict[tuple[type[Any], tuple[str, ...]], _Plan] = {}


def from_row(cls: type[T], row: Row[*tuple[Any, ...]], /, **explicit: Any) -> T:
    """A ``cls`` whose fields are the row's columns of the same names.

    One mapping by name instead of a constructor call written out per class: a field
    added to a dataclass and its table is read without a mapper to update, and what the
    engines return differently is converted in one place (``_CONVERTERS``, by the field's
    declared type) rather than remembered in each mapper. Fields that are not columns of
    the row (or are named differently) are passed in ``explicit``; the row's other columns
    are ignored. Reading ``row._mapping`` by key costs less than attribute access, so this
    is cheaper per row than the hand-written mappers were.

    Raises:
        KeyError: a field is neither a column of the row nor passed explicitly.
        TypeError: an explicit name is not a field, or a container field has no converter
            (it would hold the driver's JSON value, a list where a tuple was declared).
    """
    key = (cls, tuple(explicit))
    plan = _PLANS.get(key) or _plan(key)
    values = plan.read(row._mapping)
    if plan.converters:
        converted = list(values)
        for index, convert in plan.converters:
            converted[index] = convert(converted[index])
        values = tuple(converted)
    if plan.arrange is not None:
        values = plan.arrange(values + tuple(explicit.values()))
    return cls(*values)


def _plan(key: tuple[type[Any], tuple[str, ...]]) -> _Plan:
    cls, explicit = key
    fields = dataclasses.fields(cls)
    if any(field.kw_only or not field.init for field in fields):
        raise TypeError(f"{cls.__name__}: keyword-only and init=False fields are not mapped")
    names = tuple(field.name for field in fields)
    unknown = set(explicit) - set(names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    columns = tuple(name for name in names if name not in explicit)
    converters = []
    for index, name in enumerate(columns):
        convert = _CONVERTERS.get(hints[name])
        if convert is not None:
            converters.append((index, convert))
        elif typing.get_origin(hints[name]) in _CONTAINERS:
            raise TypeError(f"{cls.__name__}.{name}: no row conversion for {hints[name]}")
    supplied = columns + explicit
    arrange = _picker([supplied.index(name) for name in names]) if explicit else None
    plan = _Plan(_picker(columns), tuple(converters), arrange)
    _PLANS[key] = plan
    return plan


def _picker(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A tuple of the items at ``keys``, picked in C by ``itemgetter`` (which returns a
    bare item for one key and takes no empty list, hence the two small cases)."""
    if len(keys) > 1:
        return itemgetter(*keys)
    if keys:
        (only,) = keys
        return lambda items: (items[only],)
    return lambda items: ()
