from __future__ import annotations

from django.conf import settings

LOCAL_ADDRESS = "http://127.0.0.1:8000"


def public_base(fallback: str | None = None) -> str:
    """Where people reach the service: PUBLIC_URL, else ``fallback`` (the address `run` binds,
    or the one the browser used), else the local default."""
    return (settings.PUBLIC_URL or fallback or LOCAL_ADDRESS).rstrip("/")


def login_url(fallback: str | None = None) -> str:
    """Where the operator logs in, for messages printed by commands."""
    return f"{public_base(fallback)}/accounts/login/"
