# No `from __future__ import annotations` here: django-ninja's @paginate resolves parameter
# annotations in its own module, so they must be real objects, not strings.

from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import paginate
from pydantic import ConfigDict, Field

from apps.accounts.actors import actor_labels
from apps.core.api_errors import ErrorOut
from apps.core.api_types import Id, Instant, Offset, Pagination
from apps.core.audit import actor_of_request
from apps.core.models import AuditEvent
from apps.core.paging import keyed_slice
from apps.mappings.services import NotConfigured, current_pair, profile_for
from apps.sync.auditlog import AuditFilters, change_dicts, export_response
from apps.sync.conflict_pages import (
    ConflictFilters,
    conflict_row,
    conflicts_with_people,
    user_labels,
)
from apps.sync.engine import settings_of
from apps.sync.models import Conflict, Run, RunItem, SyncSettings
from apps.sync.resolutions import (
    ResolutionParams,
    ResolutionRefused,
    apply_bulk,
    apply_resolution,
)
from apps.sync.schedules import apply_schedule
from apps.sync.services import RunRequestInvalid, request_run

BULK_API_LIMIT = 500

router = Router(tags=["Sync"])
conflicts_router = Router(tags=["Conflicts"])
audit_router = Router(tags=["Audit"])


class RunIn(Schema):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["window", "incremental", "ticket"]
    start: Instant | None = Field(default=None, description="Window start (window scope).")
    end: Instant | None = Field(default=None, description="Window end, exclusive.")
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
    status: Literal["queued", "running", "succeeded", "partial", "failed", "interrupted"] = Field(
        description="succeeded: every write went through; partial: some writes were refused, "
        "uncertain or failed while others were done; failed: nothing was done and writes went "
        "wrong, or the run crashed (see error); interrupted: the worker stopped during the run."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    total: int
    done: int
    counts: dict[str, int] = Field(description="Entries per planned outcome (create, adopt, ...).")
    results: dict[str, int] = Field(
        description="What happened to the writes: written, refused, uncertain, failed; and "
        "settled_applied / settled_not_applied for writes earlier runs left uncertain."
    )
    hours: dict[str, Any]
    error: str
    requests_made: int
    figures: dict[str, Any] = Field(
        description="Per server (kimai, zammad): requests sent and the adaptive limit on "
        "requests at once: limit (now, or at the end), ceiling (the connection's 'Requests at "
        "once, at most'), peak, reason (why it last changed, in words), changed_at, increases, "
        "decreases and overloads by kind (rate_limited = 429, busy = 503, timeout, slower), "
        "paused_seconds (Retry-After), p95_ms (answers), changes (the last 20)."
    )


class RunDetailOut(RunOut):
    items: list[RunItemOut]
    items_total: int


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
@paginate(Pagination)
def list_runs(request: HttpRequest, status: str | None = None) -> QuerySet[Run]:
    runs = Run.objects.all()
    return runs.filter(status=status) if status else runs


@router.get(
    "/sync/runs/{run_id}", response=RunDetailOut, summary="A run: status, counts and its items"
)
def get_run(
    request: HttpRequest,
    run_id: Id,
    items_offset: Offset = 0,
    items_limit: int = Query(500, ge=0, le=1000),
) -> dict[str, Any]:
    run = get_object_or_404(Run, pk=run_id)
    items = RunItem.objects.filter(run=run)
    body = {name: getattr(run, name) for name in RunOut.model_fields}
    body["items"] = keyed_slice(items, items_offset, items_offset + items_limit)
    body["items_total"] = items.count()
    return body


# -- settings ------------------------------------------------------------------------------------
class SyncSettingsOut(Schema):
    schedule_enabled: bool = Field(
        description="Off for a new pair: nothing syncs on its own until it is switched on."
    )
    incremental_every_minutes: int
    full_reconcile_hour_utc: int
    full_lookback_days: int
    deletion_policy: Literal["flag", "delete", "ignore"]
    adopt_tolerance_minutes: int = Field(
        description="Hand-typed Kimai timesheets this much further from the entry than Kimai's "
        "rounding (2 minutes) are still adopted."
    )


class SyncSettingsIn(Schema):
    """PUT: fields left out get their defaults; PATCH: fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    schedule_enabled: bool = False
    incremental_every_minutes: int = Field(default=15, ge=1, le=1440)
    full_reconcile_hour_utc: int = Field(default=2, ge=0, le=23)
    full_lookback_days: int = Field(default=30, ge=1, le=366)
    deletion_policy: Literal["flag", "delete", "ignore"] = "flag"
    adopt_tolerance_minutes: int = Field(default=0, ge=0, le=240)


@router.get(
    "/sync/settings",
    response={200: SyncSettingsOut, 409: ErrorOut},
    summary="Schedule, deletion policy and adoption tolerance of the pair",
)
def get_sync_settings(request: HttpRequest) -> SyncSettings:
    return settings_of(_profile())


@router.api_operation(
    ["PUT", "PATCH"],
    "/sync/settings",
    response={200: SyncSettingsOut, 409: ErrorOut, 422: ErrorOut},
    summary="Change the schedule (switch it on or off), deletion policy or adoption tolerance",
)
def set_sync_settings(request: HttpRequest, payload: SyncSettingsIn) -> SyncSettings:
    sync_settings = settings_of(_profile())
    for name, value in payload.model_dump(exclude_unset=request.method == "PATCH").items():
        setattr(sync_settings, name, value)
    sync_settings.save()
    apply_schedule(sync_settings)
    return sync_settings


# -- conflicts -----------------------------------------------------------------------------------
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


class SideOut(Schema):
    """One side of a conflict: the timesheet Zammad's entry becomes, or Kimai's timesheet."""

    user_id: str | None = Field(description="Kimai user id.")
    user: str | None = Field(description="The Kimai user's name, looked up now (not stored).")
    date: str | None = Field(description="Day of the begin, in the time zone of the times.")
    begin: str | None
    end: str | None
    duration_seconds: int | None
    customer_id: str | None
    customer: str
    project_id: str | None
    project: str
    activity_id: str | None
    activity: str
    description: str
    billable: bool | None = Field(description="None on the Zammad side: Kimai decides.")
    tags: list[str]


class CandidateOut(Schema):
    id: str
    kimai: SideOut
    diff: list[str] = Field(description="Fields on which this timesheet differs from Zammad.")


class ActionOut(Schema):
    action: str
    label: str
    hint: str
    kimai_id: str


class ConflictDetailOut(ConflictOut):
    source_snapshot: dict[str, Any]
    target_snapshot: dict[str, Any] | None
    candidates: list[dict[str, Any]]
    version: str = Field(description="Send it back with a resolution to refuse stale decisions.")
    zammad: SideOut | None = Field(description="None when the entry is gone from Zammad.")
    kimai: SideOut | None
    diff: list[str] = Field(description="Fields on which the two sides differ.")
    candidate_sides: list[CandidateOut]
    actions: list[ActionOut] = Field(description="What fits this conflict now.")


class RefusalOut(Schema):
    detail: str
    reason: str = Field(
        description="invalid, done (already decided), stale (a side changed), busy (a run holds "
        "the pair), refused (by Kimai), uncertain (verified on the next run), unavailable."
    )


def _side(side: Any, zone: Any, users: dict[str, str]) -> dict[str, Any] | None:
    if side is None:
        return None
    body: dict[str, Any] = side.as_dict(zone)
    body["user"] = users.get(body["user_id"]) if body["user_id"] else None
    return body


def _conflict_body(conflict: Conflict) -> dict[str, Any]:
    labels = user_labels([conflict])
    row = conflict_row(conflict, labels)
    target = conflict.profile.target_id
    users = {ext: label for (conn, ext), label in labels.items() if conn == target}
    comparison = row.comparison
    body = {name: getattr(conflict, name) for name in ConflictOut.model_fields}
    body.update(
        source_snapshot=conflict.source_snapshot,
        target_snapshot=conflict.target_snapshot,
        candidates=conflict.candidates,
        version=row.version,
        zammad=_side(comparison.zammad, comparison.zone, users),
        kimai=_side(comparison.kimai, comparison.zone, users),
        diff=list(comparison.differing),
        candidate_sides=[
            {
                "id": str(candidate.get("id")),
                "kimai": _side(cmp.kimai, cmp.zone, users),
                "diff": list(cmp.differing),
            }
            for candidate, cmp in row.candidates
        ],
        actions=[
            {"action": c.action, "label": c.label, "hint": c.hint, "kimai_id": c.kimai_id}
            for c in row.choices
        ],
    )
    return body


@conflicts_router.get("/conflicts", response=list[ConflictOut], summary="Conflicts (filtered)")
@paginate(Pagination)
def list_conflicts(
    request: HttpRequest,
    status: Literal["open", "resolved", "skipped", "all"] = "open",
    kind: str | None = None,
    ticket: str | None = None,
    agent: Id | None = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> QuerySet[Conflict]:
    """``ticket``: Zammad ticket number; ``agent``: Person id; ``since``/``until``: booked at."""
    # The pages' filters, with instants instead of calendar days for since/until.
    filters = ConflictFilters(
        status=status, kind=kind or "", agent=agent, ticket=(ticket or "").lstrip("#")
    )
    conflicts = filters.apply(Conflict.objects.all())
    if since:
        conflicts = conflicts.filter(booked_at__gte=since)
    if until:
        conflicts = conflicts.filter(booked_at__lt=until)
    return conflicts


# Before /conflicts/{conflict_id}: Django tries the routes in order.
class BulkResolveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(min_length=1, max_length=BULK_API_LIMIT, description="Conflict ids.")
    action: Literal["create", "update", "skip", "delete", "recheck"]
    note: str = Field(default="", max_length=2000)


class BulkItemOut(Schema):
    id: int
    ok: bool
    message: str
    reason: str = Field(description="Why not, when ok is false (see RefusalOut.reason).")
    kimai_id: str
    run_id: int | None


class BulkOut(Schema):
    resolved: int
    refused: int
    results: list[BulkItemOut]


@conflicts_router.post(
    "/conflicts/resolve",
    response={200: BulkOut, 409: RefusalOut, 422: RefusalOut},
    summary="Apply one action to many conflicts; each succeeds or fails on its own",
)
def resolve_conflicts(request: HttpRequest, payload: BulkResolveIn) -> Status[dict[str, Any]]:
    try:
        outcome = apply_bulk(
            payload.ids, payload.action, ResolutionParams(note=payload.note),
            actor_of_request(request),
        )  # fmt: skip
    except ResolutionRefused as refused:
        return Status(refused.status, {"detail": refused.message, "reason": refused.reason})
    results = [
        {
            "id": r.conflict_id,
            "ok": r.ok,
            "message": r.message,
            "reason": r.reason,
            "kimai_id": r.kimai_id,
            "run_id": r.run_id,
        }  # fmt: skip
        for r in outcome.results
    ]
    resolved = sum(1 for r in outcome.results if r.ok)
    return Status(
        200, {"resolved": resolved, "refused": len(results) - resolved, "results": results}
    )


@conflicts_router.get(
    "/conflicts/{conflict_id}",
    response=ConflictDetailOut,
    summary="A conflict: both sides, what differs, and the actions that fit",
)
def get_conflict(request: HttpRequest, conflict_id: Id) -> dict[str, Any]:
    return _conflict_body(get_object_or_404(conflicts_with_people(), pk=conflict_id))


class ResolveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    action: Literal["create", "update", "link", "skip", "delete", "recheck"] = Field(
        description="One of the conflict's `actions`; `recheck` syncs its ticket again."
    )
    kimai_id: str = Field(default="", max_length=64, description="link: the Kimai timesheet.")
    note: str = Field(default="", max_length=2000, description="skip: why (optional).")
    version: str = Field(
        default="", max_length=64, description="The `version` you decided on; refused if stale."
    )


class ResolutionOut(Schema):
    message: str
    kimai_id: str = Field(description="The Kimai timesheet written or linked, if any.")
    run_id: int | None = Field(description="The run asked for (recheck).")
    conflict: ConflictDetailOut


@conflicts_router.post(
    "/conflicts/{conflict_id}/resolve",
    response={200: ResolutionOut, 404: ErrorOut, 409: RefusalOut, 422: RefusalOut},
    summary="Resolve a conflict (writes through the exactly-once machinery)",
)
def resolve_conflict(
    request: HttpRequest, conflict_id: Id, payload: ResolveIn
) -> Status[dict[str, Any]]:
    conflict = get_object_or_404(Conflict, pk=conflict_id)
    params = ResolutionParams(kimai_id=payload.kimai_id, note=payload.note, version=payload.version)
    try:
        done = apply_resolution(conflict, payload.action, params, actor_of_request(request))
    except ResolutionRefused as refused:
        return Status(refused.status, {"detail": refused.message, "reason": refused.reason})
    body = {
        "message": done.message,
        "kimai_id": done.kimai_id,
        "run_id": done.run_id,
        "conflict": _conflict_body(get_object_or_404(conflicts_with_people(), pk=conflict_id)),
    }
    return Status(200, body)


# -- audit ---------------------------------------------------------------------------------------
class ChangeOut(Schema):
    field: str
    before: Any
    after: Any


class AuditExportOut(Schema):
    """One event of a `format=json` download (`format=csv` has the same columns)."""

    id: int
    at: datetime
    actor: str = Field(description="Who: admin:<id>, api-key:<prefix>, schedule, webhook, system.")
    actor_name: str = Field(description="Who, in words: the admin's e-mail, the key's name.")
    action: str
    object_type: str
    object_id: str
    ticket: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    run_id: int | None

    @staticmethod
    def resolve_before(event: AuditEvent) -> dict[str, Any] | None:
        return event.shown_before

    @staticmethod
    def resolve_after(event: AuditEvent) -> dict[str, Any] | None:
        return event.shown_after


class AuditOut(AuditExportOut):
    changes: list[ChangeOut] = Field(description="What differs between before and after.")


class AuditPageOut(Schema):
    items: list[AuditOut]
    count: int


@audit_router.get(
    "/audit",
    # format=page answers a page; format=json streams a JSON array, format=csv the same as CSV.
    response=AuditPageOut | list[AuditExportOut],
    summary="Audit events, newest first; format=csv or json streams every matching event",
    openapi_extra={
        "responses": {
            200: {
                "description": "A page (format=page), or every matching event as a download.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def list_audit(
    request: HttpRequest,
    since: Instant | None = None,
    until: Instant | None = None,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    ticket: str | None = None,
    format: Literal["page", "csv", "json"] = "page",
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> Any:
    """``ticket``: Zammad ticket number; ``since``/``until``: when (``until`` exclusive)."""
    filters = AuditFilters(
        since=since, until=until, actor=actor or "", action=action or "",
        object_type=object_type or "", object_id=object_id or "",
        ticket=(ticket or "").lstrip("#"),
    )  # fmt: skip
    events = filters.apply(AuditEvent.objects.all())
    if format != "page":
        return export_response(events, format)
    items = keyed_slice(events, offset, offset + limit)
    names = actor_labels(e.actor for e in items)
    for event in items:
        event.changes = change_dicts(event)  # type: ignore[attr-defined]
        event.actor_name = names[event.actor]  # type: ignore[attr-defined]
    return {"items": items, "count": events.count()}
