"""Settings → Privacy: retention with the next prune, a person's rows, export and purge."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.gdpr.models import Person, RetentionPolicy
from apps.mappings.models import MappingProfile, UserMapping
from tests.gdpr.conftest import profile  # noqa: F401, F811 (a Zammad → Kimai pair)

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true", "HX-Target": "person"}


@pytest.fixture
def emma(profile: MappingProfile) -> Person:  # noqa: F811
    agent = Person.objects.create(
        connection=profile.source, external_id="4", kind=Person.Kind.AGENT,
        email="emma.schulz@example.com", name="Emma Schulz",
    )  # fmt: skip
    user = Person.objects.create(
        connection=profile.target, external_id="2", kind=Person.Kind.TARGET_USER,
        email="Emma.Schulz@example.com", name="Emma Schulz", username="emma",
    )  # fmt: skip
    UserMapping.objects.create(agent=agent, target=profile.target, kimai_user=user,
                               method="email")  # fmt: skip
    return agent


def test_the_page_shows_the_retention_and_the_next_prune(admin_client: Client) -> None:
    html = admin_client.get("/settings/privacy/").content.decode()
    assert 'name="audit_days" value="400"' in html
    assert "The next prune" in html and "UTC" in html
    assert "entries of finished sync runs" in html


def test_saving_the_retention_moves_the_schedule_and_refuses_too_short_an_audit(
    admin_client: Client,
) -> None:
    fields = {"runs_days": 30, "conflicts_days": 60, "deliveries_days": 7, "audit_days": 400,
              "task_results_days": 10, "prune_hour_utc": 4}  # fmt: skip
    response = admin_client.post("/settings/privacy/retention/", fields, headers=HTMX)
    assert response.status_code == 200 and "Saved." in response.content.decode()
    assert RetentionPolicy.load().runs_days == 30
    refused = admin_client.post("/settings/privacy/retention/", {**fields, "audit_days": 5},
                                headers=HTMX)  # fmt: skip
    assert refused.status_code == 400
    assert "greater than or equal to 30" in refused.content.decode()
    assert RetentionPolicy.load().audit_days == 400


def test_a_lookup_by_e_mail_shows_both_rows_and_what_a_purge_would_change(
    admin_client: Client, emma: Person
) -> None:
    response = admin_client.get("/settings/privacy/", {"email": "EMMA.schulz@example.com"},
                                headers=HTMX)  # fmt: skip
    html = response.content.decode()
    assert html.count("Emma Schulz") == 2
    assert "User mappings (kept, ids only" in html
    assert "Purge this person" in html and "cannot be undone" in html


def test_an_unknown_e_mail_says_so(admin_client: Client, emma: Person) -> None:
    response = admin_client.get("/settings/privacy/", {"email": "nobody@example.com"},
                                headers=HTMX)  # fmt: skip
    assert response.status_code == 404
    assert "Nobody with the e-mail address" in response.content.decode()


def test_the_export_link_downloads_everything_about_them(
    admin_client: Client, emma: Person
) -> None:
    response = admin_client.get("/settings/privacy/export/", {"email": "emma.schulz@example.com"})
    document = json.loads(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert {p["name"] for p in document["people"]} == {"Emma Schulz"}
    assert len(document["user_mappings"]) == 1


def test_a_purge_needs_the_confirmation_box(admin_client: Client, emma: Person) -> None:
    response = admin_client.post("/settings/privacy/purge/", {"email": emma.email},
                                 headers=HTMX)  # fmt: skip
    assert response.status_code == 400
    assert "Tick the box" in response.content.decode()
    assert Person.objects.filter(purged_at__isnull=False).count() == 0


def test_a_confirmed_purge_forgets_them_and_says_who_did_it(
    admin_client: Client, emma: Person, admin_user: object
) -> None:
    response = admin_client.post("/settings/privacy/purge/",
                                 {"email": emma.email, "confirm": "yes"}, headers=HTMX)  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Person #{emma.pk} purged." in html and "forgotten person" in html
    assert set(Person.objects.values_list("name", "email", "username")) == {("", "", "")}
    event = AuditEvent.objects.get(action="person.purge")
    assert (event.actor, event.object_id) == (f"admin:{admin_user.pk}", str(emma.pk))  # type: ignore[attr-defined]
    again = admin_client.post("/settings/privacy/purge/",
                              {"person_id": emma.pk, "confirm": "yes"}, headers=HTMX)  # fmt: skip
    assert again.status_code == 409 and "already purged" in again.content.decode()


def test_strangers_are_sent_to_log_in_and_nothing_is_purged(client: Client, emma: Person) -> None:
    response = client.post("/settings/privacy/purge/", {"email": emma.email, "confirm": "yes"})
    assert response.status_code == 302
    assert not Person.objects.filter(purged_at__isnull=False).exists()
