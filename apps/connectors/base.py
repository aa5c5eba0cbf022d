"""The connector contract: what a source or a target can do, and how it reports on itself.

A connector is built from plain values (base URL, token, settings, optional test transport), so
the Connection model, the Connectors page and the worker can all make one without this package
knowing about them. Sources read time; targets read and write timesheets. Each class declares
its :class:`Capability` flags explicitly; ``supports()`` is how callers ask.

Every failure talking to the vendor raises :class:`apps.connectors.http.ExternalServiceError`;
``check()`` never raises it but puts it in the report.

This module is part of the public connector contract (``apps.connectors.contract`` lists all of
it, docs/CONNECTORS.md explains it). ``CONTRACT_VERSION`` is "MAJOR.MINOR": a change that could
break an installed connector raises MAJOR; an addition connectors may use raises MINOR.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from apps.connectors.entry import TimeEntry
from apps.connectors.facts import ENTRY_FACTS, Fact, TicketFacts
from apps.connectors.http import ExternalServiceError, OutboundHttpClient

CONTRACT_VERSION = "1.1"  # 1.1: ticket facts, DELETIONS_SINCE (docs/CONNECTORS.md)


def contract_mismatch(declared: object) -> str | None:
    """Why a connector declaring ``declared`` cannot run on this contract, or None if it can.

    Same MAJOR, and a MINOR no newer than the host's: a connector written for 1.0 runs on 1.3,
    one written for 1.3 may use what 1.0 lacks.
    """
    host_major, host_minor = (int(part) for part in CONTRACT_VERSION.split("."))
    if not isinstance(declared, str):
        return (
            "declares no contract_version "
            f"(this service speaks connector contract {CONTRACT_VERSION})"
        )
    major, dot, minor = declared.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        return f"declares contract_version {declared!r}, which is not MAJOR.MINOR"
    if int(major) != host_major:
        return (
            f"was written for connector contract {declared}; this service speaks "
            f"{CONTRACT_VERSION} (install a version of the connector made for {host_major}.x)"
        )
    if int(minor) > host_minor:
        return (
            f"needs connector contract {declared}; this service speaks {CONTRACT_VERSION} "
            "(update the service, or install an older version of the connector)"
        )
    return None


# Kimai's `term` filter splits on whitespace, reads `name:value` as a meta-field search and `%`/`_`
# as wildcards (kimai-api.md §5, reliability.md "Idempotency"): markers use letters, digits and -.
MARKER_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,100}$")


def validate_marker(marker: str) -> str:
    if not MARKER_PATTERN.fullmatch(marker):
        raise ValueError(
            f"marker {marker!r} must be 1 to 100 letters, digits or hyphens, nothing else"
        )
    return marker


class Role(StrEnum):
    SOURCE = "source"
    TARGET = "target"


class Capability(StrEnum):
    # sources
    ENTRIES_CHANGED_SINCE = "entries_changed_since"
    ENTRIES_IN_WINDOW = "entries_in_window"
    ENTRIES_OF_TICKET = "entries_of_ticket"
    ALL_ENTRIES = "all_entries"
    # the vendor keeps a trace of deletions (Jira's worklog/deleted): fetch_deleted_since
    DELETIONS_SINCE = "deletions_since"
    # targets
    TIMESHEETS_IN_WINDOW = "timesheets_in_window"
    CREATE_TIMESHEET = "create_timesheet"
    UPDATE_TIMESHEET = "update_timesheet"
    DELETE_TIMESHEET = "delete_timesheet"
    SEARCH_BY_MARKER = "search_by_marker"
    # both
    REFERENCE_DATA = "reference_data"


ROLE_CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.SOURCE: frozenset(
        {
            Capability.ENTRIES_CHANGED_SINCE,
            Capability.ENTRIES_IN_WINDOW,
            Capability.ENTRIES_OF_TICKET,
            Capability.ALL_ENTRIES,
            Capability.DELETIONS_SINCE,
            Capability.REFERENCE_DATA,
        }
    ),
    Role.TARGET: frozenset(
        {
            Capability.TIMESHEETS_IN_WINDOW,
            Capability.CREATE_TIMESHEET,
            Capability.UPDATE_TIMESHEET,
            Capability.DELETE_TIMESHEET,
            Capability.SEARCH_BY_MARKER,
            Capability.REFERENCE_DATA,
        }
    ),
}


# -- reference data -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReferenceUser:
    id: str
    username: str
    email: str | None = None
    name: str | None = None
    timezone: str | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class ReferenceCustomer:
    """A Kimai customer or a Zammad organization."""

    id: str
    name: str
    visible: bool = True
    billable: bool | None = None


@dataclass(frozen=True, slots=True)
class ReferenceProject:
    id: str
    name: str
    customer_id: str
    visible: bool = True
    billable: bool | None = None
    global_activities: bool = True


@dataclass(frozen=True, slots=True)
class ReferenceActivity:
    """A Kimai activity (``project_id`` None: global) or a Zammad time accounting type."""

    id: str
    name: str
    project_id: str | None = None
    visible: bool = True
    billable: bool | None = None


@dataclass(frozen=True, slots=True)
class ReferenceGroup:
    """A Zammad group (rules may match the ticket's group)."""

    id: str
    name: str
    visible: bool = True


@dataclass(frozen=True)
class ReferenceData:
    users: tuple[ReferenceUser, ...] = ()
    customers: tuple[ReferenceCustomer, ...] = ()
    projects: tuple[ReferenceProject, ...] = ()
    activities: tuple[ReferenceActivity, ...] = ()
    tags: tuple[str, ...] = ()
    groups: tuple[ReferenceGroup, ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            "users": len(self.users),
            "customers": len(self.customers),
            "projects": len(self.projects),
            "activities": len(self.activities),
            "tags": len(self.tags),
        }


# -- what a target is asked to write --------------------------------------------------------------
# Not frozen, only for speed (one per planned entry; a frozen dataclass sets each field through
# object.__setattr__): hashed and compared as before (unsafe_hash).
@dataclass(slots=True, unsafe_hash=True)
class TimesheetDraft:
    """A timesheet to create, or the full new state of one to update. A target never changes
    the draft it is given: the plan it came from keeps it.

    ``begin`` is an aware instant; the target converts it to whatever local time it needs.
    ``user_id`` None books for the token's own user (and leaves the owner alone on update).
    ``billable`` None lets the target decide on create (Kimai: billable when activity, project
    and customer all are) and keeps the current value on update. Description and tags are
    always written as given. Targets that store whole minutes round ``duration_seconds`` to the
    nearest minute; the entry they return says what they stored.
    """

    begin: datetime
    duration_seconds: int
    project_id: str
    activity_id: str
    user_id: str | None = None
    description: str = ""
    tags: tuple[str, ...] = ()
    billable: bool | None = None

    def __post_init__(self) -> None:
        if self.begin.tzinfo is None or self.begin.utcoffset() is None:
            raise ValueError(f"begin must be an aware datetime, got {self.begin!r}")
        if self.duration_seconds < 0:
            raise ValueError("duration_seconds must not be negative")


# -- connection check -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Permission:
    """One thing the sync needs the token to be allowed, and what to do when it is not."""

    name: str  # what it lets us do, e.g. "book time for other users"
    granted: bool
    advice: str = ""  # when not granted: what to change, in plain words


@dataclass(frozen=True)
class CheckReport:
    """The answer to "does this connection work, and how well?", in plain words.

    ``ok`` means the sync can run: the server answered, the token was accepted, and no required
    permission is missing (``problems`` is empty). ``token_refused`` is only set when the server
    said 401 or 403 to the token; a server that answers but is not of this kind (404 on the
    vendor's routes, an HTML page) is ``reachable`` without being ``authenticated``.
    ``warnings`` are things that work worse than they could. ``facts`` are short labelled values
    worth showing (time unit, time zone).
    """

    kind: str
    role: Role
    base_url: str
    ok: bool
    reachable: bool
    authenticated: bool
    version: str | None = None
    identity: str | None = None
    token_refused: bool = False
    permissions: tuple[Permission, ...] = ()
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    reference_counts: Mapping[str, int] = field(default_factory=dict)
    facts: Mapping[str, str] = field(default_factory=dict)
    requests_made: int = 0

    @property
    def granted(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.permissions if p.granted)

    @property
    def lacking(self) -> tuple[Permission, ...]:
        return tuple(p for p in self.permissions if not p.granted)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the API and the Connectors page."""
        return {
            "kind": self.kind,
            "role": str(self.role),
            "base_url": self.base_url,
            "ok": self.ok,
            "reachable": self.reachable,
            "authenticated": self.authenticated,
            "token_refused": self.token_refused,
            "version": self.version,
            "identity": self.identity,
            "permissions": [
                {"name": p.name, "granted": p.granted, "advice": p.advice} for p in self.permissions
            ],
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "reference_counts": dict(self.reference_counts),
            "facts": dict(self.facts),
            "requests_made": self.requests_made,
        }


@dataclass
class CheckReportDraft:
    """Collects findings while a check runs; ``finish()`` makes the immutable report."""

    kind: str
    role: Role
    base_url: str
    reachable: bool = False
    authenticated: bool = False
    version: str | None = None
    identity: str | None = None
    token_refused: bool = False
    permissions: list[Permission] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reference_counts: dict[str, int] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)

    def permission(self, name: str, granted: bool, advice: str, *, required: bool) -> None:
        self.permissions.append(Permission(name, granted, "" if granted else advice))
        if not granted:
            (self.problems if required else self.warnings).append(advice)

    def failed(self, error: ExternalServiceError) -> None:
        """The check stopped at ``error``: any HTTP answer means the server is reachable, and
        only 401 or 403 before the caller was known means the token was refused."""
        self.problems.append(error.message)
        if error.status is not None:
            self.reachable = True
        if error.status in (401, 403) and not self.authenticated:
            self.token_refused = True

    def finish(self, requests_made: int) -> CheckReport:
        return CheckReport(
            kind=self.kind,
            role=self.role,
            base_url=self.base_url,
            ok=self.reachable and self.authenticated and not self.problems,
            reachable=self.reachable,
            authenticated=self.authenticated,
            version=self.version,
            identity=self.identity,
            token_refused=self.token_refused,
            permissions=tuple(self.permissions),
            problems=tuple(self.problems),
            warnings=tuple(self.warnings),
            reference_counts=dict(self.reference_counts),
            facts=dict(self.facts),
            requests_made=requests_made,
        )


# -- the connectors -------------------------------------------------------------------------------
class Connector(ABC):
    """Common to sources and targets: construction from plain values, check, close.

    Lookups (tickets, users, reference data) are cached on the instance: make one connector per
    sync run, so a run sees one consistent picture and the next run sees fresh data.
    """

    kind: ClassVar[str]
    # The CONTRACT_VERSION the connector was written against; the registry refuses to load a
    # connector that declares none or one of another MAJOR or of a newer MINOR than the host's.
    contract_version: ClassVar[str]
    role: ClassVar[Role]
    capabilities: ClassVar[frozenset[Capability]]
    settings_model: ClassVar[type[BaseModel]]
    http: OutboundHttpClient

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = getattr(cls, "capabilities", None)
        role = getattr(cls, "role", None)
        if declared is not None and role is not None:
            foreign = declared - ROLE_CAPABILITIES[role]
            if foreign:
                names = ", ".join(sorted(foreign))
                raise TypeError(f"{cls.__name__} is a {role} but declares {names}")

    def __init__(
        self,
        base_url: str,
        token: str,
        settings: BaseModel | Mapping[str, Any] | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        connection_id: int | None = None,
    ) -> None:
        if isinstance(settings, self.settings_model):
            self.settings = settings
        else:
            self.settings = self.settings_model.model_validate(dict(settings or {}))
        self.connection_id = connection_id
        self.http = self._open_http(base_url, token, transport, sleep)
        self.forget_lookups()

    @abstractmethod
    def _open_http(
        self,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
    ) -> OutboundHttpClient:
        """The vendor's HTTP client: base URL, auth header format, error body parser."""

    @abstractmethod
    def check(self) -> CheckReport:
        """Probe the server and the token; never raises ExternalServiceError."""

    @abstractmethod
    def forget_lookups(self) -> None:
        """Drop what this instance remembers (tickets, users, reference data, the caller)."""

    @abstractmethod
    def fetch_reference_data(self) -> ReferenceData:
        """What mappings choose from, hidden records included: a source's people,
        organizations and activity types; a target's users, customers, projects, activities
        and tags."""

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @property
    def request_count(self) -> int:
        return self.http.request_count

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Connector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class SourceConnector(Connector):
    """Where time is booked (Zammad). Reads only.

    ``facts`` says which ticket facts rules may ask this source about (``fact_labels`` what
    it calls them); ``fetch_ticket_facts`` hands over those beyond the entry itself.
    """

    role = Role.SOURCE
    facts: ClassVar[frozenset[Fact]] = ENTRY_FACTS
    fact_labels: ClassVar[Mapping[Fact, str]] = {}

    def fetch_ticket_facts(
        self, ticket_ids: Iterable[str], *, with_tags: bool
    ) -> dict[str, TicketFacts]:
        """Facts of these tickets beyond the entry (group, customer, project, and the tags when
        asked), by ticket id; tickets it cannot see are left out. Only called when a rule asks."""
        return {}

    @abstractmethod
    def fetch_entries_changed_since(
        self, since: datetime, known: Mapping[str, datetime] | None = None
    ) -> Iterator[TimeEntry]:
        """Entries created or edited at or after ``since`` (and a settings-defined overlap
        before it, so entries committed out of order are not missed). May repeat entries.
        ``known``: entry id → the change instant already synced; those are left out."""

    @abstractmethod
    def fetch_entries_in_window(self, start: datetime, end: datetime) -> Iterator[TimeEntry]:
        """Entries whose ``booked_at`` lies in ``[start, end)``."""

    @abstractmethod
    def fetch_entries_of_ticket(self, ticket_id: str) -> list[TimeEntry]:
        """The complete current set of one ticket's entries (absent ones were deleted)."""

    @abstractmethod
    def fetch_all_entries(self) -> Iterator[TimeEntry]:
        """Every entry: the first load, and the full id scan that finds deletions."""

    def fetch_deleted_since(self, since: datetime) -> list[str]:
        """Ids of entries deleted at or after ``since``, for sources that declare
        ``DELETIONS_SINCE``: incremental runs then follow deletions at once instead of at the
        next window run. Others keep no trace of a deletion (Zammad)."""
        raise NotImplementedError(f"{self.kind} keeps no trace of deleted entries")


class TargetConnector(Connector):
    """Where timesheets are written (Kimai)."""

    role = Role.TARGET

    @abstractmethod
    def fetch_timesheets_in_window(self, start: datetime, end: datetime) -> Iterator[TimeEntry]:
        """Timesheets of all users that begin in ``[start, end)``."""

    @abstractmethod
    def create_timesheet(self, draft: TimesheetDraft) -> TimeEntry:
        """Create one timesheet; ``uncertain`` errors mean: search by marker before retrying."""

    @abstractmethod
    def update_timesheet(self, timesheet_id: str, draft: TimesheetDraft) -> TimeEntry:
        """Replace the fields of the draft on an existing timesheet."""

    @abstractmethod
    def delete_timesheet(self, timesheet_id: str) -> bool:
        """Delete one timesheet: True if deleted now, False if it was already gone."""

    @abstractmethod
    def create_customer(self, name: str) -> ReferenceCustomer:
        """A customer for a rule that makes one per Zammad organization."""

    @abstractmethod
    def create_project(
        self, name: str, customer_id: str, *, global_activities: bool = True
    ) -> ReferenceProject:
        """A project for a rule that makes one per Zammad organization or ticket."""

    @abstractmethod
    def search_by_marker(self, marker: str) -> list[TimeEntry]:
        """Timesheets whose description contains ``marker`` as a whole word."""
