"""The ceiling on requests at once: a setting in words on the Connectors page and in the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from apps.connectors.models import Connection
from tests.support.servers import Served, served_doubles


@pytest.fixture
def servers() -> Iterator[Served]:
    with served_doubles() as served:
        yield served


def _kimai_form(servers: Served, **changes: str) -> dict[str, str]:
    data = {
        "name": "Kimai",
        "base_url": servers.kimai_url,
        "token": servers.dataset.kimai_token,
        "settings.create_missing_tags": "on",
        "enabled": "on",
    }
    return data | changes


@pytest.mark.django_db
def test_the_form_asks_for_the_ceiling_on_requests_at_once_in_words(admin_client: Client) -> None:
    html = admin_client.get("/connectors/new/kimai/").content.decode()

    assert "Requests at once, at most" in html
    assert 'name="settings.http.max_concurrent_requests" value="16"' in html
    assert "1 sends one request at a time, for a small or fragile server" in html


@pytest.mark.django_db
def test_a_fragile_server_gets_one_request_at_a_time_from_the_form(
    admin_client: Client, servers: Served
) -> None:
    form = _kimai_form(servers, **{"settings.http.max_concurrent_requests": "1"})
    response = admin_client.post("/connectors/new/kimai/", form)

    assert response.status_code == 302
    saved = Connection.objects.get()
    assert saved.settings == {"http": {"max_concurrent_requests": 1}}
    with saved.connector() as kimai:
        assert kimai.http.limit.ceiling == 1


@pytest.mark.django_db
def test_saving_the_form_keeps_the_tuning_set_through_the_api(
    admin_client: Client, servers: Served
) -> None:
    admin_client.post("/connectors/new/kimai/", _kimai_form(servers))
    saved = Connection.objects.get()
    saved.settings = {"http": {"read_timeout_seconds": 5.0}}
    saved.save()

    form = _kimai_form(servers, token="", **{"settings.http.max_concurrent_requests": "8"})
    assert admin_client.post(f"/connectors/{saved.pk}/", form).status_code == 302
    saved.refresh_from_db()
    assert saved.settings == {"http": {"read_timeout_seconds": 5.0, "max_concurrent_requests": 8}}


@pytest.mark.django_db
def test_a_ceiling_out_of_range_is_refused_under_its_label(
    admin_client: Client, servers: Served
) -> None:
    form = _kimai_form(servers, **{"settings.http.max_concurrent_requests": "0"})
    response = admin_client.post("/connectors/new/kimai/", form)

    assert response.status_code == 400
    html = response.content.decode()
    assert "greater than or equal to 1" in html
    assert 'id="id_http_max_concurrent_requests"' in html
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_the_api_takes_the_ceiling_by_name(admin_client: Client, servers: Served) -> None:
    body = {
        "kind": "kimai", "name": "Kimai", "base_url": servers.kimai_url,
        "token": servers.dataset.kimai_token,
        "settings": {"http": {"max_concurrent_requests": 4}},
    }  # fmt: skip
    response = admin_client.post("/api/v1/connections", body, content_type="application/json")

    assert response.status_code == 201, response.content
    assert Connection.objects.get().settings == {"http": {"max_concurrent_requests": 4}}
