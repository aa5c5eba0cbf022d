"""Settings → Privacy in Chromium: a too short retention is stopped at the field; a purge asks
first and says it is done."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.connectors.models import Connection
from apps.gdpr.models import Person, RetentionPolicy
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_a_too_short_audit_retention_is_refused_next_to_the_field(
    logged_in_page: Page, live_server: LiveServer
) -> None:
    page = logged_in_page
    page.goto(f"{live_server.url}/settings/privacy/")
    page.fill("#id_audit_days", "7")
    page.click("#retention button[type=submit]")
    # The field's own bounds (min 30) stop the form in the browser, with the browser's words;
    # the server refuses the same (tests/gdpr/test_privacy_page.py).
    message = page.eval_on_selector("#id_audit_days", "e => e.validationMessage")
    assert message
    assert page.url == f"{live_server.url}/settings/privacy/"
    assert RetentionPolicy.load().audit_days == 400


def test_a_purge_shows_what_goes_asks_and_says_it_is_done(
    logged_in_page: Page, live_server: LiveServer
) -> None:
    zammad = Connection.objects.create(kind="zammad", name="Z", base_url="http://127.0.0.1:9",
                                       token="t")  # fmt: skip
    Person.objects.create(connection=zammad, external_id="8", kind=Person.Kind.AGENT,
                          email="pat.temp@example.com", name="Pat Temp")  # fmt: skip
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/settings/privacy/")
    page.fill("#id_email", "pat.temp@example.com")
    page.click("#person button:has-text('Look up')")
    expect(page.locator("#person table.held")).to_contain_text("Person rows")
    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.check("#person input[name=confirm]")
    page.click("#person button:has-text('Purge this person')")
    expect(page.locator("#purge-done")).to_contain_text("purged")
    page.screenshot(path=str(ARTIFACTS / "privacy-purged-390.png"), full_page=True)
    assert dialogs and "cannot be undone" in dialogs[0]
    assert Person.objects.get().name == ""
