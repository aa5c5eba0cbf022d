"""The decisions a person makes on a conflict, carried out: create, update, link, skip, delete.

Each one reads both sides again through :class:`~apps.sync.sides.Sides` and refuses with
:class:`ResolutionRefused` when the entry, its plan or the Kimai timesheet changed since the
conflict was recorded; writes go through :class:`~apps.sync.writer.KimaiWriter`; closing the
conflict and its audit event commit together. The caller (apps/sync/resolutions.py) holds the
profile's lock and checked that the action fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.connectors.base import TimesheetDraft
from apps.connectors.entry import TimeEntry
from apps.core import audit
from apps.mappings.engine import TimesheetPlan, marker_for
from apps.sync.applier import create_planned_project
from apps.sync.conflicts import plan_snapshot
from apps.sync.models import Conflict, Link, RunItem
from apps.sync.resolution_choices import Action
from apps.sync.sides import Sides
from apps.sync.writer import KimaiWriter, WriteResult, timesheet_snapshot

# Fields of a planned timesheet that must still be what the person saw.
PLANNED_FIELDS = (
    "user", "begin", "end", "duration", "customer", "project", "activity", "description",
    "billable", "tags",
)  # fmt: skip
SHEET_FIELDS = (
    "user_id", "duration_seconds", "project_id", "activity_id", "description", "billable",
)  # fmt: skip


class ResolutionRefused(Exception):
    """A resolution that did not happen; ``message`` says why in plain words."""

    INVALID = "invalid"  # the request does not fit this conflict
    DONE = "done"  # already resolved or skipped
    STALE = "stale"  # a side changed since the conflict was recorded
    BUSY = "busy"  # a run holds the profile
    REFUSED = "refused"  # Kimai refused the write
    UNCERTAIN = "uncertain"  # Kimai did not confirm; verified on the next run
    UNAVAILABLE = "unavailable"  # Zammad or Kimai did not answer

    def __init__(self, message: str, reason: str = STALE, *, recheck: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        # The conflict no longer matches the systems: a ticket run should decide it again.
        self.recheck = recheck

    @property
    def status(self) -> int:
        return 422 if self.reason == self.INVALID else 409


@dataclass(frozen=True)
class ResolutionParams:
    kimai_id: str = ""  # link: the Kimai timesheet chosen
    note: str = ""  # skip: why (kept on the conflict, not in the audit trail)
    version: str = ""  # the conflict's version the person saw; "" skips the check


@dataclass(frozen=True)
class Resolution:
    conflict: Conflict
    message: str
    kimai_id: str = ""
    run_id: int | None = None


def _current_entry(conflict: Conflict, sides: Sides) -> TimeEntry:
    entry = sides.entry(conflict)
    if entry is None:
        raise ResolutionRefused(
            "The entry was deleted in Zammad since the conflict was recorded. Nothing was "
            "changed; the next sync run decides it again.",
            recheck=True,
        )
    if entry.fingerprint != conflict.source_fingerprint:
        raise ResolutionRefused(
            "The entry changed in Zammad since the conflict was recorded. Nothing was changed; "
            "the next sync run decides it again.",
            recheck=True,
        )
    return entry


def _planned(
    conflict: Conflict, entry: TimeEntry, actor: str, sides: Sides
) -> tuple[TimesheetPlan, TimesheetDraft]:
    """The timesheet the entry becomes now, which must be the one the person saw."""
    plan = sides.plan(entry)
    if not plan.bookable:
        why = " ".join(p.message for p in plan.problems) or plan.skipped_reason or ""
        raise ResolutionRefused(f"Kimai cannot get this entry yet: {why}", recheck=True)
    now = plan_snapshot(entry, plan)["timesheet"]
    seen = (conflict.source_snapshot or {}).get("timesheet") or {}
    changed = [
        name
        for name in PLANNED_FIELDS
        if (now.get(name) or {}).get("value") != (seen.get(name) or {}).get("value")
    ]
    if changed:
        raise ResolutionRefused(
            f"The mappings now decide this entry differently ({', '.join(changed)}) than the "
            "conflict shows. Nothing was changed; the next sync run decides it again.",
            recheck=True,
        )
    if plan.draft is not None:
        return plan, plan.draft
    project_id = create_planned_project(
        conflict.profile, sides.target, plan, actor, None, sides.customers_made
    )
    return plan, plan.draft_for_project(project_id)


def _sheet_changed(sheet: TimeEntry, seen: Mapping[str, Any] | None) -> bool:
    """Whether a Kimai timesheet differs from the snapshot the conflict recorded."""
    if not seen:
        return False
    now = timesheet_snapshot(sheet)
    if any(now.get(name) != seen.get(name) for name in SHEET_FIELDS):
        return True
    if {str(t).casefold() for t in now["tags"]} != {
        str(t).casefold() for t in seen.get("tags") or []
    }:
        return True
    for name in ("begin", "end"):
        a, b = now.get(name), seen.get(name)
        if (a is None) != (b is None):
            return True
        if a and b and datetime.fromisoformat(a) != datetime.fromisoformat(b):
            return True
    return False


def _seen_sheet(conflict: Conflict, kimai_id: str) -> dict[str, Any] | None:
    """The snapshot of Kimai timesheet ``kimai_id`` the conflict recorded, if any."""
    for snapshot in [conflict.target_snapshot, *(conflict.candidates or [])]:
        if isinstance(snapshot, dict) and str(snapshot.get("id")) == kimai_id:
            return snapshot
    return None


def sheet_instant(conflict: Conflict, kimai_id: str, link: Link | None = None) -> datetime | None:
    """When Kimai timesheet ``kimai_id`` began, as the conflict (or its link) recorded it."""
    seen = _seen_sheet(conflict, kimai_id)
    if seen and seen.get("begin"):
        return datetime.fromisoformat(seen["begin"])
    if link is not None:
        return link.booked_at
    return conflict.booked_at


def _existing_sheet(
    conflict: Conflict, kimai_id: str, sides: Sides, link: Link | None
) -> TimeEntry:
    """Kimai timesheet ``kimai_id`` as the conflict recorded it, or a refusal."""
    around = sheet_instant(conflict, kimai_id, link)
    sheet = sides.sheet(kimai_id, around) if around else None
    if sheet is None:
        raise ResolutionRefused(
            f"Kimai timesheet #{kimai_id} was deleted in Kimai (or moved to another day) since "
            "the conflict was recorded. Nothing was written.",
            recheck=True,
        )
    if _sheet_changed(sheet, _seen_sheet(conflict, kimai_id)):
        raise ResolutionRefused(
            f"Kimai timesheet #{kimai_id} was edited in Kimai since the conflict was recorded. "
            "Nothing was written; the next sync run decides it again.",
            recheck=True,
        )
    return sheet


def _linked_elsewhere(conflict: Conflict, kimai_id: str) -> None:
    holder = (
        Link.objects.filter(profile_id=conflict.profile_id, kimai_id=kimai_id)
        .exclude(source_id=conflict.source_id)
        .first()
    )
    if holder is not None:
        raise ResolutionRefused(
            f"Kimai timesheet #{kimai_id} already belongs to Zammad entry {holder.source_id}. "
            "Nothing was changed.",
            ResolutionRefused.STALE,
        )


def _close(
    conflict: Conflict,
    actor: str,
    action: Action,
    *,
    status: str = Conflict.Status.RESOLVED,
    kimai_id: str = "",
    note: str = "",
    detail: str = "",
) -> Conflict:
    """Mark the conflict decided and record who decided what, in one transaction."""
    before = conflict.snapshot() | {"kimai_id": conflict.kimai_id}
    now = timezone.now()
    resolution = action.value if not detail else f"{action.value}: {detail}"
    with transaction.atomic():
        closed = Conflict.objects.filter(pk=conflict.pk, status=Conflict.Status.OPEN).update(
            status=status, resolution=resolution[:30], resolved_by=actor[:100],
            resolved_at=now, note=note, updated_at=now,
        )  # fmt: skip
        if closed != 1:
            raise ResolutionRefused("This conflict was decided meanwhile.", ResolutionRefused.DONE)
        conflict.refresh_from_db()
        after = conflict.snapshot() | {
            "action": action.value, "kimai_id": kimai_id or conflict.kimai_id,
            "source_id": conflict.source_id, "note_given": bool(note),
        }  # fmt: skip
        audit.record(
            actor, "conflict.skip" if status == Conflict.Status.SKIPPED else "conflict.resolve",
            "conflict", conflict.pk, before=before, after=after, ticket=conflict.ticket_number,
        )  # fmt: skip
    return conflict


def _settled(
    conflict: Conflict, action: Action, result: WriteResult, actor: str, done: str
) -> Resolution:
    """Close the conflict if Kimai took the write; otherwise say why and leave it open."""
    if result.result == RunItem.Result.DONE:
        closed = _close(conflict, actor, action, kimai_id=result.kimai_id, detail=result.kimai_id)
        return Resolution(closed, done.format(kimai_id=result.kimai_id), result.kimai_id)
    if result.result == RunItem.Result.UNCERTAIN:
        raise ResolutionRefused(
            f"Kimai did not confirm the write ({result.error}). The next sync run looks for it in "
            "Kimai before anything is sent again; the conflict stays open until then.",
            ResolutionRefused.UNCERTAIN,
        )
    if result.conflict_kind:
        audit.record(
            actor, "conflict.resolve_failed", "conflict", conflict.pk,
            before=conflict.snapshot(),
            after={"action": action.value, "error": result.error[:2000]},
            ticket=conflict.ticket_number,
        )  # fmt: skip
        raise ResolutionRefused(
            f"{result.error} The conflict stays open.", ResolutionRefused.REFUSED
        )
    raise ResolutionRefused(
        f"Nothing was written: {result.error}. The conflict stays open.",
        ResolutionRefused.UNAVAILABLE,
    )


# -- the actions -----------------------------------------------------------------------------------
def _create(conflict: Conflict, params: ResolutionParams, actor: str, sides: Sides) -> Resolution:
    entry = _current_entry(conflict, sides)
    plan, draft = _planned(conflict, entry, actor, sides)
    link = Link.objects.filter(profile_id=conflict.profile_id, source_id=conflict.source_id).first()
    if link is not None and sides.sheet(link.kimai_id, link.booked_at) is not None:
        raise ResolutionRefused(
            f"Kimai timesheet #{link.kimai_id} already holds this entry. Nothing was written.",
            recheck=True,
        )
    marked = sides.target.search_by_marker(plan.marker)
    if len(marked) > 1:
        ids = ", ".join(f"#{s.external_id}" for s in marked)
        raise ResolutionRefused(
            f"Kimai timesheets {ids} already carry this entry's marker: link one of them "
            "instead. Nothing was written.",
            recheck=True,
        )
    if marked:  # booked before (e.g. a write verified late): link it, never book twice
        return _adopt(conflict, entry, plan.marker, marked[0], actor)
    writer = KimaiWriter(conflict.profile, sides.target, None, actor)
    stale: dict[str, Any] | None = None
    if link is not None:  # points at a timesheet gone from Kimai: the new one replaces it
        stale = {f: getattr(link, f) for f in _LINK_FIELDS}
        link.delete()
    result = writer.create(entry, plan.marker, draft)
    sides.forget_kimai()
    if stale is not None and result.result in RunItem.NOT_WRITTEN:
        Link.objects.create(profile_id=conflict.profile_id, **stale)
    return _settled(conflict, Action.CREATE, result, actor, "Created Kimai timesheet #{kimai_id}.")


_LINK_FIELDS = (
    "source_id", "ticket_id", "booked_at", "kimai_id", "marker", "origin", "source_fingerprint",
    "target_fingerprint", "source_changed_at",
)  # fmt: skip


def _adopt(
    conflict: Conflict, entry: TimeEntry, marker: str, sheet: TimeEntry, actor: str
) -> Resolution:
    with transaction.atomic():
        Link.objects.update_or_create(
            profile_id=conflict.profile_id, source_id=entry.external_id,
            defaults={
                "kimai_id": sheet.external_id, "marker": marker, "origin": Link.Origin.ADOPTED,
                "ticket_id": entry.ticket.id if entry.ticket else "",
                "booked_at": entry.booked_at, "source_fingerprint": entry.fingerprint,
                "target_fingerprint": sheet.fingerprint, "source_changed_at": entry.changed_at,
            },
        )  # fmt: skip
        audit.record(
            actor, "kimai.timesheet.adopt", "kimai.timesheet", sheet.external_id,
            after=timesheet_snapshot(sheet) | {"source_id": entry.external_id},
            ticket=conflict.ticket_number,
        )  # fmt: skip
        closed = _close(
            conflict, actor, Action.CREATE, kimai_id=sheet.external_id, detail="adopted"
        )
    return Resolution(
        closed,
        f"Kimai timesheet #{sheet.external_id} already carried this entry's marker: linked it "
        "instead of booking the entry twice.",
        sheet.external_id,
    )


def _update(conflict: Conflict, params: ResolutionParams, actor: str, sides: Sides) -> Resolution:
    entry = _current_entry(conflict, sides)
    link = Link.objects.filter(profile_id=conflict.profile_id, source_id=conflict.source_id).first()
    kimai_id = link.kimai_id if link is not None else conflict.kimai_id
    sheet = _existing_sheet(conflict, kimai_id, sides, link)
    plan, draft = _planned(conflict, entry, actor, sides)
    made_link = link is None
    if link is None:
        _linked_elsewhere(conflict, kimai_id)
        # Linked before the write, so a crash leaves an intent the next run can verify; the
        # empty source fingerprint makes that run update again if this write never landed.
        link = Link.objects.create(
            profile_id=conflict.profile_id, source_id=entry.external_id, kimai_id=kimai_id,
            marker=plan.marker, origin=Link.Origin.LINKED,
            ticket_id=entry.ticket.id if entry.ticket else "", booked_at=entry.booked_at,
            source_fingerprint="", target_fingerprint=sheet.fingerprint,
        )  # fmt: skip
    writer = KimaiWriter(conflict.profile, sides.target, None, actor)
    result = writer.update(entry, link, draft, sheet)
    sides.forget_kimai()
    if made_link and result.result in RunItem.NOT_WRITTEN:
        link.delete()
    return _settled(conflict, Action.UPDATE, result, actor, "Updated Kimai timesheet #{kimai_id}.")


def _link(conflict: Conflict, params: ResolutionParams, actor: str, sides: Sides) -> Resolution:
    entry = _current_entry(conflict, sides)
    kimai_id = params.kimai_id
    link = Link.objects.filter(profile_id=conflict.profile_id, source_id=conflict.source_id).first()
    sheet = _existing_sheet(conflict, kimai_id, sides, link)
    _linked_elsewhere(conflict, kimai_id)
    values = {
        "kimai_id": kimai_id, "marker": link.marker if link else marker_for(entry),
        "ticket_id": entry.ticket.id if entry.ticket else "", "booked_at": entry.booked_at,
        "source_fingerprint": entry.fingerprint, "target_fingerprint": sheet.fingerprint,
        "source_changed_at": entry.changed_at,
    }  # fmt: skip
    with transaction.atomic():
        if link is None:
            Link.objects.create(
                profile_id=conflict.profile_id, source_id=entry.external_id,
                origin=Link.Origin.LINKED, **values,
            )  # fmt: skip
        else:
            Link.objects.filter(pk=link.pk).update(**values)
        audit.record(
            actor, "kimai.timesheet.link", "kimai.timesheet", kimai_id,
            after=timesheet_snapshot(sheet) | {"source_id": entry.external_id},
            ticket=conflict.ticket_number,
        )  # fmt: skip
        closed = _close(conflict, actor, Action.LINK, kimai_id=kimai_id, detail=kimai_id)
    return Resolution(
        closed, f"Linked Kimai timesheet #{kimai_id} as it is; nothing was written.", kimai_id
    )


def _skip(conflict: Conflict, params: ResolutionParams, actor: str, sides: Sides) -> Resolution:
    closed = _close(
        conflict, actor, Action.SKIP, status=Conflict.Status.SKIPPED, note=params.note.strip()
    )
    if conflict.source_fingerprint:
        message = "Skipped: the entry comes back only if it changes in Zammad."
    else:
        message = f"Skipped: Kimai timesheet #{conflict.kimai_id} stays as it is."
    return Resolution(closed, message)


def _delete(conflict: Conflict, params: ResolutionParams, actor: str, sides: Sides) -> Resolution:
    kimai_id = conflict.kimai_id
    if conflict.source_fingerprint:  # still in Zammad (no longer bookable): it must not change
        _current_entry(conflict, sides)
    link = Link.objects.filter(profile_id=conflict.profile_id, source_id=conflict.source_id).first()
    around = sheet_instant(conflict, kimai_id, link)
    sheet = sides.sheet(kimai_id, around) if around else None
    if around is not None and sheet is None:
        with transaction.atomic():
            Link.objects.filter(
                profile_id=conflict.profile_id, source_id=conflict.source_id
            ).delete()
            closed = _close(conflict, actor, Action.DELETE, kimai_id=kimai_id, detail="gone")
        return Resolution(
            closed, f"Kimai timesheet #{kimai_id} was already gone from Kimai.", kimai_id
        )
    if sheet is not None and _sheet_changed(sheet, _seen_sheet(conflict, kimai_id)):
        raise ResolutionRefused(
            f"Kimai timesheet #{kimai_id} was edited in Kimai since the conflict was recorded; "
            "deleting it would lose that edit. Nothing was deleted.",
            recheck=True,
        )
    marker = link.marker if link else str((conflict.source_snapshot or {}).get("marker") or "")
    writer = KimaiWriter(conflict.profile, sides.target, None, actor)
    result = writer.delete(conflict.source_id, kimai_id, marker, sheet)
    sides.forget_kimai()
    return _settled(conflict, Action.DELETE, result, actor, "Deleted Kimai timesheet #{kimai_id}.")


# What each action does once it fits; RECHECK is handled by the caller (it writes nothing).
ACTIONS = {
    Action.CREATE: _create,
    Action.UPDATE: _update,
    Action.LINK: _link,
    Action.SKIP: _skip,
    Action.DELETE: _delete,
}
