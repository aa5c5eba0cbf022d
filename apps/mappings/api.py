"""/api/v1/mappings: the rule table, user and activity mappings, settings and reference data.

Every operation works on one source → target pair: the ``source`` and ``target`` connection ids
given as query parameters, else the first enabled Zammad and Kimai connections. Bad input gets
a 4xx with a message (422 for validation) and writes nothing. The preview is in preview_api.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict, Field

from apps.connectors.models import Connection
from apps.core.api_errors import errors
from apps.core.api_types import Id
from apps.mappings import services
from apps.mappings.catalog import Catalog
from apps.mappings.models import MappingProfile, Rule
from apps.mappings.reference import kimai_reference, snapshot_of
from apps.mappings.rules import Billable, ProjectMode, RuleSpec

router = Router(tags=["Mappings"])


# -- schemas --------------------------------------------------------------------------------------
class RuleIn(RuleSpec):
    """A rule: conditions (empty: any) and outcome."""


class RulePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    organization_ids: list[str] | None = None
    customer_ids: list[str] | None = None
    group_ids: list[str] | None = None
    project_ids: list[str] | None = None
    activity_type_ids: list[str] | None = None
    title_pattern: str | None = None
    tag_pattern: str | None = None
    project_mode: ProjectMode | None = None
    customer_id: str | None = None
    project_id: str | None = None
    project_name_template: str | None = None
    activity_id: str | None = None
    billable: Billable | None = None
    extra_tags: list[str] | None = None


class FindingOut(Schema):
    kind: Literal["unreachable", "overlap", "broken"]
    message: str


class RuleOut(RuleSpec):
    id: int
    position: int
    findings: list[FindingOut] = Field(
        description="Never reached, overlapping an earlier rule, or broken in Kimai."
    )


class ReorderIn(Schema):
    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(description="Every rule id of the table, in the new order.")


class AgentMappingOut(Schema):
    zammad_user: str
    name: str
    email: str
    kimai_user: str | None
    kimai_user_name: str | None
    method: Literal["manual", "email", ""] = Field(
        description="manual: chosen by hand; email: matched by e-mail; empty: unmapped."
    )


class UsersOut(Schema):
    unmapped_policy: Literal["conflict", "fallback"]
    fallback_kimai_user: str | None
    kimai_users_listed: bool
    agents: list[AgentMappingOut]


class UserMappingIn(Schema):
    model_config = ConfigDict(extra="forbid")

    zammad_user: str = Field(description="The Zammad user id of the agent.")
    kimai_user: str | None = Field(description="A Kimai user id; null: match by e-mail again.")


class UsersIn(Schema):
    model_config = ConfigDict(extra="forbid")

    mappings: list[UserMappingIn] = Field(default_factory=list)
    unmapped_policy: Literal["conflict", "fallback"] | None = None
    fallback_kimai_user: str | None = None


class ActivityMappingOut(Schema):
    zammad_type: str = Field(description='Zammad type id; "" for entries without a type.')
    zammad_type_name: str
    kimai_activity: str | None
    kimai_activity_name: str | None
    decided: Literal["by hand", "same name", "not mapped"]


class ActivitiesOut(Schema):
    mappings: list[ActivityMappingOut]


class ActivityMappingIn(Schema):
    model_config = ConfigDict(extra="forbid")

    zammad_type: str = Field(max_length=64, description='"" for entries without a type.')
    kimai_activity: str | None = Field(description="A Kimai activity id; null: no mapping.")


class ActivitiesIn(Schema):
    model_config = ConfigDict(extra="forbid")

    mappings: list[ActivityMappingIn]


class MappingErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]] = Field(default_factory=dict)


class RefreshOut(Schema):
    kimai_fetched_at: datetime | None
    zammad_fetched_at: datetime | None
    agents_found: int
    errors: list[str]


# -- helpers --------------------------------------------------------------------------------------
@dataclass
class Pair:
    source: Connection
    target: Connection
    profile: MappingProfile


def pair_for(source: int | None, target: int | None) -> Pair:
    """The pair asked for; NotConfigured (409) when a connection is missing."""
    source_connection, target_connection = services.current_pair(source, target)
    profile = services.profile_for(source_connection, target_connection)
    assert source_connection is not None and target_connection is not None
    return Pair(source_connection, target_connection, profile)


def _catalog(profile: MappingProfile) -> Catalog:
    reference, _ = kimai_reference(profile.target)
    return Catalog.build(reference)


def _rules_out(profile: MappingProfile) -> list[dict[str, Any]]:
    return [
        {
            **row.spec.model_dump(),
            "id": row.rule.pk,
            "position": row.position,
            "findings": [asdict(f) for f in row.findings],
        }
        for row in services.rule_rows(profile, _catalog(profile))
    ]


def _rule_out(rule: Rule) -> dict[str, Any]:
    return next(r for r in _rules_out(rule.profile) if r["id"] == rule.pk)


# -- rules ----------------------------------------------------------------------------------------
@router.get(
    "/mappings/rules",
    response={200: list[RuleOut], **errors(409)},
    summary="The rule table, in order",
)
def list_rules(
    request: HttpRequest, source: Id | None = None, target: Id | None = None
) -> list[dict[str, Any]]:
    return _rules_out(pair_for(source, target).profile)


@router.post(
    "/mappings/rules",
    response={201: RuleOut, 409: MappingErrorOut, 422: MappingErrorOut},
    summary="Add a rule at the end of the table",
)
def create_rule(
    request: HttpRequest, payload: RuleIn, source: Id | None = None, target: Id | None = None
) -> Status[dict[str, Any]]:
    pair = pair_for(source, target)
    rule = services.create_rule(pair.profile, payload, _catalog(pair.profile))
    return Status(201, _rule_out(rule))


@router.post(
    "/mappings/rules/reorder",
    response={200: list[RuleOut], 409: MappingErrorOut, 422: MappingErrorOut},
    summary="Put the rules in this order (every id exactly once)",
)
def reorder_rules(
    request: HttpRequest, payload: ReorderIn, source: Id | None = None, target: Id | None = None
) -> list[dict[str, Any]]:
    pair = pair_for(source, target)
    services.reorder_rules(pair.profile, payload.ids)
    return _rules_out(pair.profile)


@router.get("/mappings/rules/{rule_id}", response=RuleOut, summary="One rule")
def get_rule(request: HttpRequest, rule_id: Id) -> dict[str, Any]:
    return _rule_out(get_object_or_404(Rule, pk=rule_id))


@router.put(
    "/mappings/rules/{rule_id}",
    response={200: RuleOut, 422: MappingErrorOut},
    summary="Replace a rule (fields left out take their defaults)",
)
def replace_rule(request: HttpRequest, rule_id: Id, payload: RuleIn) -> dict[str, Any]:
    rule = get_object_or_404(Rule.objects.select_related("profile"), pk=rule_id)
    services.update_rule(rule, payload, _catalog(rule.profile))
    return _rule_out(rule)


@router.patch(
    "/mappings/rules/{rule_id}",
    response={200: RuleOut, 422: MappingErrorOut},
    summary="Change some fields of a rule",
)
def patch_rule(request: HttpRequest, rule_id: Id, payload: RulePatch) -> dict[str, Any]:
    rule = get_object_or_404(Rule.objects.select_related("profile"), pk=rule_id)
    services.patch_rule(rule, payload.model_dump(exclude_unset=True), _catalog(rule.profile))
    return _rule_out(rule)


@router.delete("/mappings/rules/{rule_id}", response={204: None}, summary="Delete a rule")
def delete_rule(request: HttpRequest, rule_id: Id) -> Status[None]:
    services.delete_rule(get_object_or_404(Rule, pk=rule_id))
    return Status(204, None)


# -- users ----------------------------------------------------------------------------------------
def _users_out(pair: Pair) -> dict[str, Any]:
    snapshot = snapshot_of(pair.target)
    return {
        "unmapped_policy": pair.profile.unmapped_policy,
        "fallback_kimai_user": pair.profile.fallback_user.external_id
        if pair.profile.fallback_user
        else None,
        "kimai_users_listed": bool(snapshot and snapshot.users_listed),
        "agents": [
            {
                "zammad_user": row.agent.external_id,
                "name": row.agent.name,
                "email": row.agent.email,
                "kimai_user": row.kimai_user.external_id if row.kimai_user else None,
                "kimai_user_name": row.kimai_user.label if row.kimai_user else None,
                "method": row.method,
            }
            for row in services.agent_rows(pair.source, pair.target)
        ],
    }


@router.get(
    "/mappings/users", response={200: UsersOut, 409: MappingErrorOut}, summary="User mapping"
)
def list_users(
    request: HttpRequest, source: Id | None = None, target: Id | None = None
) -> dict[str, Any]:
    return _users_out(pair_for(source, target))


@router.api_operation(
    ["PUT", "PATCH"],
    "/mappings/users",
    response={200: UsersOut, 409: MappingErrorOut, 422: MappingErrorOut},
    summary="Map agents by hand (or back to e-mail matching) and set the unmapped-user policy",
)
def set_users(
    request: HttpRequest, payload: UsersIn, source: Id | None = None, target: Id | None = None
) -> dict[str, Any]:
    pair = pair_for(source, target)
    with transaction.atomic():
        for item in payload.mappings:
            services.set_user_mapping(pair.source, pair.target, item.zammad_user, item.kimai_user)
        if payload.unmapped_policy is not None:
            services.set_unmapped_policy(
                pair.profile, payload.unmapped_policy, payload.fallback_kimai_user
            )
    pair.profile.refresh_from_db()
    return _users_out(pair)


# -- activities -----------------------------------------------------------------------------------
def _activities_out(profile: MappingProfile) -> dict[str, Any]:
    rows = services.activity_rows(profile, _catalog(profile))
    return {
        "mappings": [
            {
                "zammad_type": row.type_id,
                "zammad_type_name": row.type_name,
                "kimai_activity": row.mapped_id or row.by_name_id,
                "kimai_activity_name": row.mapped_label or row.by_name_label or None,
                "decided": "by hand"
                if row.mapped_id
                else ("same name" if row.by_name_id else "not mapped"),
            }
            for row in rows
        ]
    }


@router.get(
    "/mappings/activities",
    response={200: ActivitiesOut, 409: MappingErrorOut},
    summary="Activity mapping: each Zammad type (and no type) → Kimai activity",
)
def list_activities(
    request: HttpRequest, source: Id | None = None, target: Id | None = None
) -> dict[str, Any]:
    pair = pair_for(source, target)
    return _activities_out(pair.profile)


@router.api_operation(
    ["PUT", "PATCH"],
    "/mappings/activities",
    response={200: ActivitiesOut, 409: MappingErrorOut, 422: MappingErrorOut},
    summary="Map Zammad types to Kimai activities (null removes a mapping)",
)
def set_activities(
    request: HttpRequest,
    payload: ActivitiesIn,
    source: Id | None = None,
    target: Id | None = None,
) -> dict[str, Any]:
    pair = pair_for(source, target)
    catalog = _catalog(pair.profile)
    with transaction.atomic():
        for item in payload.mappings:
            services.set_activity_mapping(
                pair.profile, item.zammad_type, item.kimai_activity, catalog
            )
    return _activities_out(pair.profile)


# -- settings -------------------------------------------------------------------------------------
class MappingSettingsIn(services.SettingsSpec):
    """Time synthesis, description and tags. PUT: fields left out get their defaults; PATCH:
    fields left out stay as they are."""


@router.get(
    "/mappings/settings",
    response={200: services.SettingsSpec, 409: MappingErrorOut},
    summary="Time rules, description and tags of the pair",
)
def get_settings(
    request: HttpRequest, source: int | None = None, target: int | None = None
) -> services.SettingsSpec:
    return services.settings_of(pair_for(source, target).profile)


@router.api_operation(
    ["PUT", "PATCH"],
    "/mappings/settings",
    response={200: services.SettingsSpec, 409: MappingErrorOut, 422: MappingErrorOut},
    summary="Change the time rules, description and tags (the next run and preview use them)",
)
def set_settings(
    request: HttpRequest,
    payload: MappingSettingsIn,
    source: int | None = None,
    target: int | None = None,
) -> services.SettingsSpec:
    profile = pair_for(source, target).profile
    changes = payload.model_dump(exclude_unset=request.method == "PATCH")
    services.update_settings(profile, services.settings_of(profile).model_dump() | changes)
    return services.settings_of(profile)


# -- refresh ------------------------------------------------------------------------------------
@router.post(
    "/mappings/reference/refresh",
    response={200: RefreshOut, 409: MappingErrorOut},
    summary="Fetch Kimai's and Zammad's reference data again and find recent agents",
)
def refresh_reference(
    request: HttpRequest, source: Id | None = None, target: Id | None = None
) -> dict[str, Any]:
    pair = pair_for(source, target)
    found, errors = services.refresh_pair(pair.source, pair.target)
    kimai, zammad = snapshot_of(pair.target), snapshot_of(pair.source)
    return {
        "kimai_fetched_at": kimai.fetched_at if kimai else None,
        "zammad_fetched_at": zammad.fetched_at if zammad else None,
        "agents_found": found,
        "errors": errors,
    }
