"""Rule conditions chosen by name: checkbox lists with a search box, no Ctrl-click.

Organizations, activity types and groups come from the cached Zammad data and are filtered
here; ticket customers are searched in Zammad as the admin types, and the ones a rule names
are shown by the name kept for them. What is ticked always stays shown, first.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from apps.gdpr.models import Person
from apps.mappings.lookups import PreviewUnavailable, search_customers

# kind → (form field, label, search placeholder)
KINDS: dict[str, tuple[str, str, str]] = {
    "organizations": ("organization_ids", "Zammad organization", "Find an organization"),
    "types": ("activity_type_ids", "Zammad activity type", "Find an activity type"),
    "groups": ("group_ids", "Zammad group", "Find a group"),
    "customers": ("customer_ids", "Ticket customer", "Search by name or e-mail"),
}
SHOWN = 12  # options listed before a search narrows them


@dataclass(frozen=True)
class Picker:
    kind: str
    field: str
    label: str
    placeholder: str
    query: str
    options: list[tuple[str, str, bool]]  # (id, label, ticked)
    more: int = 0
    notes: list[str] = dataclass_field(default_factory=list)


def _customer_names(source: Any, ids: list[str]) -> dict[str, str]:
    if source is None or not ids:
        return {}
    people = Person.objects.filter(connection=source, external_id__in=ids)
    return {p.external_id: f"{p.label} ({p.email})" if p.email else p.label for p in people}


def build_picker(
    kind: str, chosen: list[str], query: str, zammad: dict[str, list[tuple[str, str]]], source: Any
) -> Picker:
    field_name, label, placeholder = KINDS[kind]
    query = query.strip()[:100]
    notes: list[str] = []
    if kind == "customers":
        names = _customer_names(source, chosen)
        ticked = [(i, names.get(i, f"customer #{i}"), True) for i in chosen]
        try:
            found = search_customers(source, query) if query else []
        except PreviewUnavailable as unavailable:
            found, notes = [], [str(unavailable)]
        rest = [(i, name, False) for i, name in found if i not in chosen]
        if query and not found and not notes:
            notes.append(f"No Zammad user matches “{query}”.")
        if not query:
            notes.append("Type two letters or more of a name or e-mail address.")
        return Picker(kind, field_name, label, placeholder, query, ticked + rest, 0, notes)
    choices = zammad.get(kind, [])
    names = dict(choices)
    ticked = [(i, names.get(i, f"#{i}"), True) for i in chosen]
    needle = query.casefold()
    matching = [
        (i, name, False) for i, name in choices if i not in chosen and needle in name.casefold()
    ]
    shown = matching if query else matching[: max(SHOWN - len(ticked), 0)]
    if not choices and kind == "groups":
        notes.append("No groups known yet: “Refresh from Zammad and Kimai” lists them.")
    return Picker(
        kind,
        field_name,
        label,
        placeholder,
        query,
        ticked + shown,
        len(matching) - len(shown),
        notes,
    )


def rule_pickers(values: dict[str, Any], zammad: dict[str, Any], source: Any) -> dict[str, Picker]:
    """One picker per condition, ticked as the rule (or the submitted form) says."""
    return {
        kind: build_picker(kind, [str(v) for v in values.get(field_name) or []], "", zammad, source)
        for kind, (field_name, _label, _placeholder) in KINDS.items()
    }
