"""Cached reference data, people and user matching, against the doubles served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.connectors.base import ReferenceProject
from apps.connectors.entry import AgentRef
from apps.connectors.models import Connection
from apps.gdpr.models import Person
from apps.mappings.engine import MappingContext, plan_timesheet
from apps.mappings.models import (
    ActivityMapping,
    KimaiLink,
    MappingProfile,
    ReferenceSnapshot,
    UserMapping,
)
from apps.mappings.reference import (
    discover_agents,
    match_users_by_email,
    record_created,
    refresh_reference,
    remember_agents,
)
from tests.mappings.conftest import NO_RETRIES, add_agent, add_rule, entry
from tests.support.servers import Served, closed_port_url, served_doubles


@pytest.fixture
def servers() -> Iterator[Served]:
    with served_doubles() as served:
        yield served


@pytest.fixture
def served_pair(db: None, servers: Served) -> tuple[Connection, Connection]:
    zammad = Connection.objects.create(
        kind="zammad", name="Zammad", base_url=servers.zammad_url,
        token=servers.dataset.zammad_token,
    )  # fmt: skip
    kimai = Connection.objects.create(
        kind="kimai", name="Kimai", base_url=servers.kimai_url, token=servers.dataset.kimai_token
    )
    MappingProfile.objects.create(source=zammad, target=kimai)
    return zammad, kimai


def test_it_caches_kimai_data_and_keeps_people_in_the_people_table(
    served_pair: tuple[Connection, Connection],
) -> None:
    _, kimai = served_pair
    snapshot = refresh_reference(kimai)
    assert snapshot.last_error == ""
    assert snapshot.users_listed is True
    assert {p["name"] for p in snapshot.projects} >= {"Support 2026", "Retainer"}
    assert "@" not in json.dumps([snapshot.customers, snapshot.projects, snapshot.activities])
    emma = Person.objects.get(connection=kimai, username="emma")
    assert (emma.kind, emma.email, emma.time_zone) == (
        Person.Kind.TARGET_USER, "emma.schulz@example.com", "Europe/Berlin",
    )  # fmt: skip


def test_a_failed_refresh_keeps_the_last_data_and_says_why(
    served_pair: tuple[Connection, Connection],
) -> None:
    _, kimai = served_pair
    refresh_reference(kimai)
    Connection.objects.filter(pk=kimai.pk).update(base_url=closed_port_url(), settings=NO_RETRIES)
    kimai.refresh_from_db()
    snapshot = refresh_reference(kimai)
    assert "Kimai" in snapshot.last_error
    assert snapshot.projects


def test_it_finds_the_agents_who_booked_time_and_matches_them_by_e_mail(
    served_pair: tuple[Connection, Connection],
) -> None:
    zammad, kimai = served_pair
    refresh_reference(kimai)
    assert discover_agents(zammad) == 6
    match_users_by_email(zammad, kimai)
    mapped = {
        m.agent.email: (m.kimai_user.username, m.method)
        for m in UserMapping.objects.select_related("agent", "kimai_user")
    }
    assert mapped["sofia.rossi@example.com"] == ("sofia", "email")  # Kimai: Sofia.Rossi@Example.com
    assert "pat.temp@example.com" not in mapped  # the temp has no Kimai account
    assert len(mapped) == 5


@pytest.mark.django_db
def test_a_hand_made_mapping_survives_matching_and_a_stale_match_is_dropped(
    zammad: Connection, kimai: Connection
) -> None:
    emma = add_agent(zammad, "4", "emma.schulz@example.com")
    liam = add_agent(zammad, "5", "liam.johnson@example.com")
    chris = Person.objects.get(connection=kimai, username="chris")
    UserMapping.objects.create(agent=emma, target=kimai, kimai_user=chris, method="manual")
    match_users_by_email(zammad, kimai)
    liam.email = "liam@new.example"
    liam.save()
    match_users_by_email(zammad, kimai)
    assert list(UserMapping.objects.values_list("agent__external_id", "method")) == [
        ("4", "manual")
    ]


@pytest.mark.django_db
def test_remembering_agents_never_brings_back_a_forgotten_person(zammad: Connection) -> None:
    Person.objects.create(
        connection=zammad, external_id="8", kind=Person.Kind.AGENT, purged_at=timezone.now()
    )
    remember_agents(zammad, [AgentRef("8", "pat.temp@example.com", "Pat Temp"),
                             AgentRef("4", "emma.schulz@example.com", "Emma Schulz")])  # fmt: skip
    assert Person.objects.get(connection=zammad, external_id="8").email == ""
    assert Person.objects.get(connection=zammad, external_id="4").name == "Emma Schulz"


@pytest.mark.django_db
def test_a_created_project_is_linked_and_used_from_then_on(
    zammad: Connection, kimai: Connection, profile: MappingProfile
) -> None:
    add_rule(profile, project_mode="per_ticket", customer_id="1", activity_id="1")
    before = plan_timesheet(entry(connection_id=zammad.pk), MappingContext.load(zammad, kimai))
    assert before.project_to_create is not None
    created = ReferenceProject("40", before.project_to_create.name, "1")
    record_created(
        kimai, before.project_to_create.link_scope, before.project_to_create.link_key, created
    )
    after = plan_timesheet(entry(connection_id=zammad.pk), MappingContext.load(zammad, kimai))
    assert after.draft is not None and after.draft.project_id == "40"
    assert KimaiLink.objects.get().kimai_id == "40"
    assert ReferenceSnapshot.objects.get(connection=kimai).projects[-1]["name"] == (
        "#24001 Printer broken"
    )


def _load_queries(zammad: Connection, kimai: Connection) -> int:
    with CaptureQueriesContext(db) as queries:
        MappingContext.load(zammad, kimai)
    return len(queries)


@pytest.mark.django_db
def test_loading_the_context_takes_the_same_few_queries_however_much_there_is(
    zammad: Connection, kimai: Connection, profile: MappingProfile
) -> None:
    add_rule(profile, project_id="1")
    add_agent(zammad, "4", "emma.schulz@example.com")
    small = _load_queries(zammad, kimai)
    for i in range(20):
        add_rule(profile, organization_ids=[str(i)], project_id="2", title_pattern=f"t{i}")
        ActivityMapping.objects.create(
            profile=profile, zammad_type_id=str(i), kimai_activity_id="1"
        )
        KimaiLink.objects.create(target=kimai, scope="ticket_project", source_key=f"{i}@own",
                                 kimai_id="1")  # fmt: skip
        add_agent(zammad, str(100 + i), f"agent{i}@example.com")
    match_users_by_email(zammad, kimai)
    profile.fallback_user = Person.objects.get(connection=kimai, username="chris")
    profile.save()
    assert _load_queries(zammad, kimai) == small <= 7


@pytest.mark.django_db
def test_the_context_plans_with_the_saved_rules_mappings_and_people(
    zammad: Connection, kimai: Connection, profile: MappingProfile
) -> None:
    add_rule(profile, name="Awesome", organization_ids=["1"], project_id="1", billable="yes")
    ActivityMapping.objects.create(profile=profile, zammad_type_id="1", kimai_activity_id="2")
    emma = add_agent(zammad, "4", "emma.schulz@example.com")
    aiko = Person.objects.get(connection=kimai, username="aiko")
    UserMapping.objects.create(agent=emma, target=kimai, kimai_user=aiko, method="manual")
    plan = plan_timesheet(entry(connection_id=zammad.pk), MappingContext.load(zammad, kimai))
    assert plan.draft is not None
    assert (plan.draft.user_id, plan.draft.project_id, plan.draft.activity_id) == ("4", "1", "2")
    assert plan.draft.begin.isoformat() == "2026-03-02T23:30:00+09:00"  # Aiko is in Tokyo
    assert plan.marker == f"zks-{zammad.pk}-42-z"
