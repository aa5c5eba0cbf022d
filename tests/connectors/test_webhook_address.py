"""Settings → Real-time sync: the URL to paste into Zammad, and what is wrong with it, in words."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.connectors.models import Connection
from apps.connectors.webhook_address import webhook_address


def test_without_public_url_it_uses_the_browsers_address_and_says_so(settings: Any) -> None:
    settings.PUBLIC_URL = ""
    address = webhook_address("http://127.0.0.1:8000/")
    assert address.url == "http://127.0.0.1:8000/api/v1/webhooks/zammad"
    assert [w.split(" ")[0] for w in address.warnings] == ["PUBLIC_URL", "127.0.0.1", "This"]
    assert "loopback address" in address.warnings[1]
    assert "plain http address" in address.warnings[2]


def test_an_https_public_url_needs_no_warning(settings: Any) -> None:
    settings.PUBLIC_URL = "https://sync.example.com"
    address = webhook_address("http://127.0.0.1:8000/")
    assert address.url == "https://sync.example.com/api/v1/webhooks/zammad"
    assert address.https and address.from_setting and address.warnings == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.2", "[::1]", "app.localhost"])
def test_a_loopback_public_url_is_called_unreachable_for_zammad(settings: Any, host: str) -> None:
    settings.PUBLIC_URL = f"https://{host}:8443"
    (warning,) = webhook_address().warnings
    assert "is a loopback address" in warning and "never arrives" in warning


@pytest.mark.django_db
def test_the_settings_page_shows_the_url_the_warnings_and_the_matching_ssl_step(
    admin_client: Client, settings: Any
) -> None:
    Connection.objects.create(kind="zammad", name="Z", base_url="https://z.example", token="t")
    settings.PUBLIC_URL = "http://sync.internal:8000"
    html = admin_client.get("/settings/").content.decode()
    assert "http://sync.internal:8000/api/v1/webhooks/zammad</code>" in html
    assert "(from PUBLIC_URL)" in html and "plain http address" in html
    assert "it does not apply to this plain http address" in html
    settings.PUBLIC_URL = "https://sync.example.com"
    html = admin_client.get("/settings/").content.decode()
    assert 'id="webhook-warnings"' not in html
    assert "<strong>SSL verification</strong>: on" in html
