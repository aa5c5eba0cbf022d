from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from apps.core import audit
from apps.core.models import AuditEvent


@pytest.mark.django_db
def test_it_records_who_did_what_to_which_object() -> None:
    event = audit.record(
        "admin:1", "connection.update", "connection", 7, before={"name": "a"}, after={"name": "b"}
    )
    event.refresh_from_db()
    assert (event.actor, event.action, event.object_id) == ("admin:1", "connection.update", "7")
    assert (event.before, event.after) == ({"name": "a"}, {"name": "b"})


@pytest.mark.django_db
def test_an_event_cannot_be_changed_through_the_orm() -> None:
    event = audit.record("schedule", "kimai.timesheet.create", "kimai.timesheet", 1)
    event.action = "something else"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(actor="me")


@pytest.mark.django_db
def test_the_database_refuses_to_change_an_event() -> None:
    event = audit.record("schedule", "kimai.timesheet.create", "kimai.timesheet", 1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE core_auditevent SET actor = 'x' WHERE id = %s", [event.pk])
    event.refresh_from_db()
    assert event.actor == "schedule"
