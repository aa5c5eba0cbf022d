from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client

from apps.accounts.models import ApiKey, hash_api_key


@pytest.mark.django_db
def test_create_api_key_prints_the_key_once_and_stores_only_its_hash() -> None:
    out = io.StringIO()
    call_command("create_api_key", "billing-export", stdout=out)
    plaintext = out.getvalue().strip().splitlines()[-1]
    key = ApiKey.objects.get()
    assert key.name == "billing-export"
    assert plaintext.startswith(f"zks_{key.prefix}_")
    assert key.key_hash == hash_api_key(plaintext)
    assert plaintext not in str(ApiKey.objects.values())


@pytest.mark.django_db
def test_a_key_authenticates_api_calls(api_client: Client) -> None:
    response = api_client.get("/api/v1/status")
    assert response.status_code == 200
    assert response.json()["checks"][0]["name"] == "database"


@pytest.mark.django_db
def test_a_revoked_key_is_refused(api_client: Client, api_key: tuple[ApiKey, str]) -> None:
    api_key[0].revoke()
    assert api_client.get("/api/v1/status").status_code == 401


@pytest.mark.django_db
def test_use_of_a_key_is_recorded(api_client: Client, api_key: tuple[ApiKey, str]) -> None:
    api_client.get("/api/v1/status")
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at is not None


@pytest.mark.django_db
def test_the_api_lists_keys_without_revealing_them(
    api_client: Client, api_key: tuple[ApiKey, str]
) -> None:
    body = api_client.get("/api/v1/api-keys").json()
    assert [k["name"] for k in body] == ["tests"]
    assert api_key[1] not in str(body)
    assert "key_hash" not in body[0]


@pytest.mark.django_db
def test_the_api_revokes_a_key(api_client: Client) -> None:
    other, _ = ApiKey.issue("old integration")
    response = api_client.post(f"/api/v1/api-keys/{other.pk}/revoke")
    assert response.status_code == 200
    other.refresh_from_db()
    assert other.revoked_at is not None


@pytest.mark.django_db
def test_the_settings_page_creates_a_key_and_shows_it_once(admin_client: Client) -> None:
    response = admin_client.post(
        "/settings/api-keys/", {"name": "n8n"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    key = ApiKey.objects.get()
    assert f"zks_{key.prefix}_" in html
    assert "will not be shown again" in html
    assert f"zks_{key.prefix}_…" in admin_client.get("/settings/").content.decode()
    assert "will not be shown again" not in admin_client.get("/settings/").content.decode()


@pytest.mark.django_db
def test_the_settings_page_explains_an_empty_name(admin_client: Client) -> None:
    response = admin_client.post("/settings/api-keys/", {"name": "  "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_the_settings_page_revokes_a_key(admin_client: Client) -> None:
    key, _ = ApiKey.issue("old")
    response = admin_client.post(
        f"/settings/api-keys/{key.pk}/revoke/", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
