"""What ``gdpr`` itself holds about a person (the Person rows) and what it reads of ``core``
(the audit trail), plus the audit trail's and the worker's expiry. The other apps register
theirs from their own ``privacy.py``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_q.models import Task

from apps.core.models import AuditDetail, AuditEvent
from apps.gdpr.models import Person
from apps.gdpr.registry import (
    Expiring,
    PersonalData,
    audit_refs,
    model_rows,
    plain_delete,
    register_expiring,
    register_personal_data,
)
from apps.gdpr.subject import Subject

PERSON_FIELDS = [
    "id", "connection_id", "kind", "external_id", "email", "name", "username", "time_zone",
    "active", "purged_at", "updated_at",
]  # fmt: skip
CHUNK = 2000


# -- people ---------------------------------------------------------------------------------------
def _people(subject: Subject) -> QuerySet[Person]:
    return Person.objects.filter(pk__in=subject.person_ids)


def _forget_people(subject: Subject) -> int:
    # The external id stays: the sync still needs to know whose entries are whose, and a
    # forgotten row is never filled again from Zammad or Kimai (apps/mappings/reference.py).
    # The time zone stays too: their timesheets are written in it.
    return _people(subject).update(
        email="", name="", username="", purged_at=timezone.now(), updated_at=timezone.now()
    )


# -- audit events ---------------------------------------------------------------------------------
def _json_ids(values: set[str]) -> list[Any]:
    """Ids as audit JSON may hold them: as text, and as numbers when they are digits."""
    return [*values, *(int(v) for v in values if v.isdigit())]


def audit_events_naming(subject: Subject) -> QuerySet[AuditEvent]:
    """Events whose ids point at the person: timesheets of their Kimai user, their user
    mappings, events about the Person rows themselves (the purge's own event), and what other
    apps registered (the sync: decisions on the conflicts of their entries)."""
    kimai_ids = _json_ids(subject.external_ids(Person.Kind.TARGET_USER))
    people = sorted(subject.person_ids)
    timesheets = Q(after__user_id__in=kimai_ids) | Q(before__user_id__in=kimai_ids)
    mappings = (
        Q(after__agent__in=people) | Q(after__kimai_user__in=people)
        | Q(before__agent__in=people) | Q(before__kimai_user__in=people)
    )  # fmt: skip
    refs = (
        (Q(object_type="kimai.timesheet") & timesheets)
        | (Q(object_type="mappings.user") & mappings)
        | Q(object_type="person", object_id__in=[str(p) for p in people])
    )
    for more in audit_refs(subject):
        refs |= more
    return AuditEvent.objects.filter(refs)


def _audit_rows(subject: Subject) -> Iterator[dict[str, Any]]:
    events = audit_events_naming(subject).select_related("detail").order_by("pk")
    for event in events.iterator(chunk_size=CHUNK):
        yield {
            "id": event.pk, "at": event.at, "actor": event.actor, "action": event.action,
            "object_type": event.object_type, "object_id": event.object_id,
            "ticket": event.ticket, "run_id": event.run_id,
            "before": event.shown_before, "after": event.shown_after,
        }  # fmt: skip


def _forget_audit_details(subject: Subject) -> int:
    """The events stay (append-only, ids only); their detail rows' values are erased."""
    events_sql, params = (
        audit_events_naming(subject).order_by().values("pk").query.sql_with_params()
    )
    table = AuditDetail._meta.db_table
    erase = "(SELECT jsonb_object_agg(key, 'null'::jsonb) FROM jsonb_each({side}))"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET before = {erase.format(side='before')}, "  # noqa: S608
            f"after = {erase.format(side='after')}, forgotten_at = %s "
            f"WHERE forgotten_at IS NULL AND event_id IN ({events_sql})",
            [timezone.now(), *params],
        )
        return cursor.rowcount


# -- expiry of the audit trail and of the worker's task records ----------------------------------
def _prune_audit(cutoff: datetime, batch: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT core_prune_audit_events(%s, %s)", [cutoff, batch])
        return int(cursor.fetchone()[0])


def register() -> None:
    register_personal_data(
        PersonalData(
            "people", "Person rows (Zammad agent, Kimai user, ticket customer)",
            rows=lambda s: model_rows(_people(s), PERSON_FIELDS),
            count=lambda s: _people(s).count(),
            forget=_forget_people,
        )
    )  # fmt: skip
    register_personal_data(
        PersonalData(
            "audit_events", "Audit events that name them (descriptions are forgotten)",
            rows=_audit_rows,
            count=lambda s: audit_events_naming(s).count(),
            forget=_forget_audit_details,
        )
    )  # fmt: skip
    register_expiring(
        Expiring(
            "audit_events", "audit events", "audit_days",
            expired=lambda cutoff: AuditEvent.objects.filter(at__lt=cutoff),
            prune_batch=_prune_audit,
        )
    )  # fmt: skip
    register_expiring(
        Expiring(
            "task_results", "the worker's task records", "task_results_days",
            expired=lambda cutoff: Task.objects.filter(stopped__lt=cutoff),
            delete_batch=plain_delete(Task),
        )
    )  # fmt: skip
