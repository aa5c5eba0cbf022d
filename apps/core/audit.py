"""Recording audit events: every write to Kimai, configuration change and resolution."""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Any

from django.http import HttpRequest

from apps.core.models import AuditEvent

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
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
        run_id=run_id,
        ticket=ticket or "",
    )
