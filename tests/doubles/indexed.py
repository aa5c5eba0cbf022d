"""Dicts of records that keep indexes beside them, for the doubles at benchmark size.

A double keeps its records in plain-looking dicts by id (``KimaiDouble.timesheets``,
``ZammadDouble.time_accountings``) that tests also write to directly. :class:`IndexedDict` is such
a dict that tells its subclass about every record set or deleted, and, through
:class:`TracksChanges` on the record's class, about every attribute assigned on a stored record,
so an index built beside it is never stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

_SLOT = "_stored_in"  # on a stored record: (its IndexedDict, its key)

Row = TypeVar("Row")


class TracksChanges:
    """Mixin for a record class: assigning an attribute of a stored record tells its dict."""

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        slot = self.__dict__.get(_SLOT)
        if slot is not None:
            slot[0].row_changed(slot[1], name)


class IndexedDict(dict[int, Row], Generic[Row]):
    """``{id: record}``; subclasses keep their indexes in the three ``row_*`` hooks."""

    def __init__(self, rows: Mapping[int, Row] | None = None) -> None:
        super().__init__()
        self.update(rows or {})

    def row_set(self, key: int, row: Row, previous: Row | None) -> None:
        """``row`` was stored under ``key``, in place of ``previous`` if there was one."""

    def row_deleted(self, key: int, row: Row) -> None:
        """``row`` was removed from under ``key``."""

    def row_changed(self, key: int, name: str) -> None:
        """Attribute ``name`` of the record stored under ``key`` was assigned."""

    # -- every write goes through __setitem__ and __delitem__ --------------------------------
    def __setitem__(self, key: int, row: Row) -> None:
        previous = self.get(key)
        if previous is not None and previous is not row:
            _detach(previous)
        super().__setitem__(key, row)
        object.__setattr__(row, _SLOT, (self, key))
        self.row_set(key, row, previous)

    def __delitem__(self, key: int) -> None:
        row = self[key]
        super().__delitem__(key)
        _detach(row)
        self.row_deleted(key, row)

    def pop(self, key: int, *default: Any) -> Any:
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        row = self[key]
        del self[key]
        return row

    def popitem(self) -> tuple[int, Row]:
        key = next(reversed(self))
        row = self[key]
        del self[key]
        return key, row

    def setdefault(self, key: int, default: Row | None = None) -> Row:
        if key not in self:
            assert default is not None, "an indexed dict holds records only"
            self[key] = default
        return self[key]

    def update(self, *others: Any, **named: Row) -> None:
        for other in others:
            items = other.items() if isinstance(other, Mapping) else other
            for key, row in items:
                self[key] = row
        for key, row in named.items():
            self[int(key)] = row

    def __ior__(self, other: Any) -> IndexedDict[Row]:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        for key in list(self):
            del self[key]


def _detach(row: Any) -> None:
    row.__dict__.pop(_SLOT, None)
