"""Rows the mapping tests share: a Zammad and a Kimai connection with cached Kimai data."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import pytest

from apps.connectors.base import (
    ReferenceActivity,
    ReferenceCustomer,
    ReferenceProject,
)
from apps.connectors.entry import ActivityRef, AgentRef, OrganizationRef, TicketRef, TimeEntry
from apps.connectors.models import Connection
from apps.gdpr.models import Person
from apps.mappings.models import MappingProfile, ReferenceSnapshot, Rule
from apps.mappings.rules import RuleSpec

CUSTOMERS = [
    ReferenceCustomer("1", "Awesome Customer Inc."),
    ReferenceCustomer("2", "Globex Corporation"),
    ReferenceCustomer("3", "Initech"),
    ReferenceCustomer("4", "Internal", billable=False),
    ReferenceCustomer("5", "Gone Ltd", visible=False),
]
PROJECTS = [
    ReferenceProject("1", "Support 2026", "1"),
    ReferenceProject("2", "Managed Service", "2"),
    ReferenceProject("3", "Retainer", "3", global_activities=False),
    ReferenceProject("4", "Internal Helpdesk", "4", billable=False),
    ReferenceProject("5", "Old project", "1", visible=False),
]
ACTIVITIES = [
    ReferenceActivity("1", "Support"),
    ReferenceActivity("2", "Consulting"),
    ReferenceActivity("3", "Development"),
    ReferenceActivity("4", "Onsite", project_id="3"),
    ReferenceActivity("5", "Retainer support", project_id="3"),
    ReferenceActivity("6", "Internal work", billable=False),
    ReferenceActivity("7", "Retired", visible=False),
]
ZAMMAD_ORGANIZATIONS = [
    ReferenceCustomer("1", "Awesome Customer Inc."),
    ReferenceCustomer("2", "Globex Corporation"),
    ReferenceCustomer("3", "Initech"),
    ReferenceCustomer("4", "Umbrella Health"),
]
ZAMMAD_TYPES = [
    ReferenceActivity("1", "Support"),
    ReferenceActivity("2", "Consulting"),
    ReferenceActivity("3", "Development"),
    ReferenceActivity("4", "Onsite"),
]
# Nothing listens on 127.0.0.1:9; one attempt says so at once.
NO_RETRIES = {"http": {"max_attempts": 1}}
# Kimai users: (id, username, e-mail, time zone)
KIMAI_USERS = [
    ("1", "chris", "chris@chrispresso.com", "Europe/Berlin"),
    ("2", "emma", "emma.schulz@example.com", "Europe/Berlin"),
    ("3", "liam", "liam.johnson@example.com", "America/New_York"),
    ("4", "aiko", "aiko.tanaka@example.com", "Asia/Tokyo"),
    ("5", "sofia", "Sofia.Rossi@Example.com", "Europe/Rome"),
]


@pytest.fixture
def zammad(db: None) -> Connection:
    return Connection.objects.create(
        kind="zammad", name="Support Zammad", base_url="http://127.0.0.1:9", token="z-token",
        settings=NO_RETRIES,
    )  # fmt: skip


@pytest.fixture
def kimai(db: None) -> Connection:
    connection = Connection.objects.create(
        kind="kimai", name="Billing Kimai", base_url="http://127.0.0.1:9", token="k-token",
        settings=NO_RETRIES,
    )  # fmt: skip
    ReferenceSnapshot.objects.create(
        connection=connection,
        fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
        customers=[asdict(c) for c in CUSTOMERS],
        projects=[asdict(p) for p in PROJECTS],
        activities=[asdict(a) for a in ACTIVITIES],
        tags=["billable"],
        users_listed=True,
    )
    for external_id, username, email, zone in KIMAI_USERS:
        Person.objects.create(
            connection=connection, external_id=external_id, kind=Person.Kind.TARGET_USER,
            username=username, email=email, name=username.capitalize(), time_zone=zone,
        )  # fmt: skip
    return connection


@pytest.fixture
def zammad_reference(zammad: Connection) -> ReferenceSnapshot:
    return ReferenceSnapshot.objects.create(
        connection=zammad,
        fetched_at=datetime(2026, 3, 1, tzinfo=UTC),
        customers=[asdict(c) for c in ZAMMAD_ORGANIZATIONS],
        activities=[asdict(a) for a in ZAMMAD_TYPES],
        groups=[{"id": "1", "name": "Service Desk"}, {"id": "2", "name": "2nd Level"}],
    )


@pytest.fixture
def profile(zammad: Connection, kimai: Connection) -> MappingProfile:
    return MappingProfile.objects.create(source=zammad, target=kimai)


def add_rule(profile: MappingProfile, **fields: Any) -> Rule:
    spec = RuleSpec(**fields)
    position = Rule.objects.filter(profile=profile).count() + 1
    return Rule.objects.create(profile=profile, position=position, **spec.model_dump())


def add_agent(source: Connection, external_id: str, email: str, name: str = "") -> Person:
    return Person.objects.create(
        connection=source, external_id=external_id, kind=Person.Kind.AGENT, email=email,
        name=name or email.split("@")[0],
    )  # fmt: skip


PRINTER = TicketRef("50", "24001", "Printer broken")
AWESOME = OrganizationRef("1", "Awesome Customer Inc.")
EMMA = AgentRef("4", "emma.schulz@example.com", "Emma Schulz")
SUPPORT = ActivityRef("1", "Support")
MONDAY_3PM = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def entry(
    *,
    external_id: str = "42",
    booked_at: datetime = MONDAY_3PM,
    seconds: int = 1800,
    ticket: TicketRef | None = PRINTER,
    organization: OrganizationRef | None = AWESOME,
    agent: AgentRef | None = EMMA,
    activity: ActivityRef | None = SUPPORT,
    connection_id: int | None = 1,
) -> TimeEntry:
    """A Zammad entry: Emma (Berlin) booked 30 minutes of Support on ticket #24001 of Awesome
    Customer Inc. on Monday 2 March 2026 at 15:00 UTC (16:00 in Berlin)."""
    return TimeEntry(
        source_kind="zammad", connection_id=connection_id, external_id=external_id,
        booked_at=booked_at, duration_seconds=seconds, ticket=ticket,
        organization=organization, agent=agent, activity=activity,
    )  # fmt: skip
