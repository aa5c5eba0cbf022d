"""/api/v1/gdpr: who is held, purge refusals, retention."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.gdpr.models import Person, RetentionPolicy
from apps.mappings.models import MappingProfile, UserMapping

pytestmark = pytest.mark.django_db


@pytest.fixture
def pat(profile: MappingProfile) -> Person:
    return Person.objects.create(
        connection=profile.source, external_id="8", kind=Person.Kind.AGENT,
        email="pat.temp@example.com", name="Pat Temp",
    )  # fmt: skip


def test_it_lists_the_rows_held_about_a_person(api_client: Client, pat: Person) -> None:
    body = api_client.get("/api/v1/gdpr/people", {"email": "PAT.temp@example.com"}).json()
    assert [(p["id"], p["label"]) for p in body["people"]] == [(pat.pk, "Pat Temp")]
    assert {s["key"] for s in body["sections"]} >= {"people", "run_items", "audit_events"}


def test_an_unknown_person_is_404_and_no_query_is_400(api_client: Client, pat: Person) -> None:
    assert api_client.get("/api/v1/gdpr/export", {"person_id": 99999}).status_code == 404
    assert api_client.get("/api/v1/gdpr/export").status_code == 400


def test_a_purge_names_one_person_and_answers_409_the_second_time(
    api_client: Client, pat: Person
) -> None:
    both = api_client.post("/api/v1/gdpr/purge", {"email": pat.email, "person_id": pat.pk},
                           content_type="application/json")  # fmt: skip
    assert both.status_code == 422
    first = api_client.post("/api/v1/gdpr/purge", {"person_id": pat.pk},
                            content_type="application/json")  # fmt: skip
    assert first.status_code == 200 and first.json()["people"] == [pat.pk]
    second = api_client.post("/api/v1/gdpr/purge", {"person_id": pat.pk},
                             content_type="application/json")  # fmt: skip
    assert second.status_code == 409
    assert "already purged" in second.json()["detail"]


def test_retention_can_be_patched_and_says_what_the_next_prune_removes(
    api_client: Client,
) -> None:
    response = api_client.patch("/api/v1/gdpr/retention", {"runs_days": 14},
                                content_type="application/json")  # fmt: skip
    body = response.json()
    assert (body["runs_days"], body["audit_days"]) == (14, 400)
    assert RetentionPolicy.load().runs_days == 14
    assert body["next_prune_at"] is not None
    assert {row["key"] for row in body["due"]} >= {"run_items", "audit_events", "task_results"}
    short = api_client.patch("/api/v1/gdpr/retention", {"audit_days": 7},
                             content_type="application/json")  # fmt: skip
    assert short.status_code == 422


def test_a_forgotten_person_stays_forgotten_whatever_writes_the_row(
    api_client: Client, pat: Person
) -> None:
    api_client.post("/api/v1/gdpr/purge", {"person_id": pat.pk}, content_type="application/json")
    # What a sync that read the forgotten list just before the purge would write:
    Person.objects.bulk_create(
        [Person(connection_id=pat.connection_id, external_id="8", kind=Person.Kind.AGENT,
                email="pat.temp@example.com", name="Pat Temp")],
        update_conflicts=True, unique_fields=["connection", "external_id"],
        update_fields=["email", "name"],
    )  # fmt: skip
    pat.refresh_from_db()
    assert (pat.email, pat.name, pat.purged_at is not None) == ("", "", True)


def test_a_kimai_user_shared_by_several_agents_is_nobodys_alone(
    api_client: Client, pat: Person, profile: MappingProfile
) -> None:
    shared = Person.objects.create(connection=profile.target, external_id="1", kind="target_user",
                                   email="support@example.com", name="Support desk")  # fmt: skip
    other = Person.objects.create(connection=profile.source, external_id="9", kind="agent",
                                  email="max@example.com", name="Max")  # fmt: skip
    for agent in (pat, other):
        UserMapping.objects.create(agent=agent, target=profile.target, kimai_user=shared,
                                   method="manual")  # fmt: skip
    mine = api_client.get("/api/v1/gdpr/people", {"email": pat.email}).json()
    assert [p["id"] for p in mine["people"]] == [pat.pk]
    theirs = api_client.get("/api/v1/gdpr/people", {"person_id": shared.pk}).json()
    assert [p["id"] for p in theirs["people"]] == [shared.pk]
