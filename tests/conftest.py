from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.test import Client

from apps.accounts.models import ApiKey, User
from apps.accounts.services import set_admin

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page
    from pytest_django.live_server_helper import LiveServer

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def admin_user(db: None) -> User:
    set_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    return User.objects.get(email=ADMIN_EMAIL)


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def csrf_admin_client(admin_user: User) -> Client:
    """A logged-in browser that, like a real one, must send the CSRF token itself."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


@pytest.fixture
def api_key(db: None) -> tuple[ApiKey, str]:
    return ApiKey.issue("tests")


@pytest.fixture
def api_client(api_key: tuple[ApiKey, str]) -> Iterator[Client]:
    yield Client(headers={"Authorization": f"Bearer {api_key[1]}"})


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright; Playwright never downloads a browser here."""
    from playwright.sync_api import expect, sync_playwright

    # A loaded CI machine can take longer than Playwright's 5 s default for a page to settle.
    expect.set_options(timeout=15_000)

    # Playwright's sync API keeps an event loop in this thread; the ORM calls made by tests
    # and fixtures around it are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            args=CHROMIUM_FLAGS,
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.fixture
def logged_in_page(page: Page, live_server: LiveServer, transactional_db: None) -> Page:
    set_admin(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_login", ADMIN_EMAIL)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page
