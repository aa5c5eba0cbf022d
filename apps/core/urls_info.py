from __future__ import annotations

from django.conf import settings


def login_url() -> str:
    """Where the operator logs in, for messages printed by commands."""
    return f"{settings.PUBLIC_URL.rstrip('/')}/accounts/login/"
