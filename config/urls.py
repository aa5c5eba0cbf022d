from __future__ import annotations

from allauth.account import views as account_views
from allauth.mfa.base import views as mfa_views
from allauth.mfa.recovery_codes import views as recovery_code_views
from allauth.mfa.totp import views as totp_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView

from apps.accounts import views as accounts_views
from apps.core import views as core_views
from config.api import api


def _api_urls() -> list[URLPattern | URLResolver]:
    """Ninja authenticates its own operations (401, not a login redirect)."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback.login_required = False  # type: ignore[attr-defined]
    return patterns


# Only the allauth views a single admin needs: no sign-up, no e-mail management, no reset by
# e-mail (the operator resets the password with `manage.py createadmin`). Login and the second
# factor answer throttled attempts with 429 and Retry-After (apps/accounts/views.py).
account_urls = [
    path("", accounts_views.account_page, name="account"),
    path("login/", accounts_views.login, name="account_login"),
    path("logout/", account_views.logout, name="account_logout"),
    path("password/change/", account_views.password_change, name="account_change_password"),
    path("reauthenticate/", accounts_views.reauthenticate, name="account_reauthenticate"),
    path("inactive/", account_views.account_inactive, name="account_inactive"),
]
# The optional second factor (allauth.mfa): an authenticator app and recovery codes only.
mfa_urls = [
    # allauth sends the admin to "mfa_index" after a change: that is the Account page.
    path("", RedirectView.as_view(pattern_name="account"), name="mfa_index"),
    path("authenticate/", accounts_views.mfa_authenticate, name="mfa_authenticate"),
    path("reauthenticate/", mfa_views.reauthenticate, name="mfa_reauthenticate"),
    path("totp/activate/", totp_views.activate_totp, name="mfa_activate_totp"),
    path("totp/deactivate/", totp_views.deactivate_totp, name="mfa_deactivate_totp"),
    path("recovery-codes/", recovery_code_views.view_recovery_codes,
         name="mfa_view_recovery_codes"),
    path("recovery-codes/generate/", recovery_code_views.generate_recovery_codes,
         name="mfa_generate_recovery_codes"),
    path("recovery-codes/download/", recovery_code_views.download_recovery_codes,
         name="mfa_download_recovery_codes"),
]  # fmt: skip

# allauth answers its per-address limits with this view.
handler429 = accounts_views.too_many_requests


@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico before they read the page's icon link."""
    return HttpResponsePermanentRedirect(static("ui/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("accounts/", include(account_urls)),
    path("accounts/2fa/", include(mfa_urls)),
    path("api/v1/", include((_api_urls(), "api"), namespace="api")),
    path("connectors/", include("apps.connectors.urls")),
    path("mappings/", include("apps.mappings.urls")),
    path("sync/", include("apps.sync.urls")),
    path("", include("apps.ui.urls")),
]
