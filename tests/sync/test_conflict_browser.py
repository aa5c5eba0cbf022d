"""Deciding conflicts in a real browser, against the doubles served on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.core.models import AuditEvent
from apps.sync.models import Conflict
from tests.conftest import ARTIFACTS
from tests.sync.world import World, demo_world

pytestmark = pytest.mark.browser


@pytest.fixture
def live_world(transactional_db: None, settings: Any) -> Iterator[World]:
    settings.TASKS_INLINE = True  # runs asked for by a page execute in the request
    with demo_world(weeks=2) as built:
        built.run()
        yield built


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"conflicts-{name}.png"), full_page=True)


def test_the_admin_reviews_a_conflict_resolves_it_and_finds_the_write_and_the_event(
    logged_in_page: Page, live_server: LiveServer, live_world: World
) -> None:
    page = logged_in_page
    conflict = Conflict.objects.get(kind=Conflict.Kind.DURATION_MISMATCH)
    page.click("nav.mainnav >> text=Conflicts")
    expect(page.locator(".kind-counts")).to_contain_text(
        "a Kimai timesheet with another begin or duration"
    )
    page.click(".kind-counts >> text=a Kimai timesheet with another begin or duration")
    expect(page.locator(".conflict-card")).to_have_count(1)
    _shot(page, "list")
    page.click(".conflict-card >> text=Review and decide")
    expect(page.locator("h1")).to_have_text(
        f"Conflict {conflict.pk}: a Kimai timesheet with another begin or duration"
    )
    differing = page.locator("table.compare tr.diff th")
    expect(differing.first).to_contain_text("End")
    expect(page.locator("tr[data-differs=duration] td")).to_have_text(["0:20 h", "0:30 h"])
    _shot(page, "detail")
    page.click("button[data-action=update]")
    expect(page.locator("#conflict .callout.ok")).to_contain_text(
        f"Updated Kimai timesheet #{conflict.kimai_id}."
    )
    expect(page.locator("#conflict .status")).to_have_text("Resolved")
    _shot(page, "resolved")
    patches = live_world.kimai_double.requests_to("PATCH", f"/api/timesheets/{conflict.kimai_id}")
    assert len(patches) == 1
    assert live_world.kimai_double.timesheet(int(conflict.kimai_id)).duration == 20 * 60
    page.click("text=This conflict in the audit log")
    expect(page.locator(".audit-event")).to_have_count(1)
    expect(page.locator(".audit-event .badge")).to_have_text("conflict.resolve")
    expect(page.locator(".audit-event table.changes")).to_contain_text("resolved")
    page.fill("#a-ticket", conflict.ticket_number)
    page.fill("#a-object", "")
    page.select_option("#a-type", "")
    page.click("form.filters button[type=submit]")
    expect(page.locator(".audit-event .badge", has_text="kimai.timesheet.update")).to_have_count(1)
    _shot(page, "audit")


def test_the_admin_skips_several_conflicts_at_once_and_sees_each_result(
    logged_in_page: Page, live_server: LiveServer, live_world: World, monkeypatch: Any
) -> None:
    monkeypatch.setattr("apps.sync.conflict_views.BULK_STEP_SECONDS", 0)  # one per step
    page = logged_in_page
    page.goto(f"{live_server.url}/sync/conflicts/?kind=unmapped_user")
    picked = page.locator(".conflict-card input[type=checkbox]")
    for index in range(3):
        picked.nth(index).check()
    ids = [int(picked.nth(i).get_attribute("value") or 0) for i in range(3)]
    page.select_option("#bulk-action", "skip")
    page.fill("#bulk-note", "temp agent, booked elsewhere")
    page.click("#bulk-form button[type=submit]")
    expect(page.locator("#bulk-progress .bulk-counts")).to_contain_text("3 of 3")
    expect(page.locator("#bulk-results tr")).to_have_count(3)
    expect(page.locator("#bulk-results .badge.ok")).to_have_count(3)
    _shot(page, "bulk")
    assert Conflict.objects.filter(pk__in=ids, status="skipped").count() == 3
    assert AuditEvent.objects.filter(action="conflict.skip").count() == 3
    for conflict_id in ids:  # the list no longer shows them
        expect(page.locator(f"#conflict-{conflict_id}")).to_have_count(0)
    page.goto(f"{live_server.url}/sync/audit/?action=conflict.skip")
    expect(page.locator(".audit-event")).to_have_count(3)


def test_map_this_agent_resolves_the_agents_conflicts(
    logged_in_page: Page, live_server: LiveServer, live_world: World
) -> None:
    page = logged_in_page
    conflict = Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_USER).first()
    assert conflict is not None
    page.goto(f"{live_server.url}/sync/conflicts/{conflict.pk}/")
    page.click("a.button:has-text('Map this agent')")
    expect(page.locator("#quick-fix select")).to_be_visible()
    emma = str(live_world.kimai_double.user_id("emma"))
    page.select_option("#fix-user", emma)
    _shot(page, "map-agent")
    page.click("#quick-fix button[type=submit]")
    # The page it was made on says so, and shows the conflict decided (the run ran inline).
    expect(page.locator("#conflict .callout.ok")).to_contain_text("conflicts waited for this")
    expect(page.locator("#conflict .status").first).to_have_text("Resolved")
    assert not Conflict.objects.filter(agent_id=conflict.agent_id, status="open").exists()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_conflict_and_audit_pages_fit_the_screen(
    logged_in_page: Page, live_server: LiveServer, live_world: World, width: int
) -> None:
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 900})
    conflict = Conflict.objects.filter(kind=Conflict.Kind.DURATION_MISMATCH).first()
    unmapped = Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_USER).first()
    assert conflict is not None and unmapped is not None
    pages = {
        "list": "/sync/conflicts/",
        "detail": f"/sync/conflicts/{conflict.pk}/",
        "detail-unmapped": f"/sync/conflicts/{unmapped.pk}/",
        "fix": f"/sync/conflicts/map-agent/{unmapped.agent_id}/",
        "audit": "/sync/audit/",
        "dashboard": "/",
    }
    too_wide = []
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        if name == "list":
            page.locator(".conflict-card details").first.evaluate("d => d.open = true")
        _shot(page, f"{name}-{width}")
        if page.evaluate("document.documentElement.scrollWidth") > width:
            too_wide.append(f"{path} at {width}px")
    assert too_wide == []
