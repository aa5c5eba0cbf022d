"""Changing mappings, shared by the editor pages and the API: validate, then save or nothing."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from apps.connectors.base import Role
from apps.connectors.entry import TimeEntry
from apps.connectors.http import ExternalServiceError
from apps.connectors.models import Connection
from apps.connectors.registry import kinds_for_role
from apps.gdpr.models import Person
from apps.mappings.catalog import Catalog
from apps.mappings.engine import MappingContext, TimesheetPlan, plan_timesheet
from apps.mappings.models import ActivityMapping, MappingProfile, Rule, UserMapping
from apps.mappings.reference import (
    match_users_by_email,
    remember_agents,
    remember_groups,
    snapshot_of,
    snapshot_reference,
)
from apps.mappings.rules import (
    CONDITION_FIELDS,
    DESCRIPTION_PLACEHOLDERS,
    OUTCOME_FIELDS,
    RuleSpec,
    Template,
    analyse,
    check_tags,
    reference_errors,
    spec_of,
)


class MappingInvalid(Exception):
    """Input that cannot be saved; messages per field, nothing written."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class NotConfigured(Exception):
    """No source or no target connection: mappings have nothing to map between."""


def validation_errors(error: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for item in error.errors():
        key = str(item["loc"][0]) if item["loc"] else "general"
        message = str(item["msg"]).removeprefix("Value error, ")
        errors.setdefault(key, []).append(message)
    return errors


# -- which pair -----------------------------------------------------------------------------------
def _first(role: Role, connection_id: int | None) -> Connection | None:
    connections = Connection.objects.filter(kind__in=kinds_for_role(role)).order_by(
        "-enabled", "name"
    )
    if connection_id is not None:
        return connections.filter(pk=connection_id).first()
    return connections.first()


def current_pair(
    source_id: int | None = None, target_id: int | None = None
) -> tuple[Connection | None, Connection | None]:
    """The source and target mappings are edited for: the ones asked for, else the first
    enabled of each role by name."""
    return _first(Role.SOURCE, source_id), _first(Role.TARGET, target_id)


def profile_for(source: Connection | None, target: Connection | None) -> MappingProfile:
    if source is None or target is None:
        missing = " and ".join(
            what for what, c in (("a Zammad", source), ("a Kimai", target)) if c is None
        )
        raise NotConfigured(
            f"Add {missing} connection on the Connectors page first: mappings connect the two."
        )
    profile, _ = MappingProfile.objects.get_or_create(source=source, target=target)
    return profile


# -- rules ----------------------------------------------------------------------------------------
def parse_rule(data: dict[str, Any]) -> RuleSpec:
    try:
        return RuleSpec.model_validate(data)
    except ValidationError as error:
        raise MappingInvalid(validation_errors(error)) from None


def _checked(spec: RuleSpec, catalog: Catalog) -> RuleSpec:
    errors = reference_errors(spec, catalog)
    if errors:
        raise MappingInvalid(errors)
    return spec


def _write(rule: Rule, spec: RuleSpec) -> None:
    for name in ("name", *CONDITION_FIELDS, *OUTCOME_FIELDS):
        setattr(rule, name, getattr(spec, name))


def create_rule(profile: MappingProfile, spec: RuleSpec, catalog: Catalog) -> Rule:
    """Append a rule at the end of the table."""
    _checked(spec, catalog)
    with transaction.atomic():
        # The profile row is the lock: two rules added at once get different positions.
        MappingProfile.objects.select_for_update().filter(pk=profile.pk).first()
        last = Rule.objects.filter(profile=profile).order_by("-position").first()
        rule = Rule(profile=profile, position=(last.position if last else 0) + 1)
        _write(rule, spec)
        rule.save()
    _remember_customer_names(profile, spec)
    return rule


def update_rule(rule: Rule, spec: RuleSpec, catalog: Catalog) -> Rule:
    _checked(spec, catalog)
    _write(rule, spec)
    rule.save()
    _remember_customer_names(rule.profile, spec)
    return rule


def _remember_customer_names(profile: MappingProfile, spec: RuleSpec) -> None:
    """After the rule is saved: the names of the ticket customers it names, for reading it."""
    from apps.mappings.lookups import PreviewUnavailable, remember_customers

    if spec.customer_ids:
        with contextlib.suppress(PreviewUnavailable):
            remember_customers(profile.source, spec.customer_ids)


def patch_rule(rule: Rule, changes: dict[str, Any], catalog: Catalog) -> Rule:
    data = spec_of(rule).model_dump()
    data.update(changes)
    return update_rule(rule, parse_rule(data), catalog)


def _renumber(rules: Sequence[Rule]) -> None:
    for position, rule in enumerate(rules, start=1):
        if rule.position != position:
            rule.position = position
            rule.save(update_fields=["position"])


def move_rule(rule: Rule, offset: int) -> None:
    """Move one place up (-1) or down (+1); nothing happens at either end."""
    with transaction.atomic():
        rules = list(Rule.objects.select_for_update().filter(profile_id=rule.profile_id))
        index = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
        other = index + offset
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        _renumber(rules)


def reorder_rules(profile: MappingProfile, ids: Sequence[int]) -> list[Rule]:
    with transaction.atomic():
        rules = {r.pk: r for r in Rule.objects.select_for_update().filter(profile=profile)}
        if sorted(ids) != sorted(rules) or len(set(ids)) != len(ids):
            raise MappingInvalid(
                {"ids": [f"Send every rule id exactly once; the rules are {sorted(rules)}."]}
            )
        ordered = [rules[i] for i in ids]
        _renumber(ordered)
    return ordered


def delete_rule(rule: Rule) -> None:
    with transaction.atomic():
        profile_id = rule.profile_id
        rule.delete()
        _renumber(list(Rule.objects.select_for_update().filter(profile_id=profile_id)))


@dataclass
class RuleRow:
    rule: Rule
    position: int
    spec: RuleSpec
    findings: list[Any]


def rule_rows(profile: MappingProfile, catalog: Catalog) -> list[RuleRow]:
    rules = list(Rule.objects.filter(profile=profile))
    specs = [(rule.pk, spec_of(rule)) for rule in rules]
    findings = analyse(specs, catalog)
    return [
        RuleRow(rule, position, spec, findings[rule.pk])
        for position, (rule, (_, spec)) in enumerate(zip(rules, specs, strict=True), start=1)
    ]


# -- users ----------------------------------------------------------------------------------------
def set_user_mapping(
    source: Connection, target: Connection, agent_id: str, kimai_user_id: str | None
) -> None:
    """Map an agent by hand, or (``kimai_user_id`` None) go back to matching by e-mail."""
    agent = Person.objects.filter(
        connection=source, kind=Person.Kind.AGENT, external_id=agent_id, purged_at__isnull=True
    ).first()
    if agent is None:
        raise MappingInvalid({"agent": [f"There is no Zammad agent #{agent_id}."]})
    if kimai_user_id is None:
        UserMapping.objects.filter(agent=agent, target=target).delete()
        match_users_by_email(source, target)
        return
    user = Person.objects.filter(
        connection=target, kind=Person.Kind.TARGET_USER, external_id=kimai_user_id,
        purged_at__isnull=True,
    ).first()  # fmt: skip
    if user is None:
        raise MappingInvalid({"kimai_user": [f"There is no Kimai user #{kimai_user_id}."]})
    UserMapping.objects.update_or_create(
        agent=agent, target=target,
        defaults={"kimai_user": user, "method": UserMapping.Method.MANUAL},
    )  # fmt: skip


def set_unmapped_policy(profile: MappingProfile, policy: str, fallback_user_id: str | None) -> None:
    if policy not in MappingProfile.UnmappedPolicy.values:
        raise MappingInvalid({"unmapped_policy": ["Choose conflict or fallback."]})
    fallback = None
    if policy == MappingProfile.UnmappedPolicy.FALLBACK:
        fallback = Person.objects.filter(
            connection_id=profile.target_id, kind=Person.Kind.TARGET_USER,
            external_id=fallback_user_id or "", purged_at__isnull=True,
        ).first()  # fmt: skip
        if fallback is None:
            raise MappingInvalid(
                {
                    "fallback_user": [
                        "Choose the Kimai user who gets the entries of unmapped agents."
                    ]
                }
            )
    profile.unmapped_policy = policy
    profile.fallback_user = fallback
    profile.save(update_fields=["unmapped_policy", "fallback_user", "updated_at"])


@dataclass
class AgentRow:
    agent: Person
    kimai_user: Person | None
    method: str  # "manual", "email" or ""


def agent_rows(source: Connection, target: Connection) -> list[AgentRow]:
    mappings = {
        m.agent_id: m
        for m in UserMapping.objects.filter(target=target, agent__connection=source).select_related(
            "kimai_user"
        )
    }
    agents = Person.objects.filter(
        connection=source, kind=Person.Kind.AGENT, purged_at__isnull=True
    )
    rows = []
    for agent in agents:
        mapping = mappings.get(agent.pk)
        rows.append(
            AgentRow(
                agent, mapping.kimai_user if mapping else None, mapping.method if mapping else ""
            )
        )
    return sorted(rows, key=lambda r: (r.kimai_user is not None, r.agent.label.casefold()))


# -- activities -----------------------------------------------------------------------------------
def set_activity_mapping(
    profile: MappingProfile, type_id: str, activity_id: str | None, catalog: Catalog
) -> None:
    """Map a Zammad type ("" for none) to a Kimai activity, or (None) remove the mapping."""
    if activity_id is None or activity_id == "":
        ActivityMapping.objects.filter(profile=profile, zammad_type_id=type_id).delete()
        return
    problem = catalog.activity_problem(activity_id)
    if problem:
        raise MappingInvalid({"kimai_activity": [problem]})
    ActivityMapping.objects.update_or_create(
        profile=profile, zammad_type_id=type_id, defaults={"kimai_activity_id": activity_id}
    )


@dataclass
class ActivityRow:
    type_id: str  # "" for entries without a type
    type_name: str
    active: bool
    mapped_id: str | None
    mapped_label: str
    by_name_id: str | None
    by_name_label: str


def activity_rows(profile: MappingProfile, catalog: Catalog) -> list[ActivityRow]:
    """ "No type" first, then every Zammad type, then mappings of types Zammad no longer has."""
    zammad = snapshot_reference(snapshot_of(profile.source))
    mapped = dict(
        ActivityMapping.objects.filter(profile=profile).values_list(
            "zammad_type_id", "kimai_activity_id"
        )
    )

    def row(type_id: str, name: str, active: bool) -> ActivityRow:
        chosen = mapped.get(type_id)
        same = catalog.activity_named(name, None) if type_id else None
        return ActivityRow(
            type_id, name, active,
            chosen, catalog.activity_label(chosen) if chosen else "",
            same.id if same else None, catalog.activity_label(same.id) if same else "",
        )  # fmt: skip

    rows = [row("", "no activity type", True)]
    rows += [
        row(kind.id, kind.name, kind.visible)
        for kind in sorted(zammad.activities, key=lambda a: a.name.casefold())
    ]
    known = {r.type_id for r in rows}
    rows += [row(type_id, f"type #{type_id}", True) for type_id in mapped if type_id not in known]
    return rows


# -- settings -------------------------------------------------------------------------------------
class SettingsSpec(BaseModel):
    """Time synthesis, description and tags of one profile."""

    model_config = ConfigDict(extra="forbid")

    booking_instant: Literal["end", "start"] = "end"
    rounding_minutes: int = Field(default=0, ge=0, le=240)
    minimum_minutes: int = Field(default=0, ge=0, le=1440)
    keep_within_day: bool = Field(
        default=False,
        description="Clip the part of the work on the other side of midnight (never moved); "
        "off: the real begin and end, across midnight if need be.",
    )
    default_time_zone: str = "UTC"
    description_template: str = Field(default="#{ticket_key} {ticket_title}", max_length=500)
    fixed_tags: list[str] = Field(default_factory=list)
    billable_tags: bool = True
    billable_tag: str = "billable"
    not_billable_tag: str = "not billable"

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone, e.g. Europe/Berlin") from None
        return value.strip()

    @field_validator("description_template")
    @classmethod
    def _template(cls, value: str) -> str:
        Template.parse(value, DESCRIPTION_PLACEHOLDERS)
        return value.strip()

    @field_validator("fixed_tags")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        return check_tags(values)

    @field_validator("billable_tag", "not_billable_tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        return check_tags([value])[0] if value.strip() else ""


def update_settings(profile: MappingProfile, data: dict[str, Any]) -> MappingProfile:
    try:
        spec = SettingsSpec.model_validate(data)
    except ValidationError as error:
        raise MappingInvalid(validation_errors(error)) from None
    if spec.billable_tags and not (spec.billable_tag and spec.not_billable_tag):
        raise MappingInvalid({"billable_tag": ["Name both tags, or turn the billable tags off."]})
    if spec.billable_tags and spec.billable_tag.casefold() == spec.not_billable_tag.casefold():
        raise MappingInvalid({"not_billable_tag": ["The two billable tags must differ."]})
    for name, value in spec.model_dump().items():
        setattr(profile, name, value)
    profile.save()
    return profile


def settings_of(profile: MappingProfile) -> SettingsSpec:
    return SettingsSpec.model_validate(
        {name: getattr(profile, name) for name in SettingsSpec.model_fields}
    )


# -- preview --------------------------------------------------------------------------------------
@dataclass
class Preview:
    plans: list[tuple[TimeEntry, TimesheetPlan]]
    note: str = ""
    reference_fetched_at: datetime | None = None


def plan_entries(
    source: Connection, target: Connection, entries: Sequence[TimeEntry], facts: dict[str, Any]
) -> Preview:
    context = MappingContext.load(source, target)
    context.remember_tickets(facts.values())
    plans = [(entry, plan_timesheet(entry, context)) for entry in entries]
    return Preview(plans, reference_fetched_at=context.reference_fetched_at)


def preview_from_zammad(
    source: Connection | None, target: Connection | None, *, ticket_number: str = "",
    accounting_id: str = "",
) -> Preview:  # fmt: skip
    """Fetch entries from Zammad and plan them; raises PreviewUnavailable or NotConfigured."""
    from apps.mappings.lookups import read_preview_input

    profile = profile_for(source, target)
    needs_tags = Rule.objects.filter(profile=profile).exclude(tag_pattern="").exists()
    found = read_preview_input(
        source, ticket_number=ticket_number, accounting_id=accounting_id, with_tags=needs_tags
    )
    assert source is not None and target is not None
    remember_agents(source, [e.agent for e in found.entries if e.agent is not None])
    match_users_by_email(source, target)
    remember_groups(source, found.groups)
    preview = plan_entries(source, target, found.entries, found.facts)
    return dataclasses.replace(preview, note=found.note)


def refresh_pair(source: Connection | None, target: Connection | None) -> tuple[int, list[str]]:
    """Refresh both snapshots and find recent agents: (agents found, error messages)."""
    from apps.mappings.reference import discover_agents, refresh_reference

    errors = []
    for connection in (target, source):
        if connection is not None:
            snapshot = refresh_reference(connection)
            if snapshot.last_error:
                errors.append(f"{connection.name}: {snapshot.last_error}")
    found = 0
    if source is not None:
        try:
            found = discover_agents(source)
        except ExternalServiceError as error:
            errors.append(f"{source.name}: {error.message}")
        if target is not None:
            match_users_by_email(source, target)
    return found, errors
