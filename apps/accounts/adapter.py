from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.http import HttpRequest

from apps.accounts import throttle


def _typed_login(credentials: dict[str, Any]) -> str:
    return str(credentials.get("email") or credentials.get("username") or "")


class SingleAdminAccountAdapter(DefaultAccountAdapter):
    """V1 has one admin, created by `manage.py createadmin` or on first start: no sign-up.

    Failed logins are counted per account *and* source (apps/accounts/throttle.py), logged and
    audited.
    """

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        return throttle.account_and_source_key(request, _typed_login(credentials))

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except forms.ValidationError:
            login = _typed_login(credentials)
            key = self._get_login_attempts_cache_key(request, **credentials)
            retry_after = throttle.retry_after_seconds(request, throttle.LOGIN_FAILED, key)
            request.login_retry_after = retry_after  # type: ignore[attr-defined]
            throttle.record_login_throttled(request, login, retry_after)
            raise

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        throttle.record_login_failed(request, _typed_login(credentials))
