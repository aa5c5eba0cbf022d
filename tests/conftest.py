from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from apps.accounts.models import ApiKey, User
from apps.accounts.services import set_admin

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
