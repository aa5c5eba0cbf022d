"""The throttle seen from two real loopback addresses against a served app."""

from __future__ import annotations

import re

import httpx
import pytest
from pytest_django.live_server_helper import LiveServer

from apps.accounts.services import set_admin
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD


def _browser_from(source: str, base_url: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=base_url, transport=transport, timeout=30)


def _log_in(browser: httpx.Client, password: str) -> httpx.Response:
    page = browser.get("/accounts/login/").text
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert match is not None
    form = {"csrfmiddlewaretoken": match.group(1), "login": ADMIN_EMAIL, "password": password}
    return browser.post("/accounts/login/", data=form, headers={"Referer": str(browser.base_url)})


@pytest.mark.django_db(transaction=True)
def test_a_throttled_loopback_address_does_not_keep_the_admin_out_of_another(
    live_server: LiveServer,
) -> None:
    set_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    base_url = live_server.url.replace("localhost", "127.0.0.1")
    with (
        _browser_from("127.0.0.1", base_url) as attacker,
        _browser_from("127.0.0.2", base_url) as admin,
    ):
        for _ in range(5):
            assert _log_in(attacker, "wrong-password").status_code == 200
        throttled = _log_in(attacker, ADMIN_PASSWORD)
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) > 0
        logged_in = _log_in(admin, ADMIN_PASSWORD)
        assert logged_in.status_code == 302
        assert admin.get("/").status_code == 200
