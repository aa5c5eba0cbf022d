from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from apps.ui.navigation import navigation_items


def navigation(request: HttpRequest) -> dict[str, object]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {"app_version": settings.APP_VERSION}
    current = request.path
    entries = navigation_items()
    # The longest matching prefix wins: /sync/conflicts/ is Conflicts, not Sync as well.
    matching = [
        url for _label, url in entries if url == current or (url != "/" and current.startswith(url))
    ]
    active = max(matching, key=len) if matching else None
    items = [{"label": label, "url": url, "active": url == active} for label, url in entries]
    return {"nav_items": items, "app_version": settings.APP_VERSION}
