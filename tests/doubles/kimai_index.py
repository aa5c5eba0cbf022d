"""The Kimai double's timesheets: a dict by id that keeps itself indexed.

At benchmark size (70,000 timesheets) scanning every record per listing, per overlap check and
per running-record lookup made the double the bottleneck. :class:`TimesheetStore` is the
``KimaiDouble.timesheets`` dict; it keeps, per user and overall, the records sorted by the
instant they begin, and the running ones per user. It follows every way a record changes: set
or deleted in the dict (tests do both), or a stored record's ``user_id``, ``begin`` or ``end``
assigned in place (tests/doubles/indexed.py).

The indexes only narrow the candidates; the double still applies its own filters to them, so
what it answers is what the full scan answered. Python compares two datetimes that share a
``tzinfo`` by wall clock, and the double's filters do, so the ranges taken from the index are
widened by :data:`SLACK_SECONDS`, more than any two UTC offsets differ.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from tests.doubles.indexed import IndexedDict

if TYPE_CHECKING:
    from tests.doubles.kimai import Timesheet

# UTC offsets run from -12:00 to +14:00: wall clocks and instants never disagree by 2 days.
SLACK_SECONDS = 2 * 86_400.0
INDEXED_FIELDS = frozenset({"user_id", "begin", "end"})

_Key = tuple[float, int]  # (begin as a Unix timestamp, timesheet id)


class TimesheetStore(IndexedDict["Timesheet"]):
    """``{id: Timesheet}`` with indexes by begin (overall and per user) and running records."""

    def __init__(self, sheets: Mapping[int, Timesheet] | None = None) -> None:
        self._by_begin: list[_Key] = []
        self._by_user: dict[int, list[_Key]] = {}
        self._running: dict[int, set[int]] = {}
        # Per user: the longest a stopped record of theirs ever lasted (never shrinks), to know
        # how far back a record that overlaps an instant can begin.
        self._longest: dict[int, float] = {}
        self._indexed: dict[int, tuple[int, _Key, bool]] = {}  # id → what it is indexed under
        self._text = _TextIndex(self)
        super().__init__(sheets)

    def row_set(self, key: int, row: Timesheet, previous: Timesheet | None) -> None:
        if previous is not None:
            self._unindex(key)
        self._index(key, row)
        self._text.changed(key)

    def row_deleted(self, key: int, row: Timesheet) -> None:
        self._unindex(key)
        self._text.forget(key)

    def row_changed(self, key: int, name: str) -> None:
        if name in INDEXED_FIELDS:  # a stored record moved: index it anew
            self._unindex(key)
            self._index(key, self[key])
        elif name == "description":
            self._text.changed(key)

    def _index(self, key: int, sheet: Timesheet) -> None:
        entry = (sheet.begin.timestamp(), key)
        running = sheet.end is None
        insort(self._by_begin, entry)
        insort(self._by_user.setdefault(sheet.user_id, []), entry)
        if running:
            self._running.setdefault(sheet.user_id, set()).add(key)
        else:
            lasted = max(0.0, sheet.end.timestamp() - entry[0])  # type: ignore[union-attr]
            self._longest[sheet.user_id] = max(self._longest.get(sheet.user_id, 0.0), lasted)
        self._indexed[key] = (sheet.user_id, entry, running)

    def _unindex(self, key: int) -> None:
        user_id, entry, running = self._indexed.pop(key)
        _remove(self._by_begin, entry)
        _remove(self._by_user[user_id], entry)
        if running:
            self._running[user_id].discard(key)

    # -- queries: candidates, a superset of what the caller's own filters keep ----------------
    def beginning_between(
        self,
        users: Iterable[int] | None,
        earliest: datetime | None,
        latest: datetime | None,
        *,
        earlier_by: float = 0.0,
    ) -> Iterator[Timesheet]:
        """Records of ``users`` (None: everyone's) that may begin within [earliest, latest]
        (either open), the lower bound moved ``earlier_by`` seconds more."""
        if users is None and earliest is None and latest is None:
            yield from self.values()
            return
        low = None if earliest is None else earliest.timestamp() - SLACK_SECONDS - earlier_by
        high = None if latest is None else latest.timestamp() + SLACK_SECONDS
        lists = [self._by_begin] if users is None else [self._by_user.get(u, []) for u in users]
        for keys in lists:
            for _, key in _between(keys, low, high):
                yield self[key]

    def with_text(self, literals: Iterable[str]) -> list[Timesheet] | None:
        """Records whose description may hold every one of ``literals`` (matched without
        regard to ASCII case); None when none of them is long enough to look up."""
        keys = self._text.candidates(literals)
        if keys is None:
            return None
        return [self[key] for key in keys]  # the text index forgets deleted records

    def running_of(self, user_id: int) -> list[Timesheet]:
        return [self[key] for key in self._running.get(user_id, ())]

    def overlap_candidates(
        self, user_id: int, earliest: datetime, latest: datetime
    ) -> Iterator[Timesheet]:
        """The user's records that may overlap [earliest, latest] (wall clock or instant)."""
        longest = self._longest.get(user_id, 0.0)
        return self.beginning_between([user_id], earliest, latest, earlier_by=longest)

    def window_by_begin(self, earliest: datetime | None, latest: datetime | None) -> BeginWindow:
        """Everyone's records with ``earliest <= begin <= latest`` as the double compares them,
        in (begin instant, id) order, without visiting the records well inside the window."""
        keys = self._by_begin
        start, stop = 0, len(keys)
        inner_start, inner_stop = start, stop
        if earliest is not None:
            moment = earliest.timestamp()
            start = bisect_left(keys, (moment - SLACK_SECONDS,))
            inner_start = bisect_left(keys, (moment + SLACK_SECONDS,))
        if latest is not None:
            moment = latest.timestamp()
            inner_stop = bisect_right(keys, (moment - SLACK_SECONDS, float("inf")))
            stop = bisect_right(keys, (moment + SLACK_SECONDS, float("inf")))

        def inside(key: int) -> bool:
            begin = self[key].begin
            return not (earliest is not None and begin < earliest) and not (
                latest is not None and begin > latest
            )

        if inner_start >= inner_stop:  # a narrow window: every record in it is near an edge
            return BeginWindow(keys, [k for _, k in keys[start:stop] if inside(k)], 0, 0, [])
        low = [k for _, k in keys[start:inner_start] if inside(k)]
        high = [k for _, k in keys[inner_stop:stop] if inside(k)]
        return BeginWindow(keys, low, inner_start, inner_stop, high)


class _TextIndex:
    """Trigrams of the descriptions → ids, for ``term`` (a LIKE on the description, §5).

    Append-only: a record whose description changed or that was deleted stays in the lists
    until they are rebuilt; candidates are checked by the double's own filter anyway.
    Descriptions with non-ASCII characters are always candidates (case-insensitive matching
    lets some of them match ASCII letters: ``ſ`` matches ``s``).
    """

    def __init__(self, sheets: Mapping[int, Timesheet]) -> None:
        self._sheets = sheets
        # Records set or edited since the last search: indexed when a search comes (most runs
        # never search, and a create then pays nothing for this index).
        self._pending: dict[int, None] = {}
        self._grams: dict[str, array[int]] = {}
        self._always: set[int] = set()
        self._size: dict[int, int] = {}  # id → how many trigrams its current text added
        self._live = 0  # the sum of _size
        self._stored = 0  # entries in all lists, stale ones included

    def changed(self, key: int) -> None:
        self._pending[key] = None

    def _add(self, key: int, text: str | None) -> None:
        self._forget_text(key)
        if text is None:
            return
        if not text.isascii():
            self._always.add(key)
            return
        grams = _trigrams(text.lower())
        for gram in grams:
            self._grams.setdefault(gram, array("q")).append(key)
        self._size[key] = len(grams)
        self._live += len(grams)
        self._stored += len(grams)
        if self._stored > 2 * self._live + 100_000:
            self._rebuild()

    def forget(self, key: int) -> None:
        self._pending.pop(key, None)
        self._forget_text(key)

    def _forget_text(self, key: int) -> None:
        self._live -= self._size.pop(key, 0)
        self._always.discard(key)

    def candidates(self, literals: Iterable[str]) -> list[int] | None:
        pending, self._pending = self._pending, {}
        for key in pending:
            self._add(key, self._sheets[key].description)
        lists = [
            self._grams.get(gram, array("q"))
            for literal in literals
            if literal.isascii()
            for gram in _trigrams(literal.lower())
        ]
        if not lists:
            return None
        rarest = min(lists, key=len)
        return sorted({key for key in rarest if key in self._size} | self._always)

    def _rebuild(self) -> None:
        self._grams, self._always, self._size = {}, set(), {}
        self._live = self._stored = 0
        for key, sheet in list(self._sheets.items()):
            self._add(key, sheet.description)


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


class BeginWindow:
    """The ids of a window in begin order: checked edges around a stretch of the index that
    needs no check. Only the page asked for is materialised."""

    def __init__(self, keys: list[_Key], low: list[int], start: int, stop: int, high: list[int]):
        self._keys, self._low, self._high = keys, low, high
        self._start, self._stop = start, stop

    def __len__(self) -> int:
        return len(self._low) + (self._stop - self._start) + len(self._high)

    def page(self, offset: int, size: int, *, descending: bool) -> list[int]:
        total = len(self)
        if descending:
            first, last = max(0, total - offset - size), max(0, total - offset)
            return list(reversed(self._ascending(first, last)))
        return self._ascending(offset, min(total, offset + size))

    def _ascending(self, first: int, last: int) -> list[int]:
        ids: list[int] = []
        middle = self._stop - self._start
        for position in range(first, last):
            if position < len(self._low):
                ids.append(self._low[position])
            elif position < len(self._low) + middle:
                ids.append(self._keys[self._start + position - len(self._low)][1])
            else:
                ids.append(self._high[position - len(self._low) - middle])
        return ids


def _between(keys: list[_Key], low: float | None, high: float | None) -> list[_Key]:
    start = 0 if low is None else bisect_left(keys, (low,))
    stop = len(keys) if high is None else bisect_right(keys, (high, float("inf")))
    return keys[start:stop]


def _remove(keys: list[_Key], entry: _Key) -> None:
    position = bisect_left(keys, entry)
    assert keys[position] == entry, "the timesheet index lost a record"
    del keys[position]
