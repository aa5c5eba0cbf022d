"""Deleting a connection never happens by one click: the page lists what goes and asks; disabling
keeps the history; the API refuses a connection with history unless told force=true."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.connectors.models import Connection, WebhookDelivery
from apps.mappings.models import MappingProfile, Rule
from apps.sync import tasks
from apps.sync.models import Conflict, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def zammad() -> Connection:
    """A Zammad connection whose pair has run, left a conflict and received a webhook."""
    source = Connection.objects.create(kind="zammad", name="Support Zammad",
                                       base_url="http://127.0.0.1:9", token="t")  # fmt: skip
    target = Connection.objects.create(kind="kimai", name="Kimai", base_url="http://127.0.0.1:9",
                                       token="t")  # fmt: skip
    profile = MappingProfile.objects.create(source=source, target=target)
    Rule.objects.create(profile=profile, position=1, project_id="1")
    run = Run.objects.create(profile=profile, trigger="manual", actor="admin:1", scope="window",
                             coalesce_key="w", status="succeeded")  # fmt: skip
    Conflict.objects.create(profile=profile, source_id="7", kind="unmapped_user", reason="r",
                            run=run)  # fmt: skip
    WebhookDelivery.objects.create(connection=source, delivery_id="d-1", ticket_id="50",
                                   outcome="queued", run=run)  # fmt: skip
    return source


def test_the_delete_page_lists_what_would_go_and_deletes_nothing(
    admin_client: Client, zammad: Connection
) -> None:
    response = admin_client.get(f"/connectors/{zammad.pk}/delete/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Delete Support Zammad?" in html
    assert "<strong>1</strong> runs" in html
    assert "<strong>1</strong> rules" in html
    assert "<strong>1</strong> conflicts" in html
    assert "This connection has history: 1 webhook deliveries, 1 sync runs" in html
    assert "Disable instead (keeps everything)" in html
    assert Connection.objects.filter(pk=zammad.pk).exists()


def test_a_post_without_the_confirmation_deletes_nothing(
    admin_client: Client, zammad: Connection
) -> None:
    response = admin_client.post(f"/connectors/{zammad.pk}/delete/")
    assert response.status_code == 400
    assert "Nothing was deleted" in response.content.decode()
    assert Run.objects.count() == 1 and Connection.objects.filter(pk=zammad.pk).exists()


def test_the_confirmed_delete_removes_the_connection_and_its_pairs(
    admin_client: Client, zammad: Connection
) -> None:
    response = admin_client.post(f"/connectors/{zammad.pk}/delete/", {"confirm": "delete"})
    assert response.status_code == 302
    assert not Connection.objects.filter(pk=zammad.pk).exists()
    assert not Run.objects.exists() and not Conflict.objects.exists()


def test_disabling_keeps_the_history_and_stops_the_schedule(
    admin_client: Client, zammad: Connection
) -> None:
    admin_client.post(f"/connectors/{zammad.pk}/disable/")
    zammad.refresh_from_db()
    assert zammad.enabled is False
    assert Run.objects.count() == 1 and Conflict.objects.count() == 1
    profile = MappingProfile.objects.get(source=zammad)
    assert "nothing queued" in tasks.scheduled_incremental(profile.pk)
    assert Run.objects.count() == 1


def test_the_api_refuses_to_delete_a_connection_with_history(
    api_client: Client, zammad: Connection
) -> None:
    response = api_client.delete(f"/api/v1/connections/{zammad.pk}")
    assert response.status_code == 409
    body = response.json()
    assert body["history"] == {
        "webhook deliveries": 1, "sync runs": 1, "conflicts and decisions": 1,
    }  # fmt: skip
    assert "Disable it instead" in body["detail"] and "force=true" in body["detail"]
    assert Connection.objects.filter(pk=zammad.pk).exists() and Run.objects.count() == 1


def test_the_api_deletes_it_when_told_force(api_client: Client, zammad: Connection) -> None:
    response = api_client.delete(f"/api/v1/connections/{zammad.pk}?force=true")
    assert response.status_code == 204
    assert not Connection.objects.filter(pk=zammad.pk).exists()
    assert not WebhookDelivery.objects.exists() and not Run.objects.exists()


def test_the_api_answers_404_for_an_unknown_connection(api_client: Client) -> None:
    response = api_client.delete("/api/v1/connections/999999?force=true")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_deleting_needs_a_login_or_a_key(client: Client, zammad: Connection) -> None:
    assert client.delete(f"/api/v1/connections/{zammad.pk}?force=true").status_code == 401
    assert client.post(f"/connectors/{zammad.pk}/delete/", {"confirm": "delete"}).status_code in (
        302,
        403,
    )
    assert Connection.objects.filter(pk=zammad.pk).exists()
