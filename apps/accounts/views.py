"""allauth's login views, answering a throttled attempt with 429 and when to try again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from allauth.account import views as account_views
from allauth.mfa.base import views as mfa_views
from allauth.mfa.models import Authenticator
from django import forms
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from apps.accounts import throttle

THROTTLED = "too_many_login_attempts"
# The allauth action whose per-address limit guards each view (ACCOUNT_RATE_LIMITS).
ACTION_OF_VIEW = {
    "account_login": "login",
    "account_reauthenticate": "reauthenticate",
    "account_change_password": "change_password",
}


def _is_throttled(form: forms.Form | None) -> bool:
    if form is None or not form.is_bound:
        return False
    return any(error.code == THROTTLED for errors in form.errors.as_data().values()
               for error in errors)  # fmt: skip


def answer_throttled(response: HttpResponse, retry_after: int) -> HttpResponse:
    """Turn a page into a 429 that says when to try again (header and words on the page)."""
    response.status_code = 429
    response["Retry-After"] = str(retry_after)
    if isinstance(response, TemplateResponse) and response.context_data is not None:
        response.context_data["retry_after"] = retry_after
        response.context_data["retry_at"] = timezone.now() + timedelta(seconds=retry_after)
    return response


class ThrottledAs429:
    """Mixin for allauth's form views: a throttled form is a 429 with Retry-After."""

    request: HttpRequest

    def form_invalid(self, form: forms.Form) -> HttpResponse:
        response: HttpResponse = super().form_invalid(form)  # type: ignore[misc]
        if _is_throttled(form):
            # The account adapter has measured and recorded a throttled password already.
            retry_after = getattr(self.request, "login_retry_after", None)
            if retry_after is None:
                retry_after = max(self.throttled_retry_after(), 1)
                self.record_throttled(retry_after)
            return answer_throttled(response, retry_after)
        return response

    def throttled_retry_after(self) -> int:
        return 60

    def record_throttled(self, retry_after: int) -> None:
        """Log and audit a throttled attempt the account adapter did not see."""


class LoginView(ThrottledAs429, account_views.LoginView):
    pass


class ReauthenticateView(ThrottledAs429, account_views.ReauthenticateView):
    pass


class MfaAuthenticateView(ThrottledAs429, mfa_views.AuthenticateView):
    def throttled_retry_after(self) -> int:
        # allauth.mfa counts wrong codes per user (mfa/base/internal/flows.py).
        key = f"mfa-auth-user-{self.stage.login.user.pk}"
        return throttle.retry_after_seconds(self.request, throttle.LOGIN_FAILED, key)

    def record_throttled(self, retry_after: int) -> None:
        throttle.record_code_throttled(self.request, self.stage.login.user.pk, retry_after)


login = LoginView.as_view()
reauthenticate = ReauthenticateView.as_view()
mfa_authenticate = MfaAuthenticateView.as_view()


@login_not_required
def too_many_requests(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """allauth's 429 for its per-address limits (ROOT_URLCONF.handler429), with Retry-After."""
    match = request.resolver_match
    action = ACTION_OF_VIEW.get(match.url_name or "") if match else None
    retry_after = throttle.retry_after_seconds(request, action) if action else 0
    response = TemplateResponse(request, "429.html", status=429)
    return answer_throttled(response, max(retry_after, 60 if action is None else 1))


def account_page(request: HttpRequest) -> HttpResponse:
    """The admin's account: e-mail, password and the optional second factor."""
    authenticators = {a.type: a for a in Authenticator.objects.filter(user_id=request.user.pk)}
    recovery = authenticators.get(Authenticator.Type.RECOVERY_CODES)
    context = {
        "totp": authenticators.get(Authenticator.Type.TOTP),
        "recovery_codes_left": len(recovery.wrap().get_unused_codes()) if recovery else 0,
    }
    return TemplateResponse(request, "account/account.html", context)
