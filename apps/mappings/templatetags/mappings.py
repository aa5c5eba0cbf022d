"""Template helpers of the mapping pages, and the settings panel shown on the Settings page."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import QueryDict

from apps.mappings.timebox import format_seconds

register = template.Library()

PROBLEM_LABELS = {
    "unmapped_user": "No Kimai user",
    "unmapped_activity": "No Kimai activity",
    "no_matching_rule": "No rule matches",
    "broken_rule": "Broken rule",
    "broken_mapping": "Broken mapping",
    "invalid_activity": "Activity not allowed on the project",
    "missing_ticket_details": "Ticket details missing",
    "no_customer": "No customer",
    "hidden_record": "Hidden in Kimai",
}


FINDING_LABELS = {"unreachable": "never used", "overlap": "overlaps", "broken": "broken"}


@register.filter
def finding_label(kind: str) -> str:
    return FINDING_LABELS.get(kind, kind)


@register.filter
def duration(seconds: int) -> str:
    return format_seconds(int(seconds))


@register.filter
def problem_label(kind: str) -> str:
    return PROBLEM_LABELS.get(kind, kind)


@register.inclusion_tag("mappings/settings.html#settings-panel", takes_context=True)
def mapping_settings(context: template.Context) -> dict[str, Any]:
    """The mapping settings for the Settings page, which another app renders."""
    from apps.mappings.pages import Pair, settings_context

    return {"csrf_token": context.get("csrf_token"), **settings_context(Pair.load(QueryDict()))}
