"""The second factor's life in the audit trail and the security log (allauth.mfa signals)."""

from __future__ import annotations

from typing import Any

from allauth.mfa import signals
from allauth.mfa.models import Authenticator
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest

from apps.accounts import throttle
from apps.core import audit


def _audit_change(action: str, user: AbstractBaseUser, authenticator: Authenticator) -> None:
    audit.record(f"admin:{user.pk}", action, "account", user.pk,
                 after={"authenticator": authenticator.type})  # fmt: skip


def on_authenticator_added(
    sender: object, request: HttpRequest, user: AbstractBaseUser, authenticator: Authenticator,
    **kwargs: Any,
) -> None:  # fmt: skip
    _audit_change("account.2fa_added", user, authenticator)


def on_authenticator_removed(
    sender: object, request: HttpRequest, user: AbstractBaseUser, authenticator: Authenticator,
    **kwargs: Any,
) -> None:  # fmt: skip
    _audit_change("account.2fa_removed", user, authenticator)


def on_authenticator_reset(
    sender: object, request: HttpRequest, user: AbstractBaseUser, authenticator: Authenticator,
    **kwargs: Any,
) -> None:  # fmt: skip
    _audit_change("account.2fa_codes_renewed", user, authenticator)


def on_authentication_failed(
    sender: object, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any
) -> None:
    throttle.record_code_failed(request, user.pk)


def connect() -> None:
    signals.authenticator_added.connect(on_authenticator_added)
    signals.authenticator_removed.connect(on_authenticator_removed)
    signals.authenticator_reset.connect(on_authenticator_reset)
    signals.authentication_failed.connect(on_authentication_failed)
