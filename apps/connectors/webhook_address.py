"""The address Zammad must call for webhooks, and what is wrong with it, in words.

Zammad sends webhooks from its own server: an address only this machine knows (loopback) never
arrives, and a plain-http one carries the signature and ticket data unencrypted. The page shows
the URL to paste from ``PUBLIC_URL``, or, when that is unset, the address the browser used,
with each warning that applies.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

WEBHOOK_PATH = "/api/v1/webhooks/zammad"


@dataclass(frozen=True)
class WebhookAddress:
    url: str
    https: bool
    from_setting: bool  # PUBLIC_URL is set
    warnings: list[str] = field(default_factory=list)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_address(browser_base: str | None = None) -> WebhookAddress:
    """The webhook URL from PUBLIC_URL (else ``browser_base``), with its warnings."""
    base = settings.PUBLIC_URL or (browser_base or "http://127.0.0.1:8000").rstrip("/")
    parts = urlsplit(base)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    warnings = []
    if not settings.PUBLIC_URL:
        warnings.append(
            "PUBLIC_URL is not set, so this is the address your browser used. Set PUBLIC_URL "
            "to the address Zammad reaches this service at (for example "
            "https://sync.example.com) and restart."
        )
    if _is_loopback(host):
        warnings.append(
            f"{host} is a loopback address: it means “this machine” to whoever uses it, so "
            "Zammad's server (or container) would call itself and the webhook never arrives. "
            "Use an address Zammad can reach."
        )
    if not https:
        warnings.append(
            "This is a plain http address: the signature and the ticket data Zammad sends "
            "travel unencrypted. Put the service behind https (a TLS proxy) and use that "
            "address."
        )
    return WebhookAddress(f"{base}{WEBHOOK_PATH}", https, bool(settings.PUBLIC_URL), warnings)
