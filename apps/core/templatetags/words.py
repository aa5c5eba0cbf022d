"""Template filters that say times the way people do: "just now", not "0 minutes ago"."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

register = template.Library()


@register.filter
def ago(moment: datetime | None) -> str:
    """``3 minutes ago``; under a minute, ``just now``."""
    if moment is None:
        return ""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def from_now(moment: datetime | None) -> str:
    """``in 2 hours``; under a minute (or past, still waiting), ``any moment now``."""
    if moment is None:
        return ""
    if (moment - timezone.now()).total_seconds() < 60:
        return "any moment now"
    return f"in {timeuntil(moment)}"
