"""Recording audit events: every write to Kimai, configuration change and resolution."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from django.http import HttpRequest

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
    before, personal_before = _split(before)
    after, personal_after = _split(after)
    event = AuditEvent.objects.create(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        run_id=run_id,
        ticket=ticket or "",
    )
    if personal_before is not None or personal_after is not None:
        AuditDetail.objects.create(event=event, before=personal_before, after=personal_after)
    return event


def _split(values: dict[str, Any] | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(what the event keeps, the personal values for its detail row)."""
    if not values or PERSONAL_KEYS.isdisjoint(values):
        return values, None
    kept = {k: v for k, v in values.items() if k not in PERSONAL_KEYS}
    return kept, {k: v for k, v in values.items() if k in PERSONAL_KEYS}
