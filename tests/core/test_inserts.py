from __future__ import annotations

import pytest

from apps.core.inserts import insert_rows
from apps.core.models import AuditEvent


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
