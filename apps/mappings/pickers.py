"""Rule conditions chosen by name: checkbox lists with a search box, no Ctrl-click.

Organizations, work types, groups and projects come from the source's cached reference data and
are filtered here; ticket customers are searched in Zammad as the admin types, and the ones a
rule names are shown by the name kept for them. What is ticked always stays shown, first.
Only the conditions on facts the pair's source provides are offered, in its words
(``SourceConnector.facts`` and ``fact_labels``, apps/connectors/facts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from apps.connectors.base import SourceConnector
from apps.connectors.facts import Fact
from apps.connectors.registry import UnknownConnectorKind, connector_class
from apps.gdpr.models import Person
from apps.mappings.lookups import PreviewUnavailable, search_customers

# kind → (form field, label, search placeholder)
KINDS: dict[str, tuple[str, str, str]] = {
    "organizations": ("organization_ids", "Zammad organization", "Find an organization"),
    "types": ("activity_type_ids", "Zammad activity type", "Find an activity type"),
    "groups": ("group_ids", "Zammad group", "Find a group"),
    "customers": ("customer_ids", "Ticket customer", "Search by name or e-mail"),
    "projects": ("project_ids", "Project", "Find a project"),
}
KIND_FACTS = {
    "organizations": Fact.ORGANIZATION,
    "types": Fact.WORK_TYPE,
    "groups": Fact.GROUP,
    "customers": Fact.CUSTOMER,
    "projects": Fact.PROJECT,
}
# Without a source connection yet, the editor offers what a Zammad source has.
DEFAULT_FACTS = frozenset(Fact) - {Fact.PROJECT}
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


def source_facts(source: Any) -> tuple[frozenset[Fact], dict[Fact, str]]:
    """The facts the source connection's kind provides and what it calls them; a kind that is
    not installed offers the entry's own facts only."""
    if source is None:
        return DEFAULT_FACTS, {}
    try:
        cls = connector_class(source.kind)
    except UnknownConnectorKind:
        return frozenset({Fact.ORGANIZATION, Fact.WORK_TYPE, Fact.TICKET}), {}
    if not issubclass(cls, SourceConnector):
        return frozenset(), {}
    return cls.facts, dict(cls.fact_labels)


def build_picker(
    kind: str, chosen: list[str], query: str, zammad: dict[str, list[tuple[str, str]]], source: Any
) -> Picker:
    field_name, label, placeholder = KINDS[kind]
    label = source_facts(source)[1].get(KIND_FACTS[kind], label)
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
    """One picker per condition the source provides (and any other the rule already uses),
    ticked as the rule (or the submitted form) says."""
    facts = source_facts(source)[0]
    return {
        kind: build_picker(kind, [str(v) for v in values.get(field_name) or []], "", zammad, source)
        for kind, (field_name, _label, _placeholder) in KINDS.items()
        if KIND_FACTS[kind] in facts or values.get(field_name)
    }


def pattern_labels(source: Any, values: dict[str, Any]) -> dict[str, str]:
    """The pattern conditions the source provides: {"title": label, "tag": label}."""
    facts, labels = source_facts(source)
    shown = {}
    if Fact.TICKET in facts or values.get("title_pattern"):
        shown["title"] = f"{labels.get(Fact.TICKET, 'Ticket title')} matches"
    if Fact.TAGS in facts or values.get("tag_pattern"):
        shown["tag"] = f"{labels.get(Fact.TAGS, 'A ticket tag')} matches"
    return shown
