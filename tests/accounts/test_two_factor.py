"""The optional second factor: an authenticator app (TOTP) with recovery codes."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core.management import call_command
from django.test import Client, override_settings

from apps.accounts.models import ApiKey
from apps.core.models import AuditEvent
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _switch_on(client: Client) -> tuple[str, list[str]]:
    """Switch TOTP on the way the admin does; returns the secret and the recovery codes."""
    confirm = client.post("/accounts/reauthenticate/", {"password": ADMIN_PASSWORD})
    assert confirm.status_code == 302
    page = client.get("/accounts/2fa/totp/activate/").content.decode()
    match = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert match is not None, page
    secret = match.group(1)
    activated = client.post("/accounts/2fa/totp/activate/", {"code": _code(secret)}, follow=True)
    codes_page = activated.content.decode()
    block = re.search(r'<pre class="recovery-codes" id="recovery-codes">(.*?)</pre>', codes_page,
                      re.S)  # fmt: skip
    assert block is not None, codes_page
    return secret, block.group(1).split()


def _password_step(client: Client) -> None:
    response = client.post("/accounts/login/", {"login": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/authenticate/"


@pytest.mark.django_db
def test_two_factor_is_off_by_default_and_offered_on_the_account_page(
    admin_client: Client,
) -> None:
    page = admin_client.get("/accounts/").content.decode()
    assert "Logging in asks for the password only." in page
    assert 'href="/accounts/2fa/totp/activate/"' in page


@pytest.mark.django_db
def test_switching_it_on_needs_a_valid_code_from_the_app(admin_client: Client) -> None:
    admin_client.post("/accounts/reauthenticate/", {"password": ADMIN_PASSWORD})
    admin_client.get("/accounts/2fa/totp/activate/")
    response = admin_client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert response.status_code == 200
    assert "Incorrect code." in response.content.decode()
    assert not Authenticator.objects.exists()


@pytest.mark.django_db
def test_switched_on_it_shows_recovery_codes_and_says_so_on_the_account_page(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _, codes = _switch_on(admin_client)
    assert len(codes) == 10
    page = admin_client.get("/accounts/").content.decode()
    assert "Logging in asks for a code from your authenticator app" in page
    assert "10 unused recovery codes left" in page
    added = AuditEvent.objects.filter(action="account.2fa_added")
    assert sorted(str(event.after) for event in added) == [
        "{'authenticator': 'recovery_codes'}",
        "{'authenticator': 'totp'}",
    ]


@pytest.mark.django_db
def test_the_secret_is_not_stored_in_plaintext(admin_client: Client) -> None:
    secret, _ = _switch_on(admin_client)
    totp = Authenticator.objects.get(type=Authenticator.Type.TOTP)
    assert secret not in str(totp.data)


@pytest.mark.django_db
def test_with_two_factor_on_the_password_alone_does_not_log_in(admin_client: Client) -> None:
    _switch_on(admin_client)
    browser = Client()
    _password_step(browser)
    assert browser.get("/").status_code == 302


@pytest.mark.django_db
def test_a_code_from_the_app_completes_the_login(admin_client: Client) -> None:
    secret, _ = _switch_on(admin_client)
    browser = Client()
    _password_step(browser)
    response = browser.post("/accounts/2fa/authenticate/", {"code": _code(secret)})
    assert response.status_code == 302
    assert browser.get("/").status_code == 200


@pytest.mark.django_db
def test_a_code_of_the_step_before_logs_in_but_not_one_two_steps_old(admin_client: Client) -> None:
    """Typed as the app moved on to the next code (or with the phone's clock a little behind):
    accepted. Two steps (a minute) old: refused."""
    secret, _ = _switch_on(admin_client)
    if 30 - time.time() % 30 < 5:  # the server must still be on this step when the code arrives
        time.sleep(30 - time.time() % 30)
    step = int(time.time()) // 30
    browser = Client()
    _password_step(browser)
    stale = format_hotp_value(hotp_value(secret, step - 2))
    refused = browser.post("/accounts/2fa/authenticate/", {"code": stale})
    assert refused.status_code == 200 and "Incorrect code." in refused.content.decode()
    previous = format_hotp_value(hotp_value(secret, step - 1))
    response = browser.post("/accounts/2fa/authenticate/", {"code": previous})
    assert response.status_code == 302
    assert browser.get("/").status_code == 200


@pytest.mark.django_db
def test_a_recovery_code_logs_in_once(admin_client: Client) -> None:
    _, codes = _switch_on(admin_client)
    first = Client()
    _password_step(first)
    assert first.post("/accounts/2fa/authenticate/", {"code": codes[0]}).status_code == 302
    second = Client()
    _password_step(second)
    again = second.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert again.status_code == 200
    assert "Incorrect code." in again.content.decode()


@pytest.mark.django_db
def test_wrong_codes_are_audited_and_throttled_with_429(admin_client: Client) -> None:
    _switch_on(admin_client)
    browser = Client()
    _password_step(browser)
    for _ in range(5):
        assert browser.post("/accounts/2fa/authenticate/", {"code": "123456"}).status_code == 200
    response = browser.post("/accounts/2fa/authenticate/", {"code": "123456"})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many attempts from your address" in response.content.decode()
    assert AuditEvent.objects.filter(action="login.code_failed").count() == 5
    throttled = AuditEvent.objects.get(action="login.code_throttled")
    assert throttled.after is not None
    assert throttled.after["retry_after_seconds"] == int(response["Retry-After"])


@pytest.mark.django_db
def test_api_keys_work_unchanged_with_two_factor_on(
    admin_client: Client, api_key: tuple[ApiKey, str]
) -> None:
    _switch_on(admin_client)
    response = Client().get("/api/v1/api-keys", headers={"Authorization": f"Bearer {api_key[1]}"})
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_admin_switches_it_off_on_the_account_page(
    admin_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _switch_on(admin_client)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert not Authenticator.objects.exists()
    assert AuditEvent.objects.filter(action="account.2fa_removed").exists()
    login = Client().post("/accounts/login/", {"login": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert login["Location"] == "/", "the password alone logs in again"


@pytest.mark.django_db
def test_createadmin_disable_2fa_gets_the_admin_in_without_the_app(admin_client: Client) -> None:
    _switch_on(admin_client)
    out = io.StringIO()
    call_command("createadmin", email=ADMIN_EMAIL, password="a-new-long-password-4",
                 disable_2fa=True, stdout=out)  # fmt: skip
    assert "Two-factor authentication is off" in out.getvalue()
    assert not Authenticator.objects.exists()
    response = Client().post(
        "/accounts/login/", {"login": ADMIN_EMAIL, "password": "a-new-long-password-4"}
    )
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_reencrypt_secrets_moves_the_second_factor_to_a_new_salt(admin_client: Client) -> None:
    secret, _ = _switch_on(admin_client)
    stored_before = Authenticator.objects.get(type=Authenticator.Type.TOTP).data["secret"]
    with override_settings(SALT_KEY=["new-salt", "zammad-kimai-sync-v1"]):
        call_command("reencrypt_secrets", stdout=io.StringIO())
    stored_after = Authenticator.objects.get(type=Authenticator.Type.TOTP).data["secret"]
    assert stored_after != stored_before
    with override_settings(SALT_KEY=["new-salt"]):
        browser = Client()
        _password_step(browser)
        response = browser.post("/accounts/2fa/authenticate/", {"code": _code(secret)})
    assert response.status_code == 302
