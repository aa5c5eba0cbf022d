"""Many rows in one statement, sent as one JSON parameter.

Django 5.2's ``bulk_create`` on PostgreSQL sends each column as one array (``INSERT ... SELECT
* FROM UNNEST(...)``). With psycopg's client-side binding (Django's default), an array is
quoted element by element in Python (``ListDumper``), escaping every quote of a JSON value one
by one: for a sync's conflicts, links and audit events that was a sixth of the run's CPU. A
VALUES row per object instead makes a statement too long for psycopg's cache of parsed
queries, so each one is split and each of its hundreds of values quoted in Python again.
Here the rows travel as one JSON array (``json.dumps`` is C code, the one value is quoted in C)
that PostgreSQL unpacks with ``jsonb_to_recordset``: a short statement, always the same for a
model, parsed once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar
from uuid import UUID

from django.db import connection
from django.db.models import AutoField, DateField, Field, JSONField, Model

M = TypeVar("M", bound=Model)
_AS_THEY_ARE = frozenset({str, int, bool, float})


def rows_json(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> str:
    """``rows`` (values in the order of ``names``) as the JSON ``jsonb_to_recordset`` reads."""
    return json.dumps([dict(zip(names, row, strict=True)) for row in rows], default=_plain)


def recordset(names: Sequence[str], types: Sequence[str]) -> str:
    """The SQL of a row source named ``r`` with these columns, from one ``%s`` parameter."""
    columns = ", ".join(f"{name} {kind}" for name, kind in zip(names, types, strict=True))
    return f"jsonb_to_recordset(%s::jsonb) AS r ({columns})"


def insert_rows(objects: Sequence[M]) -> None:
    """INSERT ``objects`` (new, all of one model) in one statement; like ``bulk_create`` they
    get their defaults and ``auto_now`` values and, after it, their primary keys."""
    if not objects:
        return
    meta = type(objects[0])._meta
    fields = [f for f in meta.concrete_fields if not isinstance(f, AutoField)]
    pk = meta.pk
    assert pk is not None
    quote = connection.ops.quote_name
    columns = [_column(f) for f in fields]
    names = [quote(c) for c in columns]
    types = [f.db_type(connection) or "text" for f in fields]
    getters = [_getter(f) for f in fields]
    values = [
        [*(_value(f, get(obj)) for f, get in zip(fields, getters, strict=True)), n]
        for n, obj in enumerate(objects)
    ]
    # Ordered by position: RETURNING gives the keys in the objects' order.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(names)}) "
        f"SELECT {', '.join(f'r.{n}' for n in names)} "
        f"FROM {recordset([*names, 'zks_position'], [*types, 'integer'])} "
        f"ORDER BY r.zks_position RETURNING {quote(_column(pk))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [rows_json(values, [*columns, "zks_position"])])
        keys = cursor.fetchall()
    for obj, (key,) in zip(objects, keys, strict=True):
        setattr(obj, pk.attname, key)
        obj._state.adding = False
        obj._state.db = connection.alias


def _getter(field: Field[Any, Any]) -> Callable[[Model], Any]:
    """How to read ``field``'s value from a new object: its ``pre_save`` (which fills in
    ``auto_now`` and the like), or, where that only reads the attribute, the attribute itself
    (``pre_save`` for every field of every row was a fifth of the time of an INSERT of many)."""
    plain = type(field).pre_save is Field.pre_save or (
        isinstance(field, DateField) and not (field.auto_now or field.auto_now_add)
    )
    if plain:
        return attrgetter(field.attname)
    return lambda obj: field.pre_save(obj, True)


def _value(field: Field[Any, Any], value: Any) -> Any:
    # The common values go into the JSON as they are: Django's preparation of them is the
    # identity (and an aware datetime's text is what PostgreSQL reads back), and it cost a
    # third of the time of an INSERT of many rows.
    if value is None or type(value) in _AS_THEY_ARE:
        return value
    if type(value) is datetime and value.tzinfo is not None:
        return value.isoformat()
    if isinstance(field, JSONField) and field.encoder is None:
        return value
    value = field.get_db_prep_save(value, connection)
    # A JSON field's value arrives wrapped for psycopg (Jsonb): the JSON itself is what goes in.
    return getattr(value, "obj", value)


def _plain(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"cannot send a {type(value).__name__} as a row value")


def _column(field: Field[Any, Any]) -> str:
    assert field.column is not None  # a concrete field has one
    return field.column
