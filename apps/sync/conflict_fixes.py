"""Quick fixes from a conflict: map its agent or its activity type, then decide again.

The mapping is saved with the mapping editor's own services (``set_user_mapping``,
``set_activity_mapping``; their config audit records the change), then the open conflicts it
affects are handed to :func:`~apps.sync.resolutions.reevaluate`, which asks for ticket runs (or one
window run) that decide those entries again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import Http404
from django.urls import reverse

from apps.gdpr.models import Person
from apps.mappings.catalog import Catalog
from apps.mappings.models import ActivityMapping, MappingProfile, UserMapping
from apps.mappings.reference import kimai_reference
from apps.mappings.services import (
    MappingInvalid,
    NotConfigured,
    current_pair,
    profile_for,
    set_activity_mapping,
    set_user_mapping,
)
from apps.sync.models import Conflict
from apps.sync.resolutions import reevaluate


def _pair_query(profile: MappingProfile) -> str:
    return urlencode({"source": profile.source_id, "target": profile.target_id})


def _profile(conflicts: Any) -> MappingProfile:
    """The profile of the affected conflicts, else the pair the mapping pages edit."""
    first = conflicts.select_related("profile__source", "profile__target").first()
    if first is not None:
        return first.profile
    try:
        return profile_for(*current_pair())
    except NotConfigured as missing:
        raise Http404(str(missing)) from None


def _runs_text(runs: list[Any]) -> str:
    if not runs:
        return ""
    names = ", ".join(f"run {r.pk} ({r.describe_scope()})" for r in runs)
    return f" They are checked again by {names}."


# -- agents --------------------------------------------------------------------------------------
def agent_fix_context(person_id: int) -> dict[str, Any]:
    agent = Person.objects.filter(pk=person_id, kind=Person.Kind.AGENT).first()
    if agent is None:
        raise Http404("no such Zammad agent")
    waiting = Conflict.objects.filter(
        agent=agent, status=Conflict.Status.OPEN, kind=Conflict.Kind.UNMAPPED_USER
    )
    profile = _profile(waiting)
    users = list(
        Person.objects.filter(
            connection_id=profile.target_id, kind=Person.Kind.TARGET_USER,
            purged_at__isnull=True, active=True,
        )
    )  # fmt: skip
    mapping = UserMapping.objects.filter(agent=agent, target_id=profile.target_id).first()
    same_name = [u for u in users if agent.name and u.name.casefold() == agent.name.casefold()]
    if mapping is not None:
        chosen = mapping.kimai_user.external_id
    else:
        chosen = same_name[0].external_id if same_name else ""
    return {
        "fix": "agent",
        "agent": agent,
        "profile": profile,
        "waiting": waiting.filter(profile=profile),
        "waiting_count": waiting.filter(profile=profile).count(),
        "users": users,
        "chosen": chosen,
        "action_url": reverse("sync:map_agent", args=[agent.pk]),
        "editor_url": f"{reverse('mappings:users')}?{_pair_query(profile)}#agent-"
        f"{agent.external_id}",
        "back": f"{reverse('sync:conflicts')}?{urlencode({'agent': agent.pk})}",
    }


def map_agent_and_recheck(context: dict[str, Any], kimai_user: str, actor: str) -> dict[str, Any]:
    agent, profile = context["agent"], context["profile"]
    if not kimai_user:
        return {"error": "Choose the Kimai user this agent books time as."}
    try:
        set_user_mapping(profile.source, profile.target, agent.external_id, kimai_user)
    except MappingInvalid as invalid:
        return {"error": " ".join(m for ms in invalid.errors.values() for m in ms)}
    runs = reevaluate(list(context["waiting"]), actor)
    user = next((u for u in context["users"] if u.external_id == kimai_user), None)
    count = context["waiting_count"]
    return {
        "checking_runs": [run.pk for run in runs],
        "chosen": kimai_user,
        "saved": f"{agent.label} now books time as {user.label if user else kimai_user} in "
        f"Kimai; {count} conflict{'s' if count != 1 else ''} waited for this." + _runs_text(runs),
    }


# -- activity types ------------------------------------------------------------------------------
def activity_fix_context(type_id: str) -> dict[str, Any]:
    type_id = type_id.strip()[:64]
    waiting = Conflict.objects.filter(
        status=Conflict.Status.OPEN, kind=Conflict.Kind.UNMAPPED_ACTIVITY,
        source_snapshot__entry__activity_type_id=type_id or None,
    )  # fmt: skip
    profile = _profile(waiting)
    reference, _snapshot = kimai_reference(profile.target)
    catalog = Catalog.build(reference)
    activities = sorted(
        (a for a in catalog.activities.values() if a.visible),
        key=lambda a: (a.project_id is not None, a.name.casefold()),
    )
    sample = waiting.filter(profile=profile).first()
    name = ""
    if sample is not None:
        name = str((sample.source_snapshot.get("entry") or {}).get("activity_type") or "")
    mapped = ActivityMapping.objects.filter(profile=profile, zammad_type_id=type_id).first()
    same = catalog.activity_named(name, None) if name else None
    chosen = mapped.kimai_activity_id if mapped else (same.id if same else "")
    return {
        "fix": "activity",
        "type_id": type_id,
        "type_name": name or (f"type #{type_id}" if type_id else "no activity type"),
        "profile": profile,
        "catalog": catalog,
        "waiting": waiting.filter(profile=profile),
        "waiting_count": waiting.filter(profile=profile).count(),
        "activities": [(a.id, catalog.activity_label(a.id)) for a in activities],
        "chosen": chosen,
        "action_url": f"{reverse('sync:map_activity')}?{urlencode({'type': type_id})}",
        "editor_url": f"{reverse('mappings:activities')}?{_pair_query(profile)}#type-"
        f"{type_id or 'none'}",
        "back": f"{reverse('sync:conflicts')}?kind={Conflict.Kind.UNMAPPED_ACTIVITY}",
    }


def map_activity_and_recheck(
    context: dict[str, Any], activity_id: str, actor: str
) -> dict[str, Any]:
    if not activity_id:
        return {"error": "Choose the Kimai activity for this activity type."}
    catalog: Catalog = context["catalog"]
    try:
        set_activity_mapping(context["profile"], context["type_id"], activity_id, catalog)
    except MappingInvalid as invalid:
        return {"error": " ".join(m for ms in invalid.errors.values() for m in ms)}
    runs = reevaluate(list(context["waiting"]), actor)
    count = context["waiting_count"]
    return {
        "checking_runs": [run.pk for run in runs],
        "chosen": activity_id,
        "saved": f"“{context['type_name']}” is now booked as "
        f"{catalog.activity_label(activity_id)}; {count} conflict{'s' if count != 1 else ''} "
        "waited for this." + _runs_text(runs),
    }
