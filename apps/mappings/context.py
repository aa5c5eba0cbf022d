"""Everything planning needs, loaded once per run: rules, reference data, mappings, settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apps.connectors.base import ReferenceData
from apps.connectors.facts import TicketFacts
from apps.mappings.catalog import Catalog
from apps.mappings.matching import CompiledRule
from apps.mappings.rules import (
    DESCRIPTION_PLACEHOLDERS,
    ENTRY_PLACEHOLDERS,
    TICKET_FACT_PLACEHOLDERS,
    Template,
    spec_of,
)
from apps.mappings.timebox import TimeSettings

if TYPE_CHECKING:
    from apps.connectors.models import Connection
    from apps.mappings.models import MappingProfile, Rule


@dataclass(frozen=True, slots=True)
class KimaiUserInfo:
    id: str
    label: str
    zone: ZoneInfo | None
    zone_name: str


@dataclass
class MappingContext:
    """Everything :func:`plan_timesheet` needs, loaded once."""

    source_id: int | None
    target_id: int | None
    catalog: Catalog
    rules: tuple[CompiledRule, ...] = ()
    time: TimeSettings = field(default_factory=TimeSettings)
    default_zone_name: str = "UTC"
    description: Template = field(
        default_factory=lambda: Template.parse("", DESCRIPTION_PLACEHOLDERS)
    )
    fixed_tags: tuple[str, ...] = ()
    billable_tags: tuple[str, str] | None = ("billable", "not billable")
    fallback_user_id: str | None = None
    user_mappings: dict[str, tuple[str, str]] = field(default_factory=dict)  # agent → (user, how)
    activity_mappings: dict[str, str] = field(default_factory=dict)  # type id ("" none) → id
    links: dict[tuple[str, str], str] = field(default_factory=dict)
    tickets: dict[str, TicketFacts] = field(default_factory=dict)
    reference_fetched_at: datetime | None = None
    # Timesheets never end after this instant (None: no limit, for tests of pure planning).
    now: datetime | None = None
    kimai_users: dict[str, KimaiUserInfo] = field(default_factory=dict)
    # Decisions that depend only on a few inputs (the agent, the rule and the organization...)
    # are made once per run and reused: most of 100,000 entries share them.
    memo: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.default_zone = _zone(self.default_zone_name) or ZoneInfo("UTC")
        self.time_from_begin = dataclasses.replace(self.time, instant="start")
        # A description naming nothing of the entry's own is the same for all of a ticket's
        # entries, and planning renders it once per ticket.
        self.description_is_shared = not self.description.names & ENTRY_PLACEHOLDERS
        self.kimai_users = {
            user.id: KimaiUserInfo(
                user.id,
                user.name or user.username or f"#{user.id}",
                _zone(user.timezone),
                user.timezone or "",
            )
            for user in self.catalog.users.values()
        }

    @property
    def needs_ticket_details(self) -> bool:
        """Whether some rule (or the description) asks for the group, customer, project or
        tags of tickets."""
        wanted = any(r.groups or r.customers or r.projects or r.tag for r in self.rules)
        return wanted or bool(self.description.names & TICKET_FACT_PLACEHOLDERS)

    @property
    def needs_ticket_tags(self) -> bool:
        return any(r.tag for r in self.rules) or "tags" in self.description.names

    def remember_tickets(self, facts: Iterable[TicketFacts]) -> None:
        for item in facts:
            self.tickets[item.ticket_id] = item

    @classmethod
    def load(
        cls, source: Connection, target: Connection, reference: ReferenceData | None = None
    ) -> MappingContext:
        """Seven queries at most, however many rules, people and mappings there are."""
        from apps.mappings.reference import load_context_rows

        rows = load_context_rows(source, target, reference)
        context = cls.from_rows(
            rows.profile, rows.rules, rows.reference, rows.user_mappings, rows.activity_mappings,
            rows.links, rows.fetched_at,
        )  # fmt: skip
        context.now = datetime.now(UTC)
        return context

    @classmethod
    def from_rows(
        cls,
        profile: MappingProfile,
        rules: Iterable[Rule],
        reference: ReferenceData,
        user_mappings: dict[str, tuple[str, str]],
        activity_mappings: dict[str, str],
        links: dict[tuple[str, str], str],
        fetched_at: datetime | None,
    ) -> MappingContext:
        compiled = tuple(
            CompiledRule.build(rule.pk, position, spec_of(rule))
            for position, rule in enumerate(rules, start=1)
        )
        return cls(
            source_id=profile.source_id,
            target_id=profile.target_id,
            catalog=Catalog.build(reference),
            rules=compiled,
            time=TimeSettings(
                instant="start" if profile.booking_instant == "start" else "end",
                rounding_minutes=profile.rounding_minutes,
                minimum_minutes=profile.minimum_minutes,
                one_day=profile.keep_within_day,
            ),
            default_zone_name=profile.default_time_zone,
            description=Template.parse(profile.description_template, DESCRIPTION_PLACEHOLDERS),
            fixed_tags=tuple(profile.fixed_tags or ()),
            billable_tags=(profile.billable_tag, profile.not_billable_tag)
            if profile.billable_tags
            else None,
            fallback_user_id=profile.fallback_user.external_id if profile.fallback_user else None,
            user_mappings=user_mappings,
            activity_mappings=activity_mappings,
            links=links,
            reference_fetched_at=fetched_at,
        )


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
