"""Deep pages of long lists: the keys first, then the rows.

``rows[99_975:100_000]`` makes PostgreSQL read and throw away 99,975 whole rows (with their
joins), or sort them all when it reads them off a bitmap. Reading the page's primary keys alone
walks an index that holds the list's order without touching the table (an index-only scan);
the few rows of the page are then read by key. Each list needs that index: (run, id) for a run's
entries, (at, id) for the audit trail.
"""

from __future__ import annotations

from typing import TypeVar, cast

from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def _by_keys(rows: QuerySet[M], keys: list[int]) -> list[M]:
    # A row deleted between the two reads (the nightly prune, a purge) is left out of the page
    # rather than failing it.
    found = rows.in_bulk(keys)
    return [found[key] for key in keys if key in found]


def keyed_slice(rows: QuerySet[M], start: int, stop: int) -> list[M]:
    """``rows[start:stop]`` in their order."""
    return _by_keys(rows, list(rows.values_list("pk", flat=True)[start:stop]))


def keyed_page(rows: QuerySet[M], number: str | None, per_page: int) -> Page[M]:
    """Page ``number`` of ``rows`` as ``Paginator.get_page`` answers it (a bad or too large
    number gives the first or the last page)."""
    page = Paginator(rows.values_list("pk", flat=True), per_page).get_page(number)
    page.object_list = _by_keys(rows, list(page.object_list))
    return cast("Page[M]", page)
