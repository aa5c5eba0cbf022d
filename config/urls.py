from __future__ import annotations

from allauth.account import views as account_views
from django.urls import URLPattern, URLResolver, include, path

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
# e-mail (the operator resets the password with `manage.py createadmin`).
account_urls = [
    path("login/", account_views.login, name="account_login"),
    path("logout/", account_views.logout, name="account_logout"),
    path("password/change/", account_views.password_change, name="account_change_password"),
    path("reauthenticate/", account_views.reauthenticate, name="account_reauthenticate"),
    path("inactive/", account_views.account_inactive, name="account_inactive"),
]

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("accounts/", include(account_urls)),
    path("api/v1/", include((_api_urls(), "api"), namespace="api")),
    path("connectors/", include("apps.connectors.urls")),
    path("mappings/", include("apps.mappings.urls")),
    path("sync/", include("apps.sync.urls")),
    path("", include("apps.ui.urls")),
]
