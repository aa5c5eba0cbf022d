from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from apps.accounts.models import User
from apps.accounts.services import ensure_admin
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD


@pytest.mark.django_db
def test_createadmin_creates_the_admin_and_prints_how_to_log_in() -> None:
    out = io.StringIO()
    call_command(
        "createadmin", email="Ops@Example.com", password="a-good-long-password", stdout=out
    )
    user = User.objects.get()
    assert user.email == "ops@example.com"
    assert user.is_superuser
    assert "Log in at http://127.0.0.1:8000/accounts/login/ with e-mail ops@example.com" in (
        out.getvalue()
    )


@pytest.mark.django_db
def test_createadmin_generates_and_prints_a_password_once_when_none_is_given() -> None:
    out = io.StringIO()
    call_command("createadmin", email="ops@example.com", generate=True, stdout=out)
    password = out.getvalue().rsplit(": ", 1)[1].strip()
    assert User.objects.get().check_password(password)


@pytest.mark.django_db
def test_createadmin_refuses_a_weak_password_and_writes_nothing() -> None:
    with pytest.raises(CommandError, match="Password rejected"):
        call_command("createadmin", email="ops@example.com", password="short")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_passwords_are_hashed_with_bcrypt(admin_user: User) -> None:
    assert admin_user.password.startswith("bcrypt_sha256$")


@pytest.mark.django_db
@override_settings(ADMIN_EMAIL="boss@example.com", ADMIN_PASSWORD="from-the-environment-1")
def test_first_start_creates_the_admin_from_the_environment() -> None:
    result = ensure_admin()
    assert result is not None and result.generated_password is None
    assert User.objects.get(email="boss@example.com").check_password("from-the-environment-1")
    assert ensure_admin() is None, "a second start must not touch the admin"


@pytest.mark.django_db
@override_settings(ADMIN_EMAIL="", ADMIN_PASSWORD="", PRODUCTION=False)
def test_a_local_first_start_generates_an_admin_password() -> None:
    result = ensure_admin()
    assert result is not None and result.generated_password
    assert User.objects.get(email=result.email).check_password(result.generated_password)


@pytest.mark.django_db
@override_settings(ADMIN_EMAIL="", ADMIN_PASSWORD="", PRODUCTION=True)
def test_production_never_invents_an_admin() -> None:
    assert ensure_admin() is None
    assert not User.objects.exists()


@pytest.mark.django_db
def test_the_admin_logs_in_with_email_and_password(admin_user: User, client: Client) -> None:
    response = client.post(
        "/accounts/login/", {"login": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert "Dashboard" in response.content.decode()


@pytest.mark.django_db
def test_a_wrong_password_shows_an_error_and_no_session(admin_user: User, client: Client) -> None:
    response = client.post("/accounts/login/", {"login": ADMIN_EMAIL, "password": "wrong"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_there_is_no_public_sign_up(client: Client) -> None:
    assert client.get("/accounts/signup/").status_code in (302, 404)
    assert client.post("/accounts/signup/", {"email": "x@example.com"}).status_code in (302, 404)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_the_admin_changes_the_password(admin_client: Client, admin_user: User) -> None:
    response = admin_client.post(
        "/accounts/password/change/",
        {"oldpassword": ADMIN_PASSWORD, "password1": "a-new-long-password-2",
         "password2": "a-new-long-password-2"},
    )  # fmt: skip
    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.check_password("a-new-long-password-2")
