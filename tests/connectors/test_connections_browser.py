"""Connecting Zammad and Kimai in a real browser, with both doubles running standalone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.support.servers import Served, served_doubles

pytestmark = pytest.mark.browser


@pytest.fixture
def servers() -> Iterator[Served]:
    with served_doubles() as served:
        yield served


def _add(page: Page, live_server: LiveServer, kind: str, url: str, token: str) -> None:
    page.goto(f"{live_server.url}/connectors/new/{kind}/")
    page.fill("#id_name", f"Our {kind}")
    page.fill("#id_base_url", url)
    page.fill("#id_token", token)
    page.click("text=Test connection")
    expect(page.locator("#check-result")).to_contain_text("Connection works")
    page.click("button:has-text('Save')")
    expect(page.locator("h1")).to_have_text("Connectors")


def test_the_connectors_page_tests_both_connections(
    logged_in_page: Page, live_server: LiveServer, servers: Served
) -> None:
    page = logged_in_page
    _add(page, live_server, "zammad", servers.zammad_url, servers.dataset.zammad_token)
    _add(page, live_server, "kimai", servers.kimai_url, servers.dataset.kimai_token)
    for card in page.locator("article.connection").all():
        card.get_by_role("button", name="Test").click()
    expect(page.locator("article.connection .status.ok")).to_have_count(2)


def test_a_wrong_token_gets_a_useful_message(
    logged_in_page: Page, live_server: LiveServer, servers: Served
) -> None:
    page = logged_in_page
    page.goto(f"{live_server.url}/connectors/new/kimai/")
    page.fill("#id_name", "Kimai")
    page.fill("#id_base_url", servers.kimai_url)
    page.fill("#id_token", "not-the-token")
    page.click("text=Test connection")
    expect(page.locator("#check-result")).to_contain_text("Token refused")
    page.click("button:has-text('Save')")
    expect(page.locator(".callout.fail").first).to_contain_text("Nothing was saved")
