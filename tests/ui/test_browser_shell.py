"""The UI shell in a real browser (Debian's chromium through Playwright)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.accounts.models import ApiKey

pytestmark = pytest.mark.browser


def test_a_stranger_is_sent_to_login_and_the_admin_lands_on_the_dashboard(
    logged_in_page: Page,
) -> None:
    expect(logged_in_page.locator("h1")).to_have_text("Dashboard")
    expect(logged_in_page.locator("#health")).to_contain_text("PostgreSQL")
    expect(logged_in_page.locator("nav.mainnav")).to_contain_text("Settings")


def test_the_admin_creates_and_revokes_an_api_key_without_a_reload(
    logged_in_page: Page, live_server: LiveServer
) -> None:
    page = logged_in_page
    page.click("nav.mainnav >> text=Settings")
    page.fill("#id_name", "browser key")
    page.click("text=Create key")
    expect(page.locator("#new-api-key")).to_contain_text("zks_")
    assert ApiKey.objects.filter(name="browser key", revoked_at__isnull=True).exists()
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("text=Revoke")
    expect(page.locator("#api-keys")).to_contain_text("revoked")
    assert ApiKey.objects.get(name="browser key").revoked_at is not None


def test_the_navigation_folds_into_a_menu_on_a_phone(logged_in_page: Page) -> None:
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("nav.mainnav")).to_be_hidden()
    page.click("label.nav-toggle-label")
    expect(page.locator("nav.mainnav")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page must not scroll sideways on a phone"
