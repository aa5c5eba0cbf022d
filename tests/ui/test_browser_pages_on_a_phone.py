"""Every main page, with real data, fits a phone screen (no sideways scrolling)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page
from pytest_django.live_server_helper import LiveServer

from apps.sync.models import Run
from tests.conftest import ARTIFACTS
from tests.sync.world import World, demo_world

pytestmark = pytest.mark.browser


@pytest.fixture
def synced(transactional_db: None) -> Iterator[World]:
    with demo_world(weeks=1) as world:
        world.run()
        yield world


def test_the_main_pages_fit_a_phone(
    logged_in_page: Page, live_server: LiveServer, synced: World
) -> None:
    page = logged_in_page
    run = Run.objects.get()
    paths = ["/", "/connectors/", "/mappings/", "/sync/", f"/sync/runs/{run.pk}/", "/settings/"]
    too_wide = []
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path in paths:
            page.goto(f"{live_server.url}{path}")
            name = path.strip("/").replace("/", "-") or "dashboard"
            page.screenshot(path=str(Path(ARTIFACTS) / f"page-{name}-{width}.png"), full_page=True)
            if page.evaluate("document.documentElement.scrollWidth") > width:
                too_wide.append(f"{path} at {width}px")
    assert too_wide == []
