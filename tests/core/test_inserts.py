from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from apps.core.inserts import insert_rows
from apps.core.models import AuditEvent
from apps.sync.models import Link
from tests.support.scale import scale_pair


@pytest.mark.django_db
def test_it_inserts_rows_with_their_defaults_and_sets_their_keys() -> None:
    awkward = {"description": 'a "quoted" \\ back\'slash, {braces} and ü', "n": [1, None]}
    rows = [
        AuditEvent(actor="schedule", action="a", object_type="t", object_id="1", after=awkward),
        AuditEvent(actor="schedule", action="b", object_type="t", object_id="2"),
    ]
    insert_rows(rows)
    assert all(row.pk is not None and not row._state.adding for row in rows)
    stored = {e.pk: e for e in AuditEvent.objects.filter(pk__in=[r.pk for r in rows])}
    assert (stored[rows[0].pk].after, stored[rows[0].pk].action) == (awkward, "a")
    assert (stored[rows[1].pk].after, stored[rows[1].pk].at) == (None, rows[1].at)
    assert AuditEvent.objects.filter(pk=rows[1].pk, after__isnull=True).exists()  # SQL NULL


@pytest.mark.django_db
def test_auto_now_fields_are_filled_in_and_plain_ones_kept_as_given() -> None:
    profile = scale_pair()
    booked = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Berlin moves its clocks
    link = Link(
        profile=profile, source_id="7", booked_at=booked, kimai_id="70", marker="zks-1-7-z",
        origin=Link.Origin.CREATED, source_fingerprint="s", target_fingerprint="t",
    )  # fmt: skip
    before = timezone.now()
    insert_rows([link])
    stored = Link.objects.get(pk=link.pk)
    assert stored.booked_at == booked and stored.source_changed_at is None
    assert stored.updated_at is not None and stored.updated_at >= before
