from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """An HttpRequest after django-htmx's middleware ran (for type checkers)."""

    htmx: HtmxDetails
