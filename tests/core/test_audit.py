from __future__ import annotations

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction

from apps.core import audit
from apps.core.models import AuditDetail, AuditEvent


@pytest.mark.django_db
def test_it_records_who_did_what_to_which_object() -> None:
    event = audit.record(
        "admin:1", "connection.update", "connection", 7, before={"name": "a"}, after={"name": "b"}
    )
    event.refresh_from_db()
    assert (event.actor, event.action, event.object_id) == ("admin:1", "connection.update", "7")
    assert (event.before, event.after) == ({"name": "a"}, {"name": "b"})


@pytest.mark.django_db
def test_many_events_are_recorded_each_with_its_personal_values_apart() -> None:
    events = audit.record_many(
        [
            audit.Event("schedule", "kimai.timesheet.create", "kimai.timesheet", 1,
                        after={"id": "1", "description": "#31 Printer"}, run_id=5, ticket="31"),
            audit.Event("schedule", "kimai.timesheet.delete", "kimai.timesheet", 2,
                        before={"id": "2"}, run_id=5),
        ]
    )  # fmt: skip
    rows = AuditEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("object_id")
    assert [(e.object_id, e.before, e.after, e.run_id, e.ticket) for e in rows] == [
        ("1", None, {"id": "1"}, 5, "31"),
        ("2", {"id": "2"}, None, 5, ""),
    ]
    [detail] = AuditDetail.objects.all()
    assert (detail.event_id, detail.before, detail.after) == (
        events[0].pk, None, {"description": "#31 Printer"},
    )  # fmt: skip


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


@pytest.mark.django_db
def test_the_database_refuses_to_delete_an_event_outside_the_prune_function() -> None:
    event = audit.record("schedule", "kimai.timesheet.create", "kimai.timesheet", 1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [event.pk])
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_the_prune_function_removes_only_expired_events_and_leaves_the_flag_off() -> None:
    with time_machine.travel("2025-01-01 12:00Z"):
        audit.record("schedule", "kimai.timesheet.create", "kimai.timesheet", 1,
                     after={"description": "#1 Printer"})  # fmt: skip
    new = audit.record("schedule", "kimai.timesheet.create", "kimai.timesheet", 2)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT core_prune_audit_events('2025-06-01', 100)")
        assert cursor.fetchone()[0] == 1
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [new.pk])
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [new.pk]
    assert not AuditDetail.objects.exists()


@pytest.mark.django_db
def test_a_description_is_kept_in_a_detail_row_and_shown_with_the_event() -> None:
    event = audit.record(
        "schedule", "kimai.timesheet.update", "kimai.timesheet", 9,
        before={"description": "#1 old", "user_id": "2"}, after={"description": "#1 new"},
    )  # fmt: skip
    event = AuditEvent.objects.select_related("detail").get(pk=event.pk)
    assert (event.before, event.after) == ({"user_id": "2"}, {})
    assert event.shown_before == {"user_id": "2", "description": "#1 old"}
    assert event.shown_after == {"description": "#1 new"}
