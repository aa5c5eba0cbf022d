"""The two ways to call the API: an API key (Bearer) or the admin's session with CSRF."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja.security import HttpBearer, SessionAuth

from apps.accounts.models import ApiKey


class ApiKeyAuth(HttpBearer):
    openapi_description = "An API key created with `manage.py create_api_key NAME` or in Settings."

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = ApiKey.authenticate(token)
        if key is not None:
            request.api_key = key  # type: ignore[attr-defined]
            from apps.core import audit

            # Reset by AuditActorMiddleware when the request ends.
            audit.act_as(audit.actor_of_request(request))
        return key


class AdminSessionAuth(SessionAuth):
    """The logged-in admin's session; unsafe methods also need the CSRF token (X-CSRFToken)."""

    openapi_description = "The admin's browser session; send X-CSRFToken on unsafe methods."

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        if user is not None and user.is_active and user.is_superuser:
            return user
        return None


def actor_of(request: HttpRequest) -> str:
    """How audit events name whoever made this API call."""
    key = getattr(request, "api_key", None)
    if key is not None:
        return f"api-key:{key.prefix}"
    return f"admin:{request.user.pk}"


API_AUTH = [ApiKeyAuth(), AdminSessionAuth(csrf=True)]


def require_admin_or_api_key(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Guard for the OpenAPI document and docs page: the admin's session or an API key."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_superuser:
            return view(request, *args, **kwargs)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and ApiKey.authenticate(token.strip()) is not None:
            return view(request, *args, **kwargs)
        if request.path.endswith(".json"):
            return JsonResponse(
                {"detail": "Authentication required: send `Authorization: Bearer <API key>`."},
                status=401,
            )
        return redirect_to_login(request.get_full_path())

    return guarded
