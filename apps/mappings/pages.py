"""What the mapping pages show: context builders, so the views stay a few lines each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.http import QueryDict

from apps.connectors.base import Role
from apps.connectors.models import Connection
from apps.connectors.registry import kinds_for_role
from apps.gdpr.models import Person
from apps.mappings.catalog import Catalog
from apps.mappings.engine import TimesheetPlan
from apps.mappings.models import MappingProfile, ReferenceSnapshot, Rule
from apps.mappings.pickers import pattern_labels, rule_pickers
from apps.mappings.reference import kimai_reference, snapshot_of, snapshot_reference
from apps.mappings.rules import DEFAULT_PROJECT_NAMES, RuleSpec
from apps.mappings.services import (
    NotConfigured,
    Preview,
    activity_rows,
    agent_rows,
    current_pair,
    profile_for,
    rule_rows,
    settings_of,
    spec_of,
)

FIELD_ORDER = (
    ("user", "User"),
    ("customer", "Customer"),
    ("project", "Project"),
    ("activity", "Activity"),
    ("begin", "Begin"),
    ("end", "End"),
    ("duration", "Duration"),
    ("billable", "Billable"),
    ("tags", "Tags"),
    ("description", "Description"),
)


def _id(params: QueryDict, name: str) -> int | None:
    value = params.get(name, "")
    return int(value) if value.isdigit() else None


@dataclass
class Pair:
    """The source and target being mapped, with what the pages need of them."""

    source: Connection | None
    target: Connection | None
    profile: MappingProfile | None = None
    problem: str = ""
    catalog: Catalog = field(default_factory=Catalog)
    kimai_snapshot: ReferenceSnapshot | None = None
    zammad_snapshot: ReferenceSnapshot | None = None

    @classmethod
    def load(cls, params: QueryDict) -> Pair:
        source, target = current_pair(_id(params, "source"), _id(params, "target"))
        pair = cls(source, target)
        try:
            pair.profile = profile_for(source, target)
        except NotConfigured as missing:
            pair.problem = str(missing)
            return pair
        assert target is not None and source is not None
        reference, pair.kimai_snapshot = kimai_reference(target)
        pair.catalog = Catalog.build(reference)
        pair.zammad_snapshot = snapshot_of(source)
        return pair

    @property
    def query(self) -> str:
        """``source=1&target=2``, carried by every link and form of the mapping pages."""
        if self.source is None or self.target is None:
            return ""
        return urlencode({"source": self.source.pk, "target": self.target.pk})

    def context(self, **extra: Any) -> dict[str, Any]:
        sources = Connection.objects.filter(kind__in=kinds_for_role(Role.SOURCE))
        targets = Connection.objects.filter(kind__in=kinds_for_role(Role.TARGET))
        return {
            "pair": self,
            "pair_query": self.query,
            "sources": list(sources),
            "targets": list(targets),
            **extra,
        }


# -- rules ----------------------------------------------------------------------------------------
def zammad_choices(pair: Pair) -> dict[str, list[tuple[str, str]]]:
    zammad = snapshot_reference(pair.zammad_snapshot)
    groups = pair.zammad_snapshot.groups if pair.zammad_snapshot else []
    return {
        "organizations": [("none", "(no organization)")]
        + sorted(((c.id, c.name) for c in zammad.customers), key=lambda c: c[1].casefold()),
        "types": [("none", "(no activity type)")]
        + sorted(((a.id, a.name) for a in zammad.activities), key=lambda a: a[1].casefold()),
        "groups": [(str(g["id"]), str(g["name"])) for g in groups if isinstance(g, dict)],
        "projects": sorted(
            ((p.id, p.name) for p in zammad.projects), key=lambda p: p[1].casefold()
        ),
    }


def kimai_choices(catalog: Catalog) -> dict[str, Any]:
    customers = sorted(
        (c for c in catalog.customers.values() if c.visible), key=lambda c: c.name.casefold()
    )
    projects_by_customer = [
        (
            customer,
            sorted(
                (
                    p
                    for p in catalog.projects.values()
                    if p.visible and p.customer_id == customer.id
                ),
                key=lambda p: p.name.casefold(),
            ),
        )
        for customer in customers
    ]
    activities = sorted(
        (a for a in catalog.activities.values() if a.visible),
        key=lambda a: (a.project_id is not None, a.name.casefold()),
    )
    return {
        "customers": customers,
        "projects_by_customer": [(c, ps) for c, ps in projects_by_customer if ps],
        "activities": [(a, catalog.activity_label(a.id)) for a in activities],
    }


def _names(choices: list[tuple[str, str]], ids: list[str]) -> str:
    known = dict(choices)
    return " or ".join(known.get(i, f"#{i}") for i in ids)


def describe_rule(
    spec: RuleSpec, zammad: dict[str, list[tuple[str, str]]], catalog: Catalog
) -> tuple[list[str], list[str]]:
    """The rule in words: what it matches, and what it books."""
    when = []
    if spec.organization_ids:
        when.append(f"organization is {_names(zammad['organizations'], spec.organization_ids)}")
    if spec.activity_type_ids:
        when.append(f"activity type is {_names(zammad['types'], spec.activity_type_ids)}")
    if spec.group_ids:
        when.append(f"group is {_names(zammad['groups'], spec.group_ids)}")
    if spec.project_ids:
        when.append(f"project is {_names(zammad.get('projects', []), spec.project_ids)}")
    if spec.customer_ids:
        names = dict(zammad.get("customers", []))
        customers = " or ".join(names.get(i, f"customer #{i}") for i in spec.customer_ids)
        when.append(f"ticket customer is {customers}")
    if spec.title_pattern:
        when.append(f"title matches /{spec.title_pattern}/")
    if spec.tag_pattern:
        when.append(f"a ticket tag matches /{spec.tag_pattern}/")
    customer = catalog.customer_label(spec.customer_id) if spec.customer_id else ""
    if spec.project_mode == "fixed":
        then = [f"project {catalog.project_label(spec.project_id)}"]
    else:
        each = "organization" if spec.project_mode == "per_organization" else "ticket"
        below = customer or "the customer named like the organization"
        name = spec.project_name_template or DEFAULT_PROJECT_NAMES[spec.project_mode]
        then = [f"one project per {each}, named “{name}”, below {below}"]
    then.append(
        f"activity {catalog.activity_label(spec.activity_id)}"
        if spec.activity_id
        else "activity from the activity mapping"
    )
    then.append(
        {"yes": "billable", "no": "not billable", "default": "billable as Kimai decides"}[
            spec.billable
        ]
    )
    if spec.extra_tags:
        then.append("tags " + ", ".join(spec.extra_tags))
    return when or ["every entry"], then


def _customer_names(pair: Pair, ids: set[str]) -> list[tuple[str, str]]:
    """The names kept for the ticket customers rules name (one query)."""
    if pair.source is None or not ids:
        return []
    people = Person.objects.filter(connection=pair.source, external_id__in=ids)
    return [(p.external_id, p.label) for p in people]


def rules_context(pair: Pair, **extra: Any) -> dict[str, Any]:
    rows = rule_rows(pair.profile, pair.catalog) if pair.profile else []
    zammad = zammad_choices(pair)
    zammad["customers"] = _customer_names(pair, {i for r in rows for i in r.spec.customer_ids})
    described = [(row, *describe_rule(row.spec, zammad, pair.catalog)) for row in rows]
    return pair.context(rows=described, zammad=zammad, **extra)


def rule_form_context(
    pair: Pair,
    rule: Rule | None,
    values: RuleSpec | dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    if values is None:
        values = spec_of(rule) if rule is not None else {"project_mode": "fixed"}
    if isinstance(values, RuleSpec):
        values = values.model_dump()
    zammad = zammad_choices(pair)
    return pair.context(
        rule=rule,
        values=values,
        errors=errors or {},
        zammad=zammad,
        pickers=rule_pickers(values, zammad, pair.source),
        patterns=pattern_labels(pair.source, values),
        kimai=kimai_choices(pair.catalog),
    )


def rule_from_post(post: QueryDict) -> dict[str, Any]:
    """The editor's form as rule input: lists from multi-selects, tags and ids from text."""

    def listed(name: str) -> list[str]:
        values = post.getlist(name)
        return [part.strip() for value in values for part in value.split(",") if part.strip()]

    data: dict[str, Any] = {
        name: post.get(name, "")
        for name in (
            "name", "title_pattern", "tag_pattern", "customer_id", "project_id",
            "project_name_template", "activity_id",
        )
    }  # fmt: skip
    data["project_mode"] = post.get("project_mode") or "fixed"
    data["billable"] = post.get("billable") or "default"
    for name in (
        "organization_ids",
        "customer_ids",
        "group_ids",
        "project_ids",
        "activity_type_ids",
    ):
        data[name] = listed(name)
    data["extra_tags"] = listed("extra_tags")
    if data["project_mode"] != "fixed":
        data["project_id"] = ""
    return data


