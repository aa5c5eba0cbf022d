"""OUTBOUND_LOOPBACK_ONLY: generated or typed connector URLs never leave the machine."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from apps.connectors.models import Connection


@pytest.mark.django_db
@override_settings(OUTBOUND_LOOPBACK_ONLY=True)
def test_a_connection_to_another_host_is_refused_before_any_request(api_client: Client) -> None:
    body = {"kind": "zammad", "name": "Z", "base_url": "https://zammad.example.com", "token": "t"}
    response = api_client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 422
    assert "OUTBOUND_LOOPBACK_ONLY allows only loopback addresses" in response.json()["detail"]
    assert not Connection.objects.exists()


@pytest.mark.django_db
@override_settings(OUTBOUND_LOOPBACK_ONLY=True)
@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "[::1]"])
def test_loopback_addresses_are_still_tried(api_client: Client, host: str) -> None:
    body = {"kind": "zammad", "name": "Z", "base_url": f"http://{host}:9", "token": "t"}
    response = api_client.post("/api/v1/connections", body, content_type="application/json")
    assert response.status_code == 422
    assert "OUTBOUND_LOOPBACK_ONLY" not in response.json()["detail"]
