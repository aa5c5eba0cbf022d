"""Failed logins are throttled per account *and* source: nobody can keep the admin out."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import structlog
import time_machine
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from apps.accounts.models import User
from apps.core.models import AuditEvent
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse

LOGIN = "/accounts/login/"
FIRST, SECOND = "127.0.0.1", "127.0.0.2"


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    """Time stands still unless a test moves it, so waits are exact on a loaded machine."""
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def _login(
    client: Client, login: str, password: str, source: str = FIRST, **extra: Any
) -> _MonkeyPatchedWSGIResponse:
    return client.post(LOGIN, {"login": login, "password": password}, REMOTE_ADDR=source, **extra)


def _fail(times: int, login: str = ADMIN_EMAIL, source: str = FIRST, **extra: Any) -> None:
    for _ in range(times):
        assert _login(Client(), login, "wrong-password", source, **extra).status_code == 200


@pytest.mark.django_db
def test_five_wrong_passwords_make_that_source_wait_with_429_and_retry_after(
    admin_user: User,
) -> None:
    _fail(5)
    client = Client()
    response = _login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "300"
    page = response.content.decode()
    wait = response["Retry-After"]
    assert f"Too many attempts from your address. Try again in {wait} seconds" in page
    assert re.search(r"\(after \d\d:\d\d:\d\d UTC\)", page)
    assert client.get("/").status_code == 302, "a throttled right password does not log in"


@pytest.mark.django_db
def test_the_admin_still_logs_in_from_another_source_while_one_is_throttled(
    admin_user: User,
) -> None:
    _fail(5, source=FIRST)
    client = Client()
    response = _login(client, ADMIN_EMAIL, ADMIN_PASSWORD, source=SECOND)
    assert response.status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_e_mail_case_variants_count_as_the_same_account(admin_user: User) -> None:
    _fail(2, login="ADMIN@example.com")
    _fail(2, login="Admin@Example.COM")
    _fail(1, login=f"  {ADMIN_EMAIL}  ")
    assert _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 429


@pytest.mark.django_db
def test_the_throttle_lifts_by_itself_after_the_cooldown(
    admin_user: User, clock: time_machine.Traveller
) -> None:
    _fail(5)
    assert _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 429
    clock.shift(299)
    assert _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 429
    clock.shift(2)
    assert _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 302


@pytest.mark.django_db
def test_createadmin_lifts_the_throttle_of_every_source(admin_user: User) -> None:
    _fail(5, source=FIRST)
    _fail(5, source=SECOND)
    call_command("createadmin", email=ADMIN_EMAIL, password="a-new-long-password-3",
                 stdout=io.StringIO())  # fmt: skip
    assert _login(Client(), ADMIN_EMAIL, "a-new-long-password-3", FIRST).status_code == 302
    assert _login(Client(), ADMIN_EMAIL, "a-new-long-password-3", SECOND).status_code == 302


@pytest.mark.django_db
def test_one_source_guessing_many_accounts_is_throttled_after_ten_failures_a_minute(
    admin_user: User,
) -> None:
    for number in range(10):
        _fail(1, login=f"guess{number}@example.com")
    response = _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD, source=SECOND).status_code == 302


@pytest.mark.django_db
def test_x_forwarded_for_does_not_escape_the_throttle_without_a_trusted_proxy(
    admin_user: User,
) -> None:
    _fail(5, HTTP_X_FORWARDED_FOR="203.0.113.9")
    response = _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert response.status_code == 429


@pytest.mark.django_db
@override_settings(ALLAUTH_TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_address_is_the_source(admin_user: User) -> None:
    _fail(5, HTTP_X_FORWARDED_FOR="203.0.113.9")
    throttled = _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert throttled.status_code == 429
    other = _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert other.status_code == 302


@pytest.mark.django_db
def test_every_failed_login_is_a_security_event_and_an_audit_event(admin_user: User) -> None:
    with structlog.testing.capture_logs() as logs:
        _fail(2, login="Admin@Example.com", source=SECOND)
    events = [line for line in logs if line["event"] == "login.failed"]
    assert len(events) == 2
    assert events[0]["security_event"] is True
    assert events[0]["source_ip"] == SECOND
    assert events[0]["account_id"] == admin_user.pk
    audited = AuditEvent.objects.filter(action="login.failed")
    assert audited.count() == 2
    event = audited.first()
    assert event is not None
    assert (event.actor, event.object_type, event.object_id) == ("anonymous", "account",
                                                                 str(admin_user.pk))  # fmt: skip
    assert event.after == {"source_ip": SECOND, "account_id": admin_user.pk, "login_digest": None}


@pytest.mark.django_db
def test_a_login_for_no_account_is_audited_without_the_typed_text(admin_user: User) -> None:
    _fail(1, login="typed-my-password-here@example.com")
    event = AuditEvent.objects.get(action="login.failed")
    assert event.object_id == ""
    assert "typed-my-password-here" not in str(event.after)
    assert event.after is not None and len(event.after["login_digest"]) == 16


@pytest.mark.django_db
def test_throttled_logins_are_logged_every_time_and_audited_once_per_cooldown(
    admin_user: User,
) -> None:
    _fail(5)
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            assert _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 429
    throttled = [line for line in logs if line["event"] == "login.throttled"]
    assert len(throttled) == 3
    assert [line["retry_after_seconds"] for line in throttled] == [300, 300, 300]
    assert AuditEvent.objects.filter(action="login.throttled").count() == 1


@pytest.mark.django_db
def test_more_than_thirty_login_posts_a_minute_from_one_source_get_429(
    admin_user: User,
) -> None:
    for _ in range(30):
        assert Client().post(LOGIN, {"login": ADMIN_EMAIL}, REMOTE_ADDR=FIRST).status_code == 200
    response = Client().post(LOGIN, {"login": ADMIN_EMAIL}, REMOTE_ADDR=FIRST)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert "Too many attempts from your address" in response.content.decode()
    assert _login(Client(), ADMIN_EMAIL, ADMIN_PASSWORD, source=SECOND).status_code == 302
