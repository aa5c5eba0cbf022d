"""Creating the single admin user, shared by `createadmin`, `bootstrap` and `run`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from apps.accounts import throttle
from apps.core import audit

DEFAULT_LOCAL_ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class AdminResult:
    email: str
    created: bool
    generated_password: str | None = None


def _check(email: str, password: str) -> None:
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError(f"{email!r} is not a valid e-mail address") from None
    try:
        validate_password(password)
    except ValidationError as exc:
        raise ValueError("Password rejected: " + " ".join(exc.messages)) from None


@transaction.atomic
def set_admin(email: str, password: str, *, disable_2fa: bool = False) -> AdminResult:
    """Create the admin, or reset the password if a user with this e-mail exists.

    Also clears the account's failed-login counters from every source, so the operator can
    always get back in. With `disable_2fa`, its authenticator app and recovery codes are
    removed too (audited).
    """
    email = email.strip().lower()
    _check(email, password)
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if user is None:
        user = User(username=email, email=email, is_staff=True, is_superuser=True)
    user.set_password(password)
    user.is_active = True
    user.save()
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    if disable_2fa:
        removed, _ = Authenticator.objects.filter(user=user).delete()
        if removed:
            audit.record(audit.SYSTEM, "account.2fa_disabled", "account", user.pk,
                         after={"by": "createadmin"})  # fmt: skip
    throttle.unlock_account(email)
    return AdminResult(email=email, created=created)


def ensure_admin() -> AdminResult | None:
    """On first start: create the admin from ADMIN_EMAIL/ADMIN_PASSWORD, or (locally) generate one.

    Returns None when an admin already exists or nothing can be done (production without
    ADMIN_EMAIL/ADMIN_PASSWORD: the operator runs `manage.py createadmin`).
    """
    User = get_user_model()
    if User.objects.filter(is_superuser=True, is_active=True).exists():
        return None
    email, password = settings.ADMIN_EMAIL, settings.ADMIN_PASSWORD
    if email and password:
        return set_admin(email, password)
    if settings.PRODUCTION:
        return None
    generated = secrets.token_urlsafe(12)
    result = set_admin(email or DEFAULT_LOCAL_ADMIN_EMAIL, generated)
    return AdminResult(email=result.email, created=True, generated_password=generated)
