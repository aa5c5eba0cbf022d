"""The Zammad double's tickets, time accountings and articles: dicts by id that keep indexes.

At benchmark size (100,000 entries) a ticket rendered with its ``ticket_time_accounting_ids``
and ``article_ids`` scanned every entry and article; a ticket search page of 200 tickets took
seconds. :class:`GroupedTable` keeps, beside the dict, the ids of its records grouped by chosen
attributes (``ticket_id``, ``ticket_article_id``), in the dict's own order (the heap order ties
come back in, §5.7), and a ``version`` that moves on every change, so whatever is derived from
the table (a sorted listing) can be kept until it changes.

It follows every change: records set or deleted in the dict, and attributes assigned on a
stored record (tests/doubles/indexed.py). A change the groups cannot follow in place (a record
moved to another group while keeping its place in the dict) makes them rebuilt on next read.
:class:`TicketTable` lets a ticket search by ids (200 a request) look only at those tickets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tests.doubles.indexed import IndexedDict, Row


class GroupedTable(IndexedDict[Row]):
    def __init__(self, fields: tuple[str, ...], rows: Mapping[int, Row] | None = None) -> None:
        self.fields = fields
        self.version = 0
        self._groups: dict[str, dict[Any, dict[int, None]]] = {name: {} for name in fields}
        self._grouped_under: dict[int, tuple[Any, ...]] = {}
        self._stale = False
        super().__init__(rows)

    def members(self, name: str, value: Any) -> list[Row]:
        """The records whose ``name`` is ``value``, in the dict's order."""
        if self._stale:
            self._rebuild()
        return [self[key] for key in self._groups[name].get(value, ())]

    def row_set(self, key: int, row: Row, previous: Row | None) -> None:
        self.version += 1
        if self._stale:
            return
        values = self._values(row)
        if previous is None:
            self._group(key, values)
        elif values != self._grouped_under[key]:
            self._stale = True  # the key keeps its place in the dict: regroup in dict order

    def row_deleted(self, key: int, row: Row) -> None:
        self.version += 1
        if self._stale:
            return
        for name, value in zip(self.fields, self._grouped_under.pop(key), strict=True):
            del self._groups[name][value][key]

    def row_changed(self, key: int, name: str) -> None:
        self.version += 1
        if name in self.fields:
            self._stale = True

    def _values(self, row: Row) -> tuple[Any, ...]:
        return tuple(getattr(row, name) for name in self.fields)

    def _group(self, key: int, values: tuple[Any, ...]) -> None:
        for name, value in zip(self.fields, values, strict=True):
            self._groups[name].setdefault(value, {})[key] = None
        self._grouped_under[key] = values

    def _rebuild(self) -> None:
        self._groups = {name: {} for name in self.fields}
        self._grouped_under = {}
        for key, row in self.items():
            self._group(key, self._values(row))
        self._stale = False


class TicketTable(IndexedDict[Row]):
    """``{id: ticket}`` that knows each key's place in the dict, so a few tickets picked by id
    can be put back in the dict's order (the order rows tie in, §5.7) without a scan."""

    def __init__(self, rows: Mapping[int, Row] | None = None) -> None:
        self._place: dict[int, int] = {}
        self._next_place = 0
        super().__init__(rows)

    def row_set(self, key: int, row: Row, previous: Row | None) -> None:
        if previous is None:  # a new key goes last; an existing one keeps its place
            self._place[key] = self._next_place
            self._next_place += 1

    def row_deleted(self, key: int, row: Row) -> None:
        del self._place[key]

    def picked(self, keys: Iterable[int]) -> list[Row]:
        """The tickets stored under ``keys`` (unknown ones left out), in the dict's order."""
        found = sorted({key for key in keys if key in self._place}, key=self._place.__getitem__)
        return [self[key] for key in found]
