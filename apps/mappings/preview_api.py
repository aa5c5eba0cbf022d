"""POST /api/v1/mappings/preview: the Kimai timesheet an entry becomes, field by field, and why.

The entry is read from Zammad (a time accounting id or a ticket number) or given in the request;
it is planned with the pair's saved rules and mappings, and nothing is written.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import ConfigDict, Field

from apps.connectors.entry import ActivityRef, AgentRef, OrganizationRef, TicketRef, TimeEntry
from apps.core.api_types import AwareInstant, Id
from apps.mappings import services
from apps.mappings.api import MappingErrorOut, pair_for
from apps.mappings.engine import FieldDecision, TicketFacts, TimesheetPlan

router = Router(tags=["Mappings"])


# -- schemas --------------------------------------------------------------------------------------
class RefIn(Schema):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    name: str | None = None


class TicketIn(Schema):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    number: str | None = None
    title: str | None = None


class AgentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    email: str | None = None
    name: str | None = None


class TicketDetailsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    group_id: str | None = None
    group_name: str | None = None
    customer_id: str | None = None
    tags: list[str] | None = None


class EntryIn(Schema):
    """A time accounting as the Zammad connector would read it."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(default="preview", min_length=1, max_length=64)
    booked_at: AwareInstant
    duration_seconds: int = Field(ge=-10_000_000, le=10_000_000)
    ticket: TicketIn | None = None
    organization: RefIn | None = None
    agent: AgentIn | None = None
    activity: RefIn | None = None
    ticket_details: TicketDetailsIn | None = None


class PreviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    time_accounting_id: str | None = Field(default=None, description="Read from Zammad.")
    ticket_number: str | None = Field(default=None, description="All entries of the ticket.")
    entry: EntryIn | None = Field(default=None, description="An entry given here.")


class FieldOut(Schema):
    value: Any
    display: str
    decided_by: str
    reason: str


class ProblemOut(Schema):
    kind: str
    message: str
    field: str | None


class DraftOut(Schema):
    begin: datetime
    end: datetime
    duration_seconds: int
    user_id: str | None
    project_id: str
    activity_id: str
    description: str
    tags: list[str]
    billable: bool | None


class ToCreateOut(Schema):
    name: str
    customer_id: str | None = None
    link_scope: str
    link_key: str


class PlanOut(Schema):
    entry_id: str
    marker: str
    status: Literal["ready", "creates_project", "conflict", "skipped"]
    draft: DraftOut | None
    fields: dict[str, FieldOut]
    problems: list[ProblemOut]
    skipped_reason: str | None
    rule_id: Id | None
    project_to_create: ToCreateOut | None
    customer_to_create: ToCreateOut | None


class PreviewOut(Schema):
    plans: list[PlanOut]
    note: str


# -- plans as JSON ---------------------------------------------------------------------------------
def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


def _field(decision: FieldDecision) -> dict[str, Any]:
    return {
        "value": _value(decision.value),
        "display": decision.display,
        "decided_by": decision.decided_by,
        "reason": decision.reason,
    }


def plan_out(plan: TimesheetPlan) -> dict[str, Any]:
    if plan.skipped_reason:
        status = "skipped"
    elif plan.problems:
        status = "conflict"
    elif plan.project_to_create:
        status = "creates_project"
    else:
        status = "ready"
    draft = None
    if plan.draft is not None:
        draft = {
            **asdict(plan.draft),
            "end": plan.fields["end"].value,
            "tags": list(plan.draft.tags),
        }
    return {
        "entry_id": plan.entry_id,
        "marker": plan.marker,
        "status": status,
        "draft": draft,
        "fields": {name: _field(d) for name, d in plan.fields.items()},
        "problems": [asdict(p) for p in plan.problems],
        "skipped_reason": plan.skipped_reason,
        "rule_id": plan.rule_id,
        "project_to_create": asdict(plan.project_to_create) if plan.project_to_create else None,
        "customer_to_create": asdict(plan.customer_to_create) if plan.customer_to_create else None,
    }


# -- the operation --------------------------------------------------------------------------------
def _entry(payload: EntryIn, source_id: int | None) -> tuple[TimeEntry, dict[str, TicketFacts]]:
    ticket = TicketRef(**payload.ticket.model_dump()) if payload.ticket else None
    entry = TimeEntry(
        source_kind="zammad",
        connection_id=source_id,
        external_id=payload.external_id,
        booked_at=payload.booked_at,
        duration_seconds=payload.duration_seconds,
        ticket=ticket,
        organization=OrganizationRef(**payload.organization.model_dump())
        if payload.organization
        else None,
        agent=AgentRef(**payload.agent.model_dump()) if payload.agent else None,
        activity=ActivityRef(**payload.activity.model_dump()) if payload.activity else None,
    )
    facts = {}
    if ticket is not None and payload.ticket_details is not None:
        details = payload.ticket_details
        facts[ticket.id] = TicketFacts(
            ticket.id,
            details.group_id,
            details.group_name,
            details.customer_id,
            tuple(details.tags) if details.tags is not None else None,
        )
    return entry, facts


@router.post(
    "/mappings/preview",
    # The operationId it was published with before it moved out of apps/mappings/api.py.
    operation_id="apps_mappings_api_preview",
    response={200: PreviewOut, **dict.fromkeys((404, 409, 422, 502), MappingErrorOut)},
    summary="The Kimai timesheet an entry becomes, field by field, and why",
)
def preview(
    request: HttpRequest, payload: PreviewIn, source: Id | None = None, target: Id | None = None
) -> dict[str, Any]:
    given = [v for v in (payload.time_accounting_id, payload.ticket_number, payload.entry) if v]
    if len(given) != 1:
        raise services.MappingInvalid(
            {"general": ["Send exactly one of time_accounting_id, ticket_number and entry."]}
        )
    pair = pair_for(source, target)
    if payload.entry is not None:
        entry, facts = _entry(payload.entry, pair.source.pk)
        found = services.plan_entries(pair.source, pair.target, [entry], facts)
    else:
        found = services.preview_from_zammad(
            pair.source,
            pair.target,
            ticket_number=payload.ticket_number or "",
            accounting_id=payload.time_accounting_id or "",
        )
    return {"plans": [plan_out(plan) for _, plan in found.plans], "note": found.note}
