"""What the sync holds about a person, and which of its rows expire (apps/gdpr/registry.py).

Runs, their entries and conflicts refer to people by ``Person`` id and keep ids and numbers,
not names; the free text that can name someone is a timesheet's description (it carries the
ticket title) in conflict snapshots and write intents, and a person's note on a conflict. A
purge erases those; the rows stay, pointing at the pseudonymized person, so the sync goes on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import CharField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from apps.connectors.models import WebhookDelivery
from apps.gdpr.models import Person
from apps.gdpr.registry import (
    Expiring,
    PersonalData,
    model_rows,
    plain_delete,
    register_audit_refs,
    register_expiring,
    register_personal_data,
)
from apps.gdpr.subject import Subject
from apps.sync.models import Conflict, Run, RunItem, WriteIntent

ITEM_FIELDS = [
    "id", "run_id", "source_id", "ticket_id", "ticket_number", "booked_at", "planned", "applied",
    "result", "reason", "kimai_id", "kimai_user_id", "duration_seconds", "error",
]  # fmt: skip
CONFLICT_FIELDS = [
    "id", "profile_id", "source_id", "ticket_id", "ticket_number", "agent_id", "booked_at",
    "kind", "reason", "status", "source_snapshot", "target_snapshot", "candidates", "kimai_id",
    "created_at", "resolved_at", "resolution", "resolved_by", "note",
]  # fmt: skip
INTENT_FIELDS = [
    "id", "profile_id", "source_id", "operation", "marker", "kimai_id", "state", "run_id",
    "payload", "error", "created_at",
]  # fmt: skip
DELIVERY_FIELDS = [
    "id", "connection_id", "delivery_id", "trigger", "ticket_id", "ticket_number", "received_at",
    "outcome", "run_id",
]  # fmt: skip
ERASED = ""


def _kimai_ids(subject: Subject) -> list[Any]:
    ids = subject.external_ids(Person.Kind.TARGET_USER)
    return [*ids, *(int(i) for i in ids if i.isdigit())]


def _items(subject: Subject) -> QuerySet[RunItem]:
    return RunItem.objects.filter(kimai_user__in=subject.person_ids)


def _conflicts(subject: Subject) -> QuerySet[Conflict]:
    kimai_ids = _kimai_ids(subject)
    return Conflict.objects.filter(
        Q(agent__in=subject.person_ids)
        | Q(source_snapshot__timesheet__user__value__in=kimai_ids)
        | Q(source_snapshot__user_id__in=kimai_ids)
    )


def _intents(subject: Subject) -> QuerySet[WriteIntent]:
    return WriteIntent.objects.filter(payload__user_id__in=_kimai_ids(subject))


def _deliveries(subject: Subject) -> QuerySet[WebhookDelivery]:
    """Deliveries of the tickets their entries are on (a delivery names only the ticket)."""
    tickets = _items(subject).exclude(ticket_id="").values("ticket_id")
    conflict_tickets = _conflicts(subject).exclude(ticket_id="").values("ticket_id")
    return WebhookDelivery.objects.filter(
        Q(ticket_id__in=tickets) | Q(ticket_id__in=conflict_tickets)
    )


# Keys of snapshots whose values are free text that may name someone (a timesheet's description
# carries the ticket title). Their text is erased, their shape kept (pages still read them).
FREE_TEXT_KEYS = frozenset({"description", "ticket_title", "title", "note"})


def _erased(value: Any) -> Any:
    if isinstance(value, str):
        return ERASED
    if isinstance(value, dict):
        return {k: _erased(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_erased(v) for v in value]
    return value


def _without_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _erased(v) if k in FREE_TEXT_KEYS else _without_descriptions(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_descriptions(v) for v in value]
    return value


def _forget_conflicts(subject: Subject) -> int:
    changed = 0
    for conflict in _conflicts(subject).iterator(chunk_size=500):
        conflict.source_snapshot = _without_descriptions(conflict.source_snapshot)
        conflict.target_snapshot = _without_descriptions(conflict.target_snapshot)
        conflict.candidates = _without_descriptions(conflict.candidates)
        conflict.note = ""
        conflict.save(update_fields=["source_snapshot", "target_snapshot", "candidates", "note"])
        changed += 1
    return changed


def _forget_intents(subject: Subject) -> int:
    """Settled intents lose their description, in one statement (a person may have one per
    entry ever written); an open one (pending or uncertain) keeps what it sent until the next
    run settles it, since that run compares it with Kimai."""
    settled = _intents(subject).exclude(state__in=WriteIntent.OPEN_STATES)
    return settled.filter(payload__has_key="description").update(
        payload=RawSQL("payload || jsonb_build_object('description', %s)", [ERASED])
    )


def _forget_deliveries(subject: Subject) -> int:
    return int(_deliveries(subject).delete()[0])


def _forget_items(subject: Subject) -> int:
    """Run entries hold ids and Kimai's error words: the words go, the ids stay."""
    return _items(subject).exclude(error="").update(error=ERASED)


def _conflict_events(subject: Subject) -> Q:
    """Audit events about the conflicts of their entries (decisions, quick fixes)."""
    ids = _conflicts(subject).annotate(text_id=Cast("pk", CharField())).values("text_id")
    return Q(object_type="conflict", object_id__in=ids)


def _finished_runs(cutoff: datetime) -> QuerySet[Run]:
    return Run.objects.filter(created_at__lt=cutoff, status__in=Run.FINISHED)


def register() -> None:
    register_audit_refs(_conflict_events)
    for key, label, rows, count, forget in [
        ("run_items", "Run entries booked to their Kimai user",
         lambda s: model_rows(_items(s), ITEM_FIELDS), lambda s: _items(s).count(), _forget_items),
        ("conflicts", "Conflicts of their entries (descriptions and notes are erased)",
         lambda s: model_rows(_conflicts(s), CONFLICT_FIELDS), lambda s: _conflicts(s).count(),
         _forget_conflicts),
        ("write_intents", "Writes to Kimai for them (descriptions are erased)",
         lambda s: model_rows(_intents(s), INTENT_FIELDS), lambda s: _intents(s).count(),
         _forget_intents),
        ("webhook_deliveries", "Webhook deliveries of their tickets (deleted)",
         lambda s: model_rows(_deliveries(s), DELIVERY_FIELDS), lambda s: _deliveries(s).count(),
         _forget_deliveries),
    ]:  # fmt: skip
        register_personal_data(PersonalData(key, label, rows, count, forget))
    register_expiring(
        Expiring(
            "run_items", "entries of finished sync runs", "runs_days",
            expired=lambda cutoff: RunItem.objects.filter(run__in=_finished_runs(cutoff)),
        )
    )  # fmt: skip
    register_expiring(
        Expiring(
            "runs", "finished sync runs", "runs_days",
            expired=_finished_runs, delete_batch=plain_delete(Run),
        )
    )  # fmt: skip
    register_expiring(
        Expiring(
            "conflicts", "resolved conflicts (skipped ones are decisions and stay)",
            "conflicts_days",
            expired=lambda cutoff: Conflict.objects.filter(
                status=Conflict.Status.RESOLVED, resolved_at__lt=cutoff
            ),
            delete_batch=plain_delete(Conflict),
        )
    )  # fmt: skip
