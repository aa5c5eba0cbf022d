"""Pages read as keys first answer what a plain slice and ``Paginator.get_page`` answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.core.models import AuditEvent
from apps.core.paging import _by_keys, keyed_page, keyed_slice

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def events(db: None) -> None:
    # Two events at each instant: the id breaks the tie, newest first.
    AuditEvent.objects.bulk_create(
        AuditEvent(at=T0 + timedelta(minutes=i // 2), actor="schedule", action=f"a{i}",
                   object_type="x")
        for i in range(23)
    )  # fmt: skip


@pytest.mark.django_db
def test_a_keyed_slice_is_the_slice_in_order(events: None) -> None:
    rows = AuditEvent.objects.filter(object_type="x")
    assert keyed_slice(rows, 5, 15) == list(rows[5:15])
    assert keyed_slice(rows, 20, 40) == list(rows[20:23])


@pytest.mark.django_db
def test_a_keyed_page_is_the_page_and_a_bad_number_the_first_or_last(events: None) -> None:
    rows = AuditEvent.objects.filter(object_type="x")
    page = keyed_page(rows, "2", 10)
    assert list(page) == list(rows[10:20])
    assert (page.number, page.paginator.count, page.paginator.num_pages) == (2, 23, 3)
    assert list(keyed_page(rows, "99", 10)) == list(rows[20:23])
    assert keyed_page(rows, "x", 10).number == 1


@pytest.mark.django_db
def test_a_row_gone_between_reading_the_keys_and_the_rows_is_left_out(events: None) -> None:
    rows = AuditEvent.objects.filter(object_type="x")
    first, second = rows.values_list("pk", flat=True)[:2]
    gone = max(rows.values_list("pk", flat=True)) + 1000  # as if pruned after its key was read
    assert [e.pk for e in _by_keys(rows, [first, gone, second])] == [first, second]
