"""Planning and confirming a sync in a real browser, against the doubles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from apps.sync.models import Link, Run
from tests.sync.world import World, demo_world

pytestmark = pytest.mark.browser


@pytest.fixture
def live_world(transactional_db: None, settings: Any) -> Iterator[World]:
    settings.TASKS_INLINE = True  # the run executes in the request, as a worker would at once
    with demo_world(weeks=1) as built:
        yield built


def test_the_admin_plans_a_sync_sees_the_hours_and_confirms_it(
    logged_in_page: Page, live_server: LiveServer, live_world: World
) -> None:
    page = logged_in_page
    start, end = live_world.window()
    page.goto(f"{live_server.url}/sync/")
    page.fill("#id_start", f"{start:%Y-%m-%d}")
    page.fill("#id_end", f"{end:%Y-%m-%d}")
    page.click("button:has-text('Sync now')")
    expect(page.locator("#progress .status")).to_have_text("Succeeded")
    expect(page.locator("text=Hours that would be written")).to_be_visible()
    assert live_world.kimai_writes() == []
    page.click("text=Confirm: sync")
    expect(page.locator("#progress .status")).to_have_text("Succeeded")
    real = Run.objects.filter(dry_run=False).get()
    assert real.counts["create"] == Link.objects.filter(origin="created").count() > 0
    expect(page.locator("table").last).to_contain_text("create")
