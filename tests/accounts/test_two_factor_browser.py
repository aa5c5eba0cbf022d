"""Switching the second factor on and logging in with it, in a real browser."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, ARTIFACTS

pytestmark = pytest.mark.browser


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_the_admin_switches_on_two_factor_and_logs_in_with_a_code(
    logged_in_page: Page, live_server: LiveServer, browser: Browser
) -> None:
    page = logged_in_page
    page.click('nav .account a[href="/accounts/"]')
    expect(page.locator("#two-factor")).to_contain_text("Logging in asks for the password only.")
    page.click("#two-factor >> text=Switch on")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("main button[type=submit]")
    expect(page.locator("img.totp-qr")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.fill("#id_code", _code(secret))
    page.click("main button:has-text('Switch on')")
    expect(page.locator("#recovery-codes")).to_be_visible()
    assert len(page.locator("#recovery-codes").inner_text().split()) == 10

    context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone.goto(f"{live_server.url}/accounts/login/")
    phone.fill("#id_login", ADMIN_EMAIL)
    phone.fill("#id_password", ADMIN_PASSWORD)
    phone.click("main button[type=submit]")
    expect(phone.locator("h1")).to_have_text("Two-factor authentication")
    ARTIFACTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "two-factor-code-on-a-phone.png"), full_page=True)
    phone.fill("#id_code", _code(secret))
    phone.click("main button:has-text('Log in')")
    expect(phone.locator("h1")).to_have_text("Dashboard")
    context.close()
