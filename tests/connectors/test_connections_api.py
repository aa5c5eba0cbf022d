"""/api/v1/connections against the Zammad and Kimai doubles served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection as db
from django.test import Client

from apps.connectors.models import Connection
from tests.support.servers import Served, closed_port_url, html_server, served_doubles


@pytest.fixture
def servers() -> Iterator[Served]:
    with served_doubles() as served:
        yield served


def _post(client: Client, body: dict[str, object]) -> tuple[int, dict[str, Any]]:
    response = client.post("/api/v1/connections", json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def _zammad(servers: Served, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "zammad", "name": "Support Zammad", "base_url": servers.zammad_url,
        "token": servers.dataset.zammad_token,
    }  # fmt: skip
    body.update(changes)
    return body


@pytest.mark.django_db
def test_it_creates_a_connection_after_checking_it(api_client: Client, servers: Served) -> None:
    status, body = _post(api_client, _zammad(servers))
    assert status == 201, body
    assert body["kind"] == "zammad"
    assert body["role"] == "source"
    assert body["last_check"]["ok"] is True
    assert body["last_check"]["version"]
    assert "token" not in body
    assert servers.dataset.zammad_token not in json.dumps(body)
    assert body["token_hint"] == "••••" + servers.dataset.zammad_token[-4:]


@pytest.mark.django_db
def test_it_stores_the_token_encrypted(api_client: Client, servers: Served) -> None:
    _post(api_client, _zammad(servers))
    with db.cursor() as cursor:
        cursor.execute("SELECT token FROM connectors_connection")
        stored = cursor.fetchone()[0]
    assert servers.dataset.zammad_token not in stored
    assert Connection.objects.get().token == servers.dataset.zammad_token


@pytest.mark.django_db
def test_it_refuses_a_wrong_token_and_saves_nothing(api_client: Client, servers: Served) -> None:
    status, body = _post(api_client, _zammad(servers, token="wrong-token"))
    assert status == 422
    assert list(body["errors"]) == ["token"]
    assert body["check"]["authenticated"] is False
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_it_refuses_an_unreachable_host_with_a_clear_message(api_client: Client) -> None:
    status, body = _post(
        api_client,
        {"kind": "kimai", "name": "K", "base_url": closed_port_url(), "token": "t"},
    )
    assert status == 422
    assert body["errors"]["base_url"][0]
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_server_that_answers_html(api_client: Client) -> None:
    with html_server() as url:
        status, body = _post(
            api_client, {"kind": "zammad", "name": "Z", "base_url": url, "token": "t"}
        )
    assert status == 422
    assert "base_url" in body["errors"] or "token" in body["errors"]
    assert "HTML" in json.dumps(body) or "html" in json.dumps(body)
    assert not Connection.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"base_url": "zammad.example.com"}, "base_url"),
        ({"base_url": "https://user:pw@zammad.example.com"}, "base_url"),
        ({"kind": "nope"}, "kind"),
        ({"name": ""}, "name"),
        ({"settings": {"time_unit": "weeks"}}, "settings.time_unit"),
    ],
)
def test_it_explains_bad_input_field_by_field(
    api_client: Client, servers: Served, change: dict[str, object], field: str
) -> None:
    status, body = _post(api_client, _zammad(servers, **change))
    assert status == 422
    assert field in body["errors"]
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_it_rejects_unknown_fields(api_client: Client, servers: Served) -> None:
    status, body = _post(api_client, _zammad(servers, password="x"))
    assert status == 422
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_a_patch_without_token_keeps_the_token(api_client: Client, servers: Served) -> None:
    _, created = _post(api_client, _zammad(servers))
    response = api_client.patch(
        f"/api/v1/connections/{created['id']}",
        json.dumps({"name": "Renamed", "settings": {"time_unit": "minute"}}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    saved = Connection.objects.get()
    assert saved.name == "Renamed"
    assert saved.settings == {"time_unit": "minute"}
    assert saved.token == servers.dataset.zammad_token


@pytest.mark.django_db
def test_a_patch_with_a_wrong_token_changes_nothing(api_client: Client, servers: Served) -> None:
    _, created = _post(api_client, _zammad(servers))
    response = api_client.patch(
        f"/api/v1/connections/{created['id']}",
        json.dumps({"name": "Renamed", "token": "wrong"}),
        content_type="application/json",
    )
    assert response.status_code == 422
    saved = Connection.objects.get()
    assert (saved.name, saved.token) == ("Support Zammad", servers.dataset.zammad_token)


@pytest.mark.django_db
def test_the_test_operation_reports_version_identity_and_counts(
    api_client: Client, servers: Served
) -> None:
    _, created = _post(
        api_client,
        {"kind": "kimai", "name": "Kimai", "base_url": servers.kimai_url,
         "token": servers.dataset.kimai_token},
    )  # fmt: skip
    response = api_client.post(f"/api/v1/connections/{created['id']}/test")
    report = response.json()
    assert response.status_code == 200
    assert report["ok"] is True
    assert report["version"].startswith("2.")
    assert "sync-bot" in report["identity"]
    assert report["reference_counts"]["projects"] == len(servers.dataset.kimai_projects)
    assert Connection.objects.get().last_checked is not None


@pytest.mark.django_db
def test_a_kimai_token_that_can_only_book_its_own_time_is_explained(
    api_client: Client, servers: Served
) -> None:
    servers.kimai.add_user("lonely", "lonely@example.com", role="ROLE_USER", token="user-token")
    _, created = _post(
        api_client,
        {"kind": "kimai", "name": "Kimai", "base_url": servers.kimai_url, "token": "user-token"},
    )
    report = created["last_check"]
    assert report["ok"] is False
    assert "Teamlead" in " ".join(report["problems"])


@pytest.mark.django_db
def test_it_deletes_a_connection(api_client: Client, servers: Served) -> None:
    _, created = _post(api_client, _zammad(servers))
    assert api_client.delete(f"/api/v1/connections/{created['id']}").status_code == 204
    assert not Connection.objects.exists()
