# No `from __future__ import annotations` here: django-ninja's @paginate resolves parameter
# annotations in its own module, so they must be real objects, not strings.

from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import LimitOffsetPagination, paginate
from pydantic import ConfigDict, Field

from apps.core.audit import actor_of_request
from apps.core.models import AuditEvent
from apps.mappings.services import NotConfigured, current_pair, profile_for
from apps.sync.models import Conflict, Run, RunItem
from apps.sync.services import RunRequestInvalid, request_run

router = Router(tags=["Sync"])
conflicts_router = Router(tags=["Conflicts"])
audit_router = Router(tags=["Audit"])


class RunIn(Schema):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["window", "incremental", "ticket"]
    start: datetime | None = Field(default=None, description="Window start (window scope).")
    end: datetime | None = Field(default=None, description="Window end, exclusive.")
    ticket_id: str = Field(default="", max_length=64, description="Zammad ticket id.")
    dry_run: bool = Field(default=False, description="Plan only: nothing is written to Kimai.")


class RunItemOut(Schema):
    source_id: str
    ticket_id: str
    ticket_number: str
    booked_at: datetime | None
    planned: str
    applied: str
    result: str
    reason: str
    kimai_id: str
    kimai_user_id: int | None
    duration_seconds: int
    error: str


class RunOut(Schema):
    id: int
    trigger: str
    actor: str
    scope: str
    window_start: datetime | None
    window_end: datetime | None
    ticket_id: str
    dry_run: bool
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    total: int
    done: int
    counts: dict[str, int]
    hours: dict[str, Any]
    error: str
    requests_made: int


class RunDetailOut(RunOut):
    items: list[RunItemOut]
    items_total: int


class ErrorOut(Schema):
    detail: str


def _profile() -> Any:
    try:
        return profile_for(*current_pair())
    except NotConfigured as error:
        raise HttpError(409, str(error)) from None


@router.post(
    "/sync/runs",
    response={202: RunOut, 409: ErrorOut, 422: ErrorOut},
    summary="Ask for a run; answers at once with its id (identical queued requests coalesce)",
)
def create_run(request: HttpRequest, payload: RunIn) -> Status[Run]:
    try:
        run, _ = request_run(
            _profile(), scope=payload.scope, trigger=Run.Trigger.API,
            actor=actor_of_request(request), dry_run=payload.dry_run, start=payload.start,
            end=payload.end, ticket_id=payload.ticket_id,
        )  # fmt: skip
    except RunRequestInvalid as error:
        raise HttpError(422, str(error)) from None
    return Status(202, run)


@router.get("/sync/runs", response=list[RunOut], summary="Runs, newest first")
@paginate(LimitOffsetPagination)
def list_runs(request: HttpRequest, status: str | None = None) -> QuerySet[Run]:
    runs = Run.objects.all()
    return runs.filter(status=status) if status else runs


@router.get(
    "/sync/runs/{run_id}", response=RunDetailOut, summary="A run: status, counts and its items"
)
def get_run(
    request: HttpRequest, run_id: int, items_offset: int = 0, items_limit: int = 500
) -> dict[str, Any]:
    run = get_object_or_404(Run, pk=run_id)
    items_limit = max(0, min(items_limit, 1000))
    items = RunItem.objects.filter(run=run)
    body = {name: getattr(run, name) for name in RunOut.model_fields}
    body["items"] = list(items[max(0, items_offset) : max(0, items_offset) + items_limit])
    body["items_total"] = items.count()
    return body


# -- conflicts -------------------------------------------------------------------------------------
class ConflictOut(Schema):
    id: int
    kind: str
    reason: str
    status: str
    source_id: str
    ticket_id: str
    ticket_number: str
    agent_id: int | None = Field(description="Person id of the Zammad agent.")
    booked_at: datetime | None
    kimai_id: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolution: str
    resolved_by: str
    note: str


class ConflictDetailOut(ConflictOut):
    source_snapshot: dict[str, Any]
    target_snapshot: dict[str, Any] | None
    candidates: list[dict[str, Any]]


@conflicts_router.get("/conflicts", response=list[ConflictOut], summary="Conflicts (filtered)")
@paginate(LimitOffsetPagination)
def list_conflicts(
    request: HttpRequest,
    status: Literal["open", "resolved", "skipped", "all"] = "open",
    kind: str | None = None,
    ticket: str | None = None,
    agent: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Conflict]:
    """``ticket``: Zammad ticket number; ``agent``: Person id; ``since``/``until``: booked at."""
    conflicts = Conflict.objects.all()
    if status != "all":
        conflicts = conflicts.filter(status=status)
    if kind:
        conflicts = conflicts.filter(kind=kind)
    if ticket:
        conflicts = conflicts.filter(ticket_number=ticket)
    if agent:
        conflicts = conflicts.filter(agent_id=agent)
    if since:
        conflicts = conflicts.filter(booked_at__gte=since)
    if until:
        conflicts = conflicts.filter(booked_at__lt=until)
    return conflicts


@conflicts_router.get(
    "/conflicts/{conflict_id}", response=ConflictDetailOut, summary="A conflict with both sides"
)
def get_conflict(request: HttpRequest, conflict_id: int) -> Conflict:
    return get_object_or_404(Conflict, pk=conflict_id)


# -- audit --------------------------------------------------------------------------------------
class AuditOut(Schema):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    ticket: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    run_id: int | None


@audit_router.get("/audit", response=list[AuditOut], summary="Audit events, newest first")
@paginate(LimitOffsetPagination)
def list_audit(
    request: HttpRequest,
    since: datetime | None = None,
    until: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    ticket: str | None = None,
) -> QuerySet[AuditEvent]:
    """``ticket``: Zammad ticket number."""
    events = AuditEvent.objects.all()
    if since:
        events = events.filter(at__gte=since)
    if until:
        events = events.filter(at__lt=until)
    if actor:
        events = events.filter(actor=actor)
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if ticket:
        events = events.filter(ticket=ticket)
    return events
