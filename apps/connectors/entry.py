"""The normalized time entry: what every connector reads, whatever the vendor.

Zammad time accountings and Kimai timesheets both become a :class:`TimeEntry`, so the sync engine
compares like with like and never sees a vendor's JSON.

Why a frozen dataclass and not a pydantic model: entries are built by our own connector code from
vendor JSON that the connector has already checked, by the ten thousand per run, and then only
compared, hashed and stored. A frozen ``slots`` dataclass is immutable, hashable and several times
cheaper to build than a validating model; the few invariants that matter (aware datetimes, integer
seconds, tuple tags) are checked in ``__post_init__``. Pydantic is used where input comes from
people: the per-kind settings models in ``<kind>/config.py``.

Ids are strings whatever the vendor uses (Zammad and Kimai use integers), so one column type fits
every connector and nothing needs a cast to compare.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

FINGERPRINT_VERSION = 1


@dataclass(frozen=True, slots=True)
class TicketRef:
    id: str
    number: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class OrganizationRef:
    """A Zammad organization or a Kimai customer."""

    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AgentRef:
    """The person the time belongs to: Zammad's entry creator, Kimai's timesheet user."""

    id: str
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityRef:
    """A Zammad time accounting type or a Kimai activity."""

    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ProjectRef:
    """Targets only: the Kimai project a timesheet is booked on. Sources leave it empty."""

    id: str
    name: str | None = None


def _require_aware(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class TimeEntry:
    """One booking of time, from any connector.

    ``booked_at`` is the instant the time counts for, in UTC (Zammad: when the entry was created;
    Kimai: the timesheet's begin). ``begin``/``end`` are set only when the system knows them
    (Kimai does, Zammad does not). ``duration_seconds`` may be zero or negative when the vendor
    stores it so (Zammad does not reject negative time units); deciding what to do with such an
    entry is the sync engine's job, not the connector's. ``changed_at`` is the vendor's last
    modification instant when it exposes one (Zammad's ``updated_at``).

    ``fingerprint`` is a SHA-256 over the fields that decide what the booking *is*: ticket id,
    organization id, agent id, activity id, project id, booked-at instant, duration, begin and end
    instants, description, billable and the sorted tags. Left out on purpose: the identity
    (source kind, connection, external id: compare fingerprints of the same entry), display names,
    e-mails, ticket numbers and titles (a renamed customer must not re-sync years of history),
    and ``changed_at`` (an edit that changes nothing must not look like a change).
    """

    source_kind: str
    connection_id: int | None
    external_id: str
    booked_at: datetime
    duration_seconds: int
    ticket: TicketRef | None = None
    organization: OrganizationRef | None = None
    agent: AgentRef | None = None
    activity: ActivityRef | None = None
    project: ProjectRef | None = None
    begin: datetime | None = None
    end: datetime | None = None
    description: str | None = None
    billable: bool | None = None
    tags: tuple[str, ...] = ()
    changed_at: datetime | None = None
    fingerprint: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("booked_at", "begin", "end", "changed_at"):
            _require_aware(name, getattr(self, name))
        if isinstance(self.duration_seconds, bool) or not isinstance(self.duration_seconds, int):
            raise TypeError(f"duration_seconds must be an int, got {self.duration_seconds!r}")
        if not self.external_id:
            raise ValueError("external_id must not be empty")
        object.__setattr__(self, "booked_at", self.booked_at.astimezone(UTC))
        if not isinstance(self.tags, tuple):
            object.__setattr__(self, "tags", tuple(self.tags))
        object.__setattr__(self, "fingerprint", self._compute_fingerprint())

    def _compute_fingerprint(self) -> str:
        relevant: list[Any] = [
            FINGERPRINT_VERSION,
            self.ticket.id if self.ticket else None,
            self.organization.id if self.organization else None,
            self.agent.id if self.agent else None,
            self.activity.id if self.activity else None,
            self.project.id if self.project else None,
            _instant(self.booked_at),
            self.duration_seconds,
            _instant(self.begin),
            _instant(self.end),
            self.description,
            self.billable,
            sorted(self.tags),
        ]
        canonical = json.dumps(relevant, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def unique_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Trimmed, non-empty, first occurrence kept (case-insensitively, as Kimai matches names)."""
    seen: set[str] = set()
    result: list[str] = []
    for tag in tags:
        name = tag.strip()
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            result.append(name)
    return tuple(result)
