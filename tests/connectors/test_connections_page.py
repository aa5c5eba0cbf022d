"""The Connectors page, against the doubles served on 127.0.0.1."""

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


def _form(servers: Served, **changes: str) -> dict[str, str]:
    data = {
        "name": "Support Zammad",
        "base_url": servers.zammad_url,
        "token": servers.dataset.zammad_token,
        "settings.time_unit": "minute",
        "enabled": "on",
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_it_adds_a_zammad_connection_from_the_form(admin_client: Client, servers: Served) -> None:
    response = admin_client.post("/connectors/new/zammad/", _form(servers))
    assert response.status_code == 302
    saved = Connection.objects.get()
    assert (saved.kind, saved.name, saved.settings) == (
        "zammad", "Support Zammad", {"time_unit": "minute"},
    )  # fmt: skip
    html = admin_client.get("/connectors/").content.decode()
    assert "Support Zammad" in html
    assert saved.token not in html
    assert saved.token_hint in html


@pytest.mark.django_db
def test_a_wrong_token_is_explained_on_the_form_and_nothing_is_saved(
    admin_client: Client, servers: Served
) -> None:
    response = admin_client.post("/connectors/new/zammad/", _form(servers, token="nope"))
    html = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was saved" in html
    assert "Token refused" in html
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_the_test_button_checks_typed_values_before_saving(
    admin_client: Client, servers: Served
) -> None:
    response = admin_client.post(
        "/connectors/test/zammad/", _form(servers), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert "Connection works" in html
    assert "sync@example.com" in html or "Time Sync" in html
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_the_test_button_of_a_saved_connection_records_the_outcome(
    admin_client: Client, servers: Served
) -> None:
    admin_client.post("/connectors/new/zammad/", _form(servers))
    saved = Connection.objects.get()
    servers.zammad.tokens.clear()
    response = admin_client.post(f"/connectors/{saved.pk}/test/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith(f'<article class="card connection" id="connection-{saved.pk}"')
    assert "Token refused" in html
    saved.refresh_from_db()
    assert saved.last_error


@pytest.mark.django_db
def test_editing_without_a_token_keeps_the_stored_one(
    admin_client: Client, servers: Served
) -> None:
    admin_client.post("/connectors/new/zammad/", _form(servers))
    saved = Connection.objects.get()
    response = admin_client.post(f"/connectors/{saved.pk}/", _form(servers, token="", name="Z2"))
    assert response.status_code == 302
    saved.refresh_from_db()
    assert (saved.name, saved.token) == ("Z2", servers.dataset.zammad_token)


@pytest.mark.django_db
def test_the_form_shows_the_settings_of_the_connector_kind(admin_client: Client) -> None:
    html = admin_client.get("/connectors/new/zammad/").content.decode()
    assert 'name="settings.time_unit"' in html
    assert admin_client.get("/connectors/new/nope/").status_code == 404


@pytest.mark.django_db
def test_the_settings_read_as_words_not_field_names(admin_client: Client) -> None:
    zammad = admin_client.get("/connectors/new/zammad/").content.decode()
    assert "Look back for late entries (seconds)" in zammad
    assert '<option value="created_at" selected>when the time was booked in Zammad</option>' in (
        zammad
    )
    assert "Change overlap seconds" not in zammad and "Booked at" not in zammad
    kimai = admin_client.get("/connectors/new/kimai/").content.decode()
    assert "Create tags Kimai does not know yet" in kimai
    assert "Page size" not in kimai


@pytest.mark.django_db
def test_an_address_without_scheme_is_refused_in_words_before_any_request(
    admin_client: Client, servers: Served
) -> None:
    address = servers.zammad_url.removeprefix("http://")
    response = admin_client.post(
        "/connectors/test/zammad/", _form(servers, base_url=address), headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<strong>Address</strong>: Enter the address of the server, starting with https://" in (
        html
    )
    assert "base_url" not in html
    assert servers.zammad.requests == []


@pytest.mark.django_db
def test_a_zammad_connection_pointed_at_kimai_is_not_called_a_refused_token(
    admin_client: Client, servers: Served
) -> None:
    form = _form(servers, base_url=servers.kimai_url, token=servers.dataset.kimai_token)
    html = admin_client.post("/connectors/test/zammad/", form).content.decode()
    assert "This address does not answer like a Zammad server" in html
    assert "Token refused" not in html
    saved = admin_client.post("/connectors/new/zammad/", form).content.decode()
    assert "Token refused" not in saved
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_a_kimai_connection_pointed_at_zammad_is_not_called_a_refused_token(
    admin_client: Client, servers: Served
) -> None:
    form = {"name": "Kimai", "base_url": servers.zammad_url, "token": "x", "enabled": "on"}
    html = admin_client.post("/connectors/test/kimai/", form).content.decode()
    assert "This address does not answer like a Kimai server" in html
    assert "Token refused" not in html
