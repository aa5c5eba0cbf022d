"""Recording audit events: every write to Kimai, configuration change and resolution."""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from apps.core.inserts import insert_rows
from apps.core.models import AuditDetail, AuditEvent

# Values that may name a person (a timesheet's description carries the ticket title): stored in
# an AuditDetail row that a purge can forget, never in the append-only event.
PERSONAL_KEYS = frozenset({"description", "note"})

SCHEDULE = "schedule"
WEBHOOK = "webhook"
SYSTEM = "system"

_actor: ContextVar[str] = ContextVar("audit_actor", default=SYSTEM)


def current_actor() -> str:
    """Who is acting in this request, run or command ("system" when nobody said)."""
    return _actor.get()


def act_as(actor: str) -> Token[str]:
    return _actor.set(actor)


def stop_acting(token: Token[str]) -> None:
    _actor.reset(token)


def actor_of_request(request: HttpRequest) -> str:
    """Who made this request: an API key, or the admin's session."""
    key = getattr(request, "api_key", None)
    if key is not None:
        return f"api-key:{key.prefix}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"admin:{user.pk}"
    return "anonymous"


@dataclass(frozen=True)
class Event:
    """One audit event to record; :func:`record_many` writes many in two INSERTs."""

    actor: str
    action: str
    object_type: str
    object_id: object = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    run_id: int | None = None
    ticket: str = ""


def record(
    actor: str,
    action: str,
    object_type: str,
    object_id: object = "",
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    run_id: int | None = None,
    ticket: str = "",
) -> AuditEvent:
    event = Event(actor, action, object_type, object_id, before, after, run_id, ticket)
    return record_many([event])[0]


def record_many(events: Iterable[Event]) -> list[AuditEvent]:
    """Record ``events``: one INSERT of the events, one of their personal details (if any)."""
    rows: list[AuditEvent] = []
    personal: list[tuple[dict[str, Any] | None, dict[str, Any] | None]] = []
    for event in events:
        before, personal_before = _split(event.before)
        after, personal_after = _split(event.after)
        rows.append(
            AuditEvent(
                actor=event.actor,
                action=event.action,
                object_type=event.object_type,
                object_id=str(event.object_id),
                before=before,
                after=after,
                run_id=event.run_id,
                ticket=event.ticket or "",
            )
        )
        personal.append((personal_before, personal_after))
    insert_rows(rows)
    details = [
        # By id: event=row would tie the two in a reference cycle only the collector frees.
        AuditDetail(event_id=row.pk, before=before, after=after)
        for row, (before, after) in zip(rows, personal, strict=True)
        if before is not None or after is not None
    ]
    if details:
        insert_rows(details)
    return rows


def _split(values: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(what the event keeps, the personal values for its detail row)."""
    if not values or PERSONAL_KEYS.isdisjoint(values):
        return values, None
    kept = {k: v for k, v in values.items() if k not in PERSONAL_KEYS}
    return kept, {k: v for k, v in values.items() if k in PERSONAL_KEYS}
