"""The dashboard's setup checklist: the first hour of a new admin, step by step.

Every step is read from the rows it is about (connections and their last test, the reference
snapshots, mappings, rules, runs, the schedule settings, webhook deliveries), never from a flag
of its own, so the list is true whatever page or API call did the work. A GET never writes:
missing rows count as "not done yet".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count
from django.urls import reverse

from apps.connectors.models import Connection, WebhookDelivery
from apps.mappings.catalog import Catalog
from apps.mappings.models import MappingProfile, ReferenceSnapshot, Rule
from apps.mappings.reference import kimai_reference
from apps.mappings.services import activity_rows, agent_rows, current_pair
from apps.sync.models import Conflict, Run, SyncSettings


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    detail: str  # what the rows say today, in words
    url: str
    action: str  # the link's words: where to go to do it
    optional: bool = False


@dataclass(frozen=True)
class Checklist:
    steps: list[Step]

    @property
    def required(self) -> list[Step]:
        return [s for s in self.steps if not s.optional]

    @property
    def complete(self) -> bool:
        return all(s.done for s in self.required)

    @property
    def done_count(self) -> int:
        return sum(1 for s in self.required if s.done)

    @property
    def next_step(self) -> Step | None:
        return next((s for s in self.steps if not s.done), None)


def _connection_step(key: str, kind: str, label: str, connection: Connection | None) -> Step:
    title = f"Connect {label}"
    if connection is None:
        return Step(
            key, title, False, f"No {label} connection yet.",
            reverse("connectors:new", args=[kind]), f"Add {label}",
        )  # fmt: skip
    url = reverse("connectors:edit", args=[connection.pk])
    report = connection.last_check or {}
    if connection.last_checked is None:
        detail, done = f"{connection.name} is saved but was never tested.", False
    elif connection.last_error or not report.get("ok"):
        detail, done = f"{connection.name} failed its last test: {connection.last_error}", False
    else:
        version = report.get("version")
        detail = f"{connection.name} works" + (f" ({label} {version})." if version else ".")
        done = connection.enabled
        if not done:
            detail = f"{connection.name} works but is switched off."
    return Step(key, title, done, detail, url, f"Open {connection.name}")


def _refresh_step(source: Connection, target: Connection, rules_url: str) -> Step:
    fetched = dict(
        ReferenceSnapshot.objects.filter(connection__in=[source, target]).values_list(
            "connection_id", "fetched_at"
        )
    )
    missing = [c.name for c in (target, source) if not fetched.get(c.pk)]
    detail = (
        f"Not fetched yet from {' and '.join(missing)}."
        if missing
        else "Customers, projects, activities, users and agents are known."
    )
    title = "Refresh the reference data"
    return Step("refresh", title, not missing, detail, rules_url, "Open Mappings")


def _mapping_step(
    profile: MappingProfile | None, source: Connection, target: Connection, catalog: Catalog
) -> Step:
    url = reverse("mappings:users")
    title = "Map agents and activities"
    agents = agent_rows(source, target)
    if not agents:
        detail = "No Zammad agents known yet: refresh first (it finds who booked time lately)."
        return Step("map", title, False, detail, url, "Open the user mapping")
    fallback = profile is not None and profile.unmapped_policy == "fallback"
    unmapped = [row.agent.label for row in agents if row.kimai_user is None]
    types = activity_rows(profile, catalog) if profile is not None else []
    # "no activity type" only matters to Zammads that book without one: shown, not required.
    open_types = [
        r.type_name for r in types if r.type_id and r.active and not (r.mapped_id or r.by_name_id)
    ]
    parts = []
    if unmapped and not fallback:
        parts.append(f"{len(unmapped)} of {len(agents)} agents have no Kimai user")
    else:
        parts.append(f"all {len(agents)} agents have a Kimai user")
    if open_types:
        parts.append(f"no Kimai activity for {', '.join(open_types)}")
        url = reverse("mappings:activities")
    # Entries the sync already met without a mapping (entries without an activity type too).
    kinds = [Conflict.Kind.UNMAPPED_USER, Conflict.Kind.UNMAPPED_ACTIVITY]
    waiting = dict(
        Conflict.objects.filter(profile=profile, status=Conflict.Status.OPEN, kind__in=kinds)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
        .order_by()
        if profile is not None
        else []
    )
    if waiting:
        total = sum(waiting.values())
        parts.append(f"{total} synced entr{'ies wait' if total != 1 else 'y waits'} for one")
        kind = next(k for k in reversed(kinds) if k in waiting)
        url = f"{reverse('sync:conflicts')}?kind={kind}"
    done = (not unmapped or fallback) and not open_types and not waiting
    sentence = "; ".join(parts)
    detail = sentence[0].upper() + sentence[1:] + "."
    return Step("map", title, done, detail, url, "Open the mappings")


def _rules_step(profile: MappingProfile | None, rules_url: str) -> Step:
    count = Rule.objects.filter(profile=profile).count() if profile is not None else 0
    detail = f"{count} rule{'s' if count != 1 else ''}." if count else "No rule yet."
    if count:
        detail += " The first that matches decides the Kimai project."
    return Step("rules", "Add rules", count > 0, detail, rules_url, "Open the rules")


def _run_steps(profile: MappingProfile | None) -> list[Step]:
    runs = Run.objects.filter(profile=profile) if profile is not None else Run.objects.none()
    plan = runs.filter(dry_run=True, status=Run.Status.SUCCEEDED).first()
    real = runs.filter(dry_run=False).exclude(status=Run.Status.QUEUED).first()
    sync_url = reverse("sync:runs")
    if plan is not None:
        plan_detail = f"Run {plan.pk} planned {plan.describe_scope()}: nothing written yet."
        plan_step = Step(
            "plan", "Plan a first sync", True, plan_detail,
            reverse("sync:run", args=[plan.pk]), f"Open run {plan.pk}",
        )  # fmt: skip
    else:
        plan_detail = "Sync now with “Plan first” ticked shows what would be written."
        plan_step = Step("plan", "Plan a first sync", False, plan_detail, sync_url, "Open Sync")
    if real is not None:
        words = ", ".join(f"{count} {label}" for _value, label, count in real.outcome_counts)
        detail = f"Run {real.pk} ({real.get_status_display()}): {words or 'nothing to do'}."
        url, action = reverse("sync:run", args=[real.pk]), f"Open run {real.pk}"
    elif plan is not None:
        detail = f"Run {plan.pk} waits for your Confirm."
        url, action = reverse("sync:run", args=[plan.pk]), f"Confirm run {plan.pk}"
    else:
        detail, url, action = "Confirm a plan to write it to Kimai.", sync_url, "Open Sync"
    confirm_step = Step("confirm", "Confirm it", real is not None, detail, url, action)
    return [plan_step, confirm_step]


def _schedule_step(profile: MappingProfile | None) -> Step:
    url = f"{reverse('ui:settings')}#sync-settings"
    row = SyncSettings.objects.filter(profile=profile).first() if profile is not None else None
    enabled = row.schedule_enabled if row is not None else False
    if enabled and row is not None:
        detail = (
            f"On: changes every {row.incremental_every_minutes} minutes, and a full reconcile "
            f"nightly at {row.full_reconcile_hour_utc:02d}:00 UTC."
        )
    else:
        detail = "Off: nothing syncs by itself until you switch the schedule on."
    return Step("schedule", "Switch the schedule on", enabled, detail, url, "Open Settings")


def _webhook_step(source: Connection | None) -> Step:
    url = f"{reverse('ui:settings')}#realtime"
    title = "Set up the Zammad webhook"
    received = (
        WebhookDelivery.objects.filter(connection=source).exists() if source is not None else False
    )
    if received:
        detail = "Zammad's webhook arrives: a booked ticket syncs within seconds."
    elif source is not None and source.webhook_secret:
        detail = "Token generated; no delivery from Zammad yet."
    else:
        detail = "Optional: without it, changes arrive with the schedule."
    return Step("webhook", title, received, detail, url, "Open Real-time sync", optional=True)


def setup_checklist() -> Checklist:
    source, target = current_pair()
    rules_url = reverse("mappings:rules")
    steps = [
        _connection_step("zammad", "zammad", "Zammad", source),
        _connection_step("kimai", "kimai", "Kimai", target),
    ]
    if source is None or target is None:
        later = [
            ("refresh", "Refresh the reference data"),
            ("map", "Map agents and activities"),
            ("rules", "Add rules"),
            ("plan", "Plan a first sync"),
            ("confirm", "Confirm it"),
        ]
        steps += [
            Step(key, title, False, "After both connections work.", rules_url, "Open Mappings")
            for key, title in later
        ]
        return Checklist([*steps, _schedule_step(None), _webhook_step(source)])
    profile = MappingProfile.objects.filter(source=source, target=target).first()
    reference, _snapshot = kimai_reference(target)
    steps += [
        _refresh_step(source, target, rules_url),
        _mapping_step(profile, source, target, Catalog.build(reference)),
        _rules_step(profile, rules_url),
        *_run_steps(profile),
        _schedule_step(profile),
        _webhook_step(source),
    ]
    return Checklist(steps)


def setup_context() -> dict[str, Any]:
    """The checklist while the admin still has a required step to do; then nothing."""
    checklist = setup_checklist()
    return {"setup": None if checklist.complete else checklist}
