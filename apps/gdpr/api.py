"""The GDPR API: what is held about a person, their export and purge, and retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict, Field, model_validator

from apps.core.api_errors import errors
from apps.core.audit import actor_of_request
from apps.gdpr import retention
from apps.gdpr.export import export_response, summary
from apps.gdpr.models import Person, RetentionPolicy
from apps.gdpr.purge import AlreadyPurged, purge
from apps.gdpr.subject import Subject, SubjectNotFound, find_subject, subject_people

router = Router(tags=["Privacy"])


class PersonQuery(Schema):
    email: str | None = Field(None, max_length=254, description="Every person with this e-mail.")
    person_id: int | None = Field(None, ge=1, le=2**63 - 1, description="One Person row.")


class PersonIn(Schema):
    """Who to purge: ``email`` or ``person_id``."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    person_id: int | None = Field(None, ge=1, le=2**63 - 1)

    @model_validator(mode="after")
    def one_of_them(self) -> PersonIn:
        if (self.email is None) == (self.person_id is None):
            raise ValueError("give either email or person_id")
        return self


class PersonOut(Schema):
    id: int
    kind: str = Field(description="agent (Zammad), target_user (Kimai) or customer (Zammad).")
    connection_id: int
    external_id: str = Field(description="The vendor's id: kept after a purge.")
    label: str = Field(description="Their name, or 'forgotten person #N' after a purge.")
    email: str
    purged_at: datetime | None

    @staticmethod
    def resolve_label(person: Person) -> str:
        return person.label


class SectionOut(Schema):
    key: str
    label: str
    rows: int


class HeldOut(Schema):
    """What this service holds about one person, counted: what a purge would change."""

    people: list[PersonOut]
    sections: list[SectionOut]


class PurgeOut(Schema):
    person_id: int = Field(description="The audit event 'person #N purged' names this id.")
    people: list[int]
    rows: dict[str, int] = Field(description="Rows erased, pseudonymized or deleted, by section.")


class ExportOut(Schema):
    """The download's shape: the Person rows and one list per section of rows."""

    model_config = ConfigDict(extra="allow")

    format: int
    exported_at: datetime
    person_ids: list[int]
    people: list[dict[str, Any]]


def _subject(query: PersonQuery | PersonIn) -> Subject:
    if not query.email and query.person_id is None:
        raise HttpError(400, "Give an e-mail address (email) or a person id (person_id).")
    try:
        return find_subject(email=query.email, person_id=query.person_id)
    except SubjectNotFound as missing:
        raise HttpError(404, str(missing)) from None


@router.get(
    "/gdpr/people",
    response={200: HeldOut, **errors(404)},
    summary="What is held about a person (by e-mail or person id), counted per kind of row",
)
def held(request: HttpRequest, query: Query[PersonQuery]) -> dict[str, Any]:
    subject = _subject(query)
    return {"people": subject_people(subject), "sections": summary(subject)}


@router.get(
    "/gdpr/export",
    response={200: ExportOut, **errors(404)},
    summary="Everything held about a person as one JSON document, streamed",
    description=(
        "By `email` (every Person row with it, ignoring case) or `person_id`, plus the rows a "
        "user mapping links to them. Sections: people, user_mappings, run_items, conflicts, "
        "write_intents, webhook_deliveries, audit_events. Rows are read in chunks and written "
        "as they come: 100,000 entries never sit in memory."
    ),
)
def export(request: HttpRequest, query: Query[PersonQuery]) -> StreamingHttpResponse:
    return export_response(_subject(query))


@router.post(
    "/gdpr/purge",
    response={200: PurgeOut, **errors(404, 409)},
    summary="Forget a person everywhere, in one transaction; Kimai is not touched",
    description=(
        "Person rows keep only their ids (`purged_at` set, name, e-mail and username erased); "
        "descriptions and notes in conflicts, settled write intents and audit details are "
        "erased; webhook deliveries of their tickets are deleted; user mappings stay so the "
        "sync goes on. One audit event `person.purge` names who did it. 409: already purged."
    ),
)
def purge_person(request: HttpRequest, payload: PersonIn) -> dict[str, Any]:
    subject = _subject(payload)
    try:
        rows = purge(subject, actor_of_request(request))
    except AlreadyPurged as done:
        raise HttpError(409, str(done)) from None
    return {"person_id": subject.primary_id, "people": sorted(subject.person_ids), "rows": rows}


# -- retention -----------------------------------------------------------------------------------
class DueOut(Schema):
    key: str
    label: str
    days: int
    cutoff: datetime = Field(description="Rows older than this go at the next prune.")
    rows: int = Field(description="How many the next prune would remove if it ran now.")


class RetentionOut(Schema):
    runs_days: int
    conflicts_days: int
    deliveries_days: int
    audit_days: int
    task_results_days: int
    prune_hour_utc: int
    next_prune_at: datetime | None
    last_pruned_at: datetime | None
    last_report: dict[str, int] = Field(description="What the last prune deleted, by kind.")
    due: list[DueOut]


class RetentionIn(Schema):
    """PUT: fields left out get their defaults; PATCH: fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    runs_days: int = Field(90, ge=1, le=3650, description="Finished runs and their entries.")
    conflicts_days: int = Field(90, ge=1, le=3650, description="Resolved conflicts.")
    deliveries_days: int = Field(30, ge=1, le=3650, description="Webhook deliveries, refusals.")
    audit_days: int = Field(400, ge=retention.MIN_AUDIT_DAYS, le=3650)
    task_results_days: int = Field(30, ge=1, le=3650, description="The worker's task records.")
    prune_hour_utc: int = Field(3, ge=0, le=23)


def _retention(policy: RetentionPolicy) -> dict[str, Any]:
    return {
        **{name: getattr(policy, name) for name in retention.POLICY_FIELDS},
        "next_prune_at": retention.next_run(),
        "last_pruned_at": policy.last_pruned_at,
        "last_report": policy.last_report or {},
        "due": retention.due(policy),
    }


@router.get(
    "/gdpr/retention",
    response=RetentionOut,
    summary="How long history is kept, the next prune and how many rows it would remove",
)
def get_retention(request: HttpRequest) -> dict[str, Any]:
    return _retention(RetentionPolicy.load())


@router.api_operation(
    ["PUT", "PATCH"],
    "/gdpr/retention",
    response=RetentionOut,
    summary="Change how long runs, conflicts, deliveries, audit events and task records are kept",
)
def set_retention(request: HttpRequest, payload: RetentionIn) -> dict[str, Any]:
    changes = payload.model_dump(exclude_unset=request.method == "PATCH")
    return _retention(retention.save_policy(changes))
