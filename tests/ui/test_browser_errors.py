"""Every HTMX answer with an error reaches the screen, and a new answer replaces the old one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.sync.models import SyncSettings
from tests.conftest import ARTIFACTS
from tests.sync.world import World, demo_world

pytestmark = pytest.mark.browser


@pytest.fixture
def world(transactional_db: None) -> Iterator[World]:
    with demo_world(weeks=1) as built:
        yield built


def test_a_refused_schedule_says_why_next_to_the_field(
    logged_in_page: Page, live_server: LiveServer, world: World
) -> None:
    page = logged_in_page
    page.goto(f"{live_server.url}/settings/")
    page.fill("#id_incremental_every_minutes", "0")
    page.click("#sync-settings button[type=submit]")
    expect(page.locator("#sync-settings .error")).to_have_text("Between 1 and 1440 minutes.")
    assert page.url == f"{live_server.url}/settings/"  # swapped in place, no reload
    assert SyncSettings.objects.get(profile=world.profile).incremental_every_minutes == 15


def test_the_connection_test_shows_each_answer_and_clears_the_last_one(
    logged_in_page: Page, live_server: LiveServer, world: World
) -> None:
    page = logged_in_page
    page.goto(f"{live_server.url}/connectors/new/kimai/")
    page.fill("#id_name", "Kimai two")
    page.fill("#id_base_url", world.served.kimai_url)
    page.fill("#id_token", world.dataset.kimai_token)
    page.click("text=Test connection")
    expect(page.locator("#check-result .status")).to_contain_text("Connection works · Kimai 2.")
    page.fill("#id_base_url", world.served.kimai_url.removeprefix("http://"))
    page.click("text=Test connection")
    expect(page.locator("#check-result .status")).to_have_text("Not tested: fix this first")
    expect(page.locator("#check-result")).to_contain_text("Address: Enter the address")
    expect(page.locator("#check-result")).not_to_contain_text("Connection works")
    page.screenshot(path=str(ARTIFACTS / "errors-address-without-scheme.png"), full_page=True)


def test_a_server_error_is_announced_at_the_top_and_cleared_by_the_next_request(
    logged_in_page: Page, live_server: LiveServer, world: World, monkeypatch: Any
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the check broke")

    monkeypatch.setattr("apps.connectors.views.check_values", broken)
    page = logged_in_page
    page.goto(f"{live_server.url}/connectors/new/kimai/")
    page.fill("#id_name", "Kimai two")
    page.fill("#id_base_url", world.served.kimai_url)
    page.fill("#id_token", "anything")
    page.click("text=Test connection")
    expect(page.locator("#request-error")).to_be_visible()
    expect(page.locator("#request-error")).to_contain_text(
        "The server failed to do this (HTTP 500)"
    )
    monkeypatch.undo()
    page.click("text=Test connection")
    expect(page.locator("#check-result .status")).to_have_text("Token refused")
    expect(page.locator("#request-error")).to_be_hidden()
