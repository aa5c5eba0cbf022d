"""Rule conditions, compiled once per run, against one entry (and its ticket's facts)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from apps.connectors.entry import TimeEntry
from apps.connectors.facts import TicketFacts
from apps.mappings.rules import (
    DEFAULT_PROJECT_NAMES,
    NONE,
    PROJECT_NAME_PLACEHOLDERS,
    RuleSpec,
    Template,
    compile_pattern,
)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    position: int
    label: str
    spec: RuleSpec
    organizations: frozenset[str] | None
    customers: frozenset[str] | None
    groups: frozenset[str] | None
    projects: frozenset[str] | None
    types: frozenset[str] | None
    title: re.Pattern[str] | None
    tag: re.Pattern[str] | None
    project_name: Template | None

    @classmethod
    def build(cls, rule_id: int, position: int, spec: RuleSpec) -> CompiledRule:
        def ids(values: list[str]) -> frozenset[str] | None:
            return frozenset(values) or None

        template = spec.project_name_template or DEFAULT_PROJECT_NAMES.get(spec.project_mode)
        return cls(
            id=rule_id,
            position=position,
            label=f"Rule {position} “{spec.name}”" if spec.name else f"Rule {position}",
            spec=spec,
            organizations=ids(spec.organization_ids),
            customers=ids(spec.customer_ids),
            groups=ids(spec.group_ids),
            projects=ids(spec.project_ids),
            types=ids(spec.activity_type_ids),
            title=compile_pattern(spec.title_pattern),
            tag=compile_pattern(spec.tag_pattern),
            project_name=Template.parse(template, PROJECT_NAME_PLACEHOLDERS) if template else None,
        )

    def match(self, entry: TimeEntry, facts: TicketFacts | None) -> bool | str:
        """True, False, or the name of the ticket detail needed to decide."""
        if self.organizations is not None:
            org = entry.organization.id if entry.organization else NONE
            if org not in self.organizations:
                return False
        if self.types is not None:
            kind = entry.activity.id if entry.activity else NONE
            if kind not in self.types:
                return False
        if self.title is not None:
            title = entry.ticket.title if entry.ticket and entry.ticket.title else ""
            if not self.title.search(title):
                return False
        if self.groups is not None:
            groups = facts.groups if facts is not None else None
            if groups is None:
                return "group"
            if self.groups.isdisjoint(groups):
                return False
        if self.projects is not None:
            if facts is None or facts.project_id is None:
                return "project"
            if facts.project_id not in self.projects:
                return False
        if self.customers is not None:
            if facts is None or facts.customer_id is None:
                return "customer"
            if facts.customer_id not in self.customers:
                return False
        if self.tag is not None:
            if facts is None or facts.tags is None:
                return "tags"
            if not any(self.tag.search(tag) for tag in facts.tags):
                return False
        return True

    def why(self, entry: TimeEntry, facts: TicketFacts | None) -> str:
        """The conditions that held, in plain words (only called for the winning rule)."""
        held = []
        if self.organizations is not None:
            held.append(
                f"organization {organization_words(entry)}"
                if entry.organization
                else "no organization"
            )
        if self.types is not None:
            held.append(
                f"activity type {activity_type_words(entry)}"
                if entry.activity
                else "no activity type"
            )
        if self.title is not None:
            held.append(f"title matches /{self.spec.title_pattern}/")
        if self.groups is not None and facts is not None:
            held.append(f"group {group_words(facts, self.groups)}")
        if self.projects is not None and facts is not None:
            held.append(f"project {facts.project_name or '#' + str(facts.project_id)}")
        if self.customers is not None and facts is not None:
            held.append(f"ticket customer #{facts.customer_id}")
        if self.tag is not None:
            held.append(f"a tag matches /{self.spec.tag_pattern}/")
        if not held:
            return f"{self.label} has no conditions, so it takes every entry that reaches it."
        return f"{self.label} is the first rule that matches: {', '.join(held)}."


def organization_words(entry: TimeEntry) -> str:
    org = entry.organization
    if org is None:
        return "none"
    return f"“{org.name}”" if org.name else f"#{org.id}"


def activity_type_words(entry: TimeEntry) -> str:
    kind = entry.activity
    if kind is None:
        return "none"
    return f"“{kind.name}” (#{kind.id})" if kind.name else f"#{kind.id}"


def group_words(facts: TicketFacts, wanted: frozenset[str]) -> str:
    """The ticket's group the rule named, by name when the source said it."""
    ids = facts.groups or ()
    names = dict(zip(facts.group_ids or (), facts.group_names, strict=False))
    if facts.group_id is not None and facts.group_name:
        names[facts.group_id] = facts.group_name
    group_id = next((i for i in ids if i in wanted), ids[0] if ids else "")
    return names.get(group_id) or f"#{group_id}"


def ticket_words(entry: TimeEntry) -> str:
    ticket = entry.ticket
    if ticket is None:
        return "the ticket"
    return f"ticket #{ticket.number}" if ticket.number else f"ticket id {ticket.id}"
