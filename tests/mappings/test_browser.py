"""A new user builds a three-rule table in a real browser, reorders it, and the preview follows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.connectors.models import Connection
from tests.conftest import ARTIFACTS
from tests.support.servers import Served, served_doubles

pytestmark = pytest.mark.browser


@pytest.fixture
def servers(transactional_db: None) -> Iterator[Served]:
    with served_doubles() as served:
        Connection.objects.create(
            kind="zammad", name="Support Zammad", base_url=served.zammad_url,
            token=served.dataset.zammad_token,
        )  # fmt: skip
        Connection.objects.create(
            kind="kimai", name="Billing Kimai", base_url=served.kimai_url,
            token=served.dataset.kimai_token,
        )  # fmt: skip
        yield served


def _initech_ticket(servers: Served) -> str:
    """The Initech ticket with the fewest entries (at least one)."""
    counts = {
        ticket.number: sum(1 for e in servers.dataset.entries if e.ticket_id == ticket.zammad_id)
        for ticket in servers.dataset.tickets
        if ticket.organization_id == 3
    }
    return min((n, number) for number, n in counts.items() if n)[1]


def _settled(page: Page) -> None:
    """htmx wires up swapped-in forms when it settles; a key pressed before would submit them
    the old way (a full page load, which works too, but is not what this test is about)."""
    page.wait_for_function("() => !document.querySelector('.htmx-settling, .htmx-swapping')")


def _add_rule(page: Page, name: str, project: str, *, organization: str = "",
              activity: str = "", billable: str = "") -> None:  # fmt: skip
    page.click("#add-rule")
    form = page.locator("#rule-form-new")
    expect(form).to_be_visible()
    form.locator("#new-name").fill(name)
    if organization:  # a checkbox list, narrowed by typing: no Ctrl-click
        picker = form.locator("#new-organizations")
        picker.locator("input[type=search]").fill(organization[:4])
        expect(picker.locator(".picker-options label")).to_have_count(1)  # narrowed
        picker.get_by_label(organization, exact=True).check()
    form.locator("#new-project").select_option(label=project)
    if activity:
        form.locator("#new-activity").select_option(label=activity)
    if billable:
        form.locator("#new-billable").select_option(label=billable)
    form.locator("button[type=submit]").click()
    expect(page.locator("ol.rules")).to_contain_text(name)


def test_a_new_user_builds_three_rules_reorders_them_and_sees_the_preview_change(
    logged_in_page: Page, live_server: LiveServer, servers: Served
) -> None:
    page = logged_in_page
    page.click("nav.mainnav >> text=Mappings")
    expect(page.locator("h1")).to_have_text("Mappings")
    page.click("text=Refresh from Zammad and Kimai")
    expect(page.locator(".reference-bar")).not_to_contain_text("not fetched yet")

    # A global activity on a project without global activities: explained, nothing saved.
    page.click("#add-rule")
    page.locator("#new-project").select_option(label="Retainer")
    page.locator("#new-activity").select_option(label="Support (global)")
    expect(page.locator(".rule-check")).to_contain_text("does not allow global activities")
    page.click("text=Save rule")
    expect(page.locator("#rule-form-new")).to_contain_text("Nothing was saved")
    page.click("#rule-form-new >> text=Cancel")
    expect(page.locator("#rule-form-new")).to_have_count(0)

    _add_rule(page, "Initech retainer", "Retainer", organization="Initech",
              activity="Retainer support (Initech / Retainer)")  # fmt: skip
    _add_rule(page, "Awesome support", "Support 2026", organization="Awesome Customer Inc.")
    _add_rule(page, "Everything else", "Internal Helpdesk", billable="not billable")
    expect(page.locator("li.rule")).to_have_count(3)

    page.fill("#preview-value", _initech_ticket(servers))
    page.click("text=Show the timesheet")
    preview = page.locator("#preview")
    ready = preview.locator(".plan", has_text="ready to book").first
    expect(ready).to_contain_text("Initech / Retainer")
    expect(ready).to_contain_text("Rule 1 “Initech retainer” is the first rule that matches")

    # Up and down are buttons: the keyboard moves a rule, and focus stays on it.
    page.focus("button[aria-label='Move rule 3 up']")
    page.keyboard.press("Enter")
    expect(page.locator("li.rule").nth(1)).to_contain_text("Everything else")
    expect(page.locator("li.rule").nth(1).locator("button", has_text="Up")).to_be_focused()
    _settled(page)
    page.keyboard.press("Enter")
    expect(page.locator("li.rule").first).to_contain_text("Everything else")
    expect(page.locator("li.rule").nth(1)).to_contain_text("Never used")

    # The preview follows the table without being asked again.
    expect(preview).to_contain_text("Rule 1 “Everything else” has no conditions")
    expect(preview).not_to_contain_text("→ Initech / Retainer")  # no entry books there now
    ready = preview.locator(".plan", has_text="ready to book").first
    expect(ready).to_contain_text("Internal / Internal Helpdesk")
    assert page.url.startswith(f"{live_server.url}/mappings/")


def test_the_mapping_pages_fit_a_phone(
    logged_in_page: Page, live_server: LiveServer, servers: Served
) -> None:
    page = logged_in_page
    page.goto(f"{live_server.url}/mappings/")
    page.click("text=Refresh from Zammad and Kimai")
    expect(page.locator(".reference-bar")).not_to_contain_text("not fetched yet")
    page.set_viewport_size({"width": 390, "height": 844})
    for tab in ("Users", "Activities", "Rules"):
        page.click(f"nav.tabs >> text={tab}")
        expect(page.locator("nav.tabs [aria-current=page]")).to_have_text(tab)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"mappings-{tab.lower()}-phone.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{tab} scrolls sideways on a phone ({width}px)"
    page.click("#add-rule")
    expect(page.locator("#rule-form-new")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "mappings-rule-form-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