# -- preview --------------------------------------------------------------------------------------
@dataclass
class PlanView:
    """One entry and its plan, with the fields in the order people read them."""

    entry: Any
    plan: TimesheetPlan
    rows: list[tuple[str, Any]]
    status: str
    status_class: str


def plan_views(preview: Preview) -> list[PlanView]:
    views = []
    for entry, plan in preview.plans:
        rows = [(label, plan.fields[name]) for name, label in FIELD_ORDER if name in plan.fields]
        if plan.skipped_reason:
            status, css = "skipped", "warn"
        elif plan.problems:
            status, css = "conflict: not booked", "fail"
        elif plan.project_to_create:
            status, css = "ready: creates a project first", "ok"
        else:
            status, css = "ready to book", "ok"
        views.append(PlanView(entry, plan, rows, status, css))
    return views


# -- users, activities, settings ------------------------------------------------------------------
def users_context(pair: Pair, **extra: Any) -> dict[str, Any]:
    if pair.source is None or pair.target is None:
        return pair.context(**extra)
    kimai_users = sorted(
        (u for u in pair.catalog.users.values() if u.active),
        key=lambda u: (u.name or "").casefold(),
    )
    return pair.context(
        agents=agent_rows(pair.source, pair.target), kimai_users=kimai_users, **extra
    )


def activities_context(pair: Pair, **extra: Any) -> dict[str, Any]:
    rows = activity_rows(pair.profile, pair.catalog) if pair.profile else []
    return pair.context(rows=rows, kimai=kimai_choices(pair.catalog), **extra)


def settings_context(pair: Pair, **extra: Any) -> dict[str, Any]:
    values = settings_of(pair.profile) if pair.profile else None
    unit = pair.source.settings_model() if pair.source is not None else None
    return pair.context(values=values, zammad_settings=unit, errors={}, **extra)


def settings_from_post(post: QueryDict) -> dict[str, Any]:
    return {
        "booking_instant": post.get("booking_instant", "end"),
        "rounding_minutes": post.get("rounding_minutes") or 0,
        "minimum_minutes": post.get("minimum_minutes") or 0,
        "keep_within_day": post.get("keep_within_day") == "on",
        "default_time_zone": post.get("default_time_zone", "UTC"),
        "description_template": post.get("description_template", ""),
        "fixed_tags": post.get("fixed_tags", "").split(","),
        "billable_tags": post.get("billable_tags") == "on",
        "billable_tag": post.get("billable_tag", ""),
        "not_billable_tag": post.get("not_billable_tag", ""),
    }
