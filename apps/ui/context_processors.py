from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from apps.ui.navigation import navigation_items


def navigation(request: HttpRequest) -> dict[str, object]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {"app_version": settings.APP_VERSION}
    current = request.path
    items = [
        {
            "label": label,
            "url": url,
            "active": url == current or (url != "/" and current.startswith(url)),
        }
        for label, url in navigation_items()
    ]
    return {"nav_items": items, "app_version": settings.APP_VERSION}
