"""Opening, refreshing and closing conflicts: one open conflict per entry at most."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.connectors.entry import TimeEntry
from apps.core import audit
from apps.core.inserts import insert_rows
from apps.mappings.engine import TimesheetPlan
from apps.mappings.models import MappingProfile
from apps.sync.models import Conflict, Run

# Fields whose explanation may name a person: only their ids are kept (GDPR: names live in Person).
PERSONAL_FIELDS = {"user"}


def entry_snapshot(entry: TimeEntry) -> dict[str, Any]:
    return {
        "id": entry.external_id,
        "ticket_id": entry.ticket.id if entry.ticket else None,
        "ticket_number": entry.ticket.number if entry.ticket else None,
        "ticket_title": entry.ticket.title if entry.ticket else None,
        "organization_id": entry.organization.id if entry.organization else None,
        "organization": entry.organization.name if entry.organization else None,
        "activity_type_id": entry.activity.id if entry.activity else None,
        "activity_type": entry.activity.name if entry.activity else None,
        "agent_id": entry.agent.id if entry.agent else None,
        "booked_at": entry.booked_at.isoformat(),
        "duration_seconds": entry.duration_seconds,
    }


def plan_snapshot(entry: TimeEntry, plan: TimesheetPlan | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, decision in (plan.fields if plan else {}).items():
        value = decision.value
        if isinstance(value, tuple | list):
            value = list(value)
        elif value is not None and not isinstance(value, bool | int | float | str):
            value = str(value) if not hasattr(value, "isoformat") else value.isoformat()
        if name in PERSONAL_FIELDS:
            fields[name] = {"value": value, "decided_by": decision.decided_by}
        else:
            fields[name] = {
                "value": value, "display": decision.display,
                "decided_by": decision.decided_by, "reason": decision.reason,
            }  # fmt: skip
    return {
        "entry": entry_snapshot(entry),
        "timesheet": fields,
        "marker": plan.marker if plan else "",
        "problems": [p.kind for p in plan.problems] if plan else [],
    }


def conflict_values(
    run: Run | None,
    kind: str,
    reason: str,
    *,
    entry: TimeEntry | None = None,
    plan: TimesheetPlan | None = None,
    agent_person_id: int | None = None,
    target_snapshot: dict[str, Any] | None = None,
    candidates: list[dict[str, Any]] | None = None,
    kimai_id: str = "",
) -> dict[str, Any]:
    """The fields of an entry's conflict (all but profile and source_id)."""
    values: dict[str, Any] = {
        "kind": kind,
        "reason": reason,
        "run": run,
        "kimai_id": kimai_id,
        "target_snapshot": target_snapshot,
        "candidates": candidates or [],
    }
    if entry is not None:
        values.update(
            ticket_id=entry.ticket.id if entry.ticket else "",
            ticket_number=entry.ticket.number or "" if entry.ticket else "",
            booked_at=entry.booked_at,
            source_fingerprint=entry.fingerprint,
            source_changed_at=entry.changed_at,
            source_snapshot=plan_snapshot(entry, plan),
            agent_id=agent_person_id,
        )
    else:  # the entry is gone from Zammad: no fingerprint (a skip keeps the Kimai side for good)
        values["source_fingerprint"] = ""
    return values


def record_conflict(
    profile: MappingProfile,
    run: Run | None,
    source_id: str,
    kind: str,
    reason: str,
    *,
    maybe_open: bool = True,
    **details: Any,
) -> Conflict:
    """Open the entry's conflict, or update the one open; ``details`` as for
    :func:`conflict_values`. ``maybe_open=False``: the caller knows none was open (the run
    loaded them), so the INSERT is tried first and the look-up saved."""
    values = conflict_values(run, kind, reason, **details)
    return save_conflict(profile, source_id, values, maybe_open=maybe_open)


def save_conflict(
    profile: MappingProfile, source_id: str, values: dict[str, Any], *, maybe_open: bool = True
) -> Conflict:
    """Update the entry's open conflict with ``values``, or open one (see record_conflict)."""
    for attempt in range(2):
        if maybe_open or attempt:
            existing = Conflict.objects.filter(
                profile=profile, source_id=source_id, status=Conflict.Status.OPEN
            ).first()
            if existing is not None:
                for name, value in values.items():
                    setattr(existing, name, value)
                existing.save()
                return existing
        # Outside a transaction the INSERT commits on its own (one round trip, not three with
        # BEGIN and COMMIT); inside one a savepoint keeps it usable after a refused duplicate.
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                return Conflict.objects.create(profile=profile, source_id=source_id, **values)
        except IntegrityError:
            continue  # open already (concurrently, or the caller's hint was stale): update it
    raise RuntimeError(f"could not record the conflict of entry {source_id}")


def open_new_conflicts(profile: MappingProfile, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Open the conflicts of entries the caller knows had none open (``(source_id, values)``
    each), in one INSERT. If one was opened meanwhile, the unique index refuses them all and
    each is saved as :func:`record_conflict` would."""
    if not rows:
        return
    try:
        with transaction.atomic():
            insert_rows(
                [Conflict(profile=profile, source_id=sid, **values) for sid, values in rows]
            )
    except IntegrityError:
        for source_id, values in rows:
            save_conflict(profile, source_id, values)


def close_open_conflict(
    profile: MappingProfile, source_id: str, resolution: str, actor: str, run: Run | None = None
) -> bool:
    """Mark the entry's open conflict resolved (e.g. a mapping now decides it)."""
    conflict = Conflict.objects.filter(
        profile=profile, source_id=source_id, status=Conflict.Status.OPEN
    ).first()
    if conflict is None:
        return False
    before = conflict.snapshot()
    conflict.status = Conflict.Status.RESOLVED
    conflict.resolution = resolution
    conflict.resolved_by = actor
    conflict.resolved_at = timezone.now()
    conflict.save(
        update_fields=["status", "resolution", "resolved_by", "resolved_at", "updated_at"]
    )
    audit.record(
        actor, "conflict.resolve", "conflict", conflict.pk, before=before,
        after=conflict.snapshot() | {"resolution": resolution},
        run_id=run.pk if run else None, ticket=conflict.ticket_number,
    )  # fmt: skip
    return True
