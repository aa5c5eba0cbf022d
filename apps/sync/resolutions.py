"""Resolving conflicts: a person decides what the sync could not, with the sync's own machinery.

Every resolution

* holds the profile's advisory lock (``profile_lock``), so it never races a run or another
  resolution of the same Zammad → Kimai pair;
* reads both sides again (the entry from Zammad, the timesheet from Kimai) and refuses when either
  changed since the conflict was recorded: the person decided on what the page showed;
* writes to Kimai only through :class:`~apps.sync.writer.KimaiWriter` (committed intent, marker in
  the same POST, marker search before anything is sent twice);
* records an audit event with the actor, before and after.

When it cannot, it raises :class:`ResolutionRefused` with a message for a person: the conflict stays
open and nothing is lost. Bulk resolutions apply the same function item by item under one lock.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from apps.connectors.base import SourceConnector, TargetConnector, TimesheetDraft
from apps.connectors.entry import TimeEntry
from apps.connectors.http import ExternalServiceError
from apps.core import audit
from apps.mappings.engine import MappingContext, TimesheetPlan, marker_for, plan_timesheet
from apps.mappings.lookups import ticket_facts
from apps.mappings.models import MappingProfile
from apps.sync.applier import create_planned_project
from apps.sync.conflicts import plan_snapshot
from apps.sync.engine import mapping_context
from apps.sync.locks import profile_lock
from apps.sync.models import Conflict, Link, Run, RunItem, WriteIntent
from apps.sync.services import enqueue_run, request_run
from apps.sync.writer import KimaiWriter, WriteResult, timesheet_snapshot

logger = structlog.get_logger("zks.sync.resolutions")

# How long a resolution waits for a run of the same profile to finish before it gives up.
LOCK_WAIT_SECONDS = 5.0
# Kimai timesheets are looked up in a window around their begin (the connector has no GET by id).
SHEET_WINDOW = timedelta(days=1)
# Re-evaluating more tickets than this after a mapping fix is one window run instead.
MAX_TICKET_RUNS = 10
# Fields of a planned timesheet that must still be what the person saw.
PLANNED_FIELDS = (
    "user", "begin", "end", "duration", "customer", "project", "activity", "description",
    "billable", "tags",
)  # fmt: skip
SHEET_FIELDS = (
    "user_id", "duration_seconds", "project_id", "activity_id", "description", "billable",
)  # fmt: skip


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    LINK = "link"
    SKIP = "skip"
    DELETE = "delete"
    RECHECK = "recheck"


ACTION_LABELS = {
    Action.CREATE: "Create in Kimai",
    Action.UPDATE: "Update Kimai",
    Action.LINK: "Link to this Kimai timesheet",
    Action.SKIP: "Skip",
    Action.DELETE: "Delete in Kimai",
    Action.RECHECK: "Check again",
}
# What a bulk resolution can apply: actions that need no per-conflict choice.
BULK_ACTIONS = (Action.SKIP, Action.CREATE, Action.UPDATE, Action.DELETE, Action.RECHECK)


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
class Choice:
    """An action that fits a conflict, as offered to a person."""

    action: str
    label: str
    hint: str
    kimai_id: str = ""
    danger: bool = False


@dataclass(frozen=True)
class Resolution:
    conflict: Conflict
    message: str
    kimai_id: str = ""
    run_id: int | None = None


@dataclass(frozen=True)
class ItemResult:
    """One conflict of a bulk resolution."""

    conflict_id: int
    ok: bool
    message: str
    reason: str = ""
    ticket_number: str = ""
    kimai_id: str = ""
    run_id: int | None = None


@dataclass
class BulkOutcome:
    results: list[ItemResult] = field(default_factory=list)
    remaining: list[int] = field(default_factory=list)  # not reached within the time budget


# -- what fits a conflict --------------------------------------------------------------------------
def version_of(conflict: Conflict) -> str:
    """Changes whenever what a person decides on changes (a run saw something new)."""
    relevant = [
        conflict.status, conflict.kind, conflict.reason, conflict.source_fingerprint,
        conflict.kimai_id, conflict.target_snapshot,
        [c.get("id") for c in conflict.candidates or [] if isinstance(c, dict)],
    ]  # fmt: skip
    canonical = json.dumps(relevant, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _marker_taken(conflict: Conflict) -> bool:
    """Whether the candidates carry this entry's own marker (then creating is never right)."""
    marker = (conflict.source_snapshot or {}).get("marker") or ""
    return bool(marker) and any(
        marker in str(c.get("description") or "") for c in conflict.candidates or []
    )


def choices(conflict: Conflict) -> list[Choice]:
    """The actions that fit an open conflict, best first."""
    if conflict.status != Conflict.Status.OPEN:
        return []
    kind, kimai_id = conflict.kind, conflict.kimai_id
    skip = Choice(
        Action.SKIP, "Skip",
        "Leave this entry alone; it comes back only if it changes in Zammad.",
    )  # fmt: skip
    recheck = Choice(
        Action.RECHECK, "Check again",
        "Sync this ticket again now, e.g. after changing a mapping or a rule.",
    )  # fmt: skip
    create = Choice(Action.CREATE, "Create in Kimai", "Book the Zammad entry as a new timesheet.")
    K = Conflict.Kind
    if kind == K.AMBIGUOUS_MATCH:
        links = [
            Choice(
                Action.LINK,
                f"Link to #{c['id']}",
                "This Kimai timesheet is the entry: link it as it is, write nothing.",
                kimai_id=str(c["id"]),
            )  # fmt: skip
            for c in conflict.candidates or []
            if isinstance(c, dict) and c.get("id")
        ]
        return [*links, *([] if _marker_taken(conflict) else [create]), skip]
    if kind == K.DURATION_MISMATCH:
        return [
            Choice(
                Action.UPDATE, f"Update Kimai #{kimai_id}",
                "Give the Kimai timesheet Zammad's values (and link it).", kimai_id=kimai_id,
            ),
            Choice(
                Action.LINK, f"Link to #{kimai_id} as it is",
                "Accept Kimai's duration: link the timesheet, write nothing.", kimai_id=kimai_id,
            ),
            Choice(
                Action.CREATE, "Create another",
                "The Kimai timesheet is other work: book this entry as a new timesheet.",
            ),
            skip,
        ]  # fmt: skip
    if kind == K.CHANGED_IN_KIMAI:
        if not conflict.target_snapshot:
            gone = Choice(
                Action.CREATE, "Create in Kimai again",
                "The timesheet is gone from Kimai: book the entry as a new one.",
            )  # fmt: skip
            return [gone, skip]
        return [
            Choice(
                Action.UPDATE, "Zammad wins: update Kimai",
                "Overwrite the edit made in Kimai with Zammad's values.", kimai_id=kimai_id,
            ),
            Choice(
                Action.LINK, "Kimai wins: keep it as it is",
                "Keep the Kimai timesheet; the Zammad edit is not written.", kimai_id=kimai_id,
            ),
            skip,
        ]  # fmt: skip
    if kind == K.SOURCE_DELETED:
        delete = Choice(
            Action.DELETE, f"Delete Kimai #{kimai_id}",
            "The entry is gone from Zammad: delete its timesheet in Kimai.",
            kimai_id=kimai_id, danger=True,
        )  # fmt: skip
        keep = Choice(Action.SKIP, "Keep it in Kimai", "Leave the Kimai timesheet alone.")
        return [delete, keep]
    if kind in (K.REJECTED, K.LOCKED):
        if not conflict.source_fingerprint:
            retry = Choice(
                Action.DELETE, "Try to delete again", "Send the delete to Kimai once more.",
                kimai_id=kimai_id, danger=True,
            )  # fmt: skip
        elif kimai_id:
            retry = Choice(Action.UPDATE, "Try again", "Send the update to Kimai once more.")
        else:
            retry = Choice(Action.CREATE, "Try again", "Send the entry to Kimai once more.")
        return [retry, recheck, skip]
    return [recheck, skip]


def kind_hint(conflict: Conflict) -> str:
    """What a person can do about a conflict of this kind, beyond the action buttons."""
    K = Conflict.Kind
    hints: dict[str, str] = {
        K.UNMAPPED_USER: "Map this agent to a Kimai user; the affected entries are checked again.",
        K.UNMAPPED_ACTIVITY: "Map this activity type to a Kimai activity; the affected entries "
        "are checked again.",
        K.NO_MATCHING_RULE: "Add or change a rule on the Mappings page, then check again.",
        K.BROKEN_RULE: "Fix the rule on the Mappings page, then check again.",
        K.INVALID_ACTIVITY: "Choose an activity Kimai allows on the project, then check again.",
        K.HIDDEN_IN_KIMAI: "Make the record visible in Kimai (or choose another one in the rule "
        "or mapping), then check again: the sync never creates a second one of the same name.",
        K.LOCKED: "Kimai locks exported timesheets and lockdown periods: unlock it in Kimai, "
        "then try again.",
    }
    return hints.get(conflict.kind, "")


# -- both systems, read fresh ----------------------------------------------------------------------
class Sides:
    """Zammad and Kimai as they are now, read lazily and cached for one resolution or batch."""

    def __init__(self, profile: MappingProfile) -> None:
        self.profile = profile
        self._source: SourceConnector | None = None
        self._target: TargetConnector | None = None
        self._tickets: dict[str, list[TimeEntry]] = {}
        self._windows: dict[tuple[datetime, datetime], dict[str, TimeEntry]] = {}
        self._context: MappingContext | None = None
        self.customers_made: dict[tuple[str, str], str] = {}

    def __enter__(self) -> Sides:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for connector in (self._source, self._target):
            if connector is not None:
                connector.close()

    @property
    def source(self) -> SourceConnector:
        if self._source is None:
            connector = self.profile.source.connector()
            assert isinstance(connector, SourceConnector)
            self._source = connector
        return self._source

    @property
    def target(self) -> TargetConnector:
        if self._target is None:
            connector = self.profile.target.connector()
            assert isinstance(connector, TargetConnector)
            self._target = connector
        return self._target

    def entry(self, conflict: Conflict) -> TimeEntry | None:
        ticket_id = conflict.ticket_id or str(
            ((conflict.source_snapshot or {}).get("entry") or {}).get("ticket_id") or ""
        )
        if not ticket_id:
            return None
        if ticket_id not in self._tickets:
            self._tickets[ticket_id] = self.source.fetch_entries_of_ticket(ticket_id)
        return next(
            (e for e in self._tickets[ticket_id] if e.external_id == conflict.source_id), None
        )

    def plan(self, entry: TimeEntry) -> TimesheetPlan:
        if self._context is None:
            self._context = mapping_context(
                self.profile, self.source, [entry], refresh_if_stale=False
            )
        context = self._context
        ticket = entry.ticket.id if entry.ticket else None
        if context.needs_ticket_details and ticket and ticket not in context.tickets:
            facts, _groups = ticket_facts(self.source, {ticket}, context.needs_ticket_tags)
            context.remember_tickets(facts.values())
        return plan_timesheet(entry, context)

    def sheet(self, kimai_id: str, around: datetime) -> TimeEntry | None:
        """Kimai timesheet ``kimai_id`` if it still begins within a day of ``around``."""
        day = around.replace(hour=0, minute=0, second=0, microsecond=0)
        window = (day - SHEET_WINDOW, day + 2 * SHEET_WINDOW)
        if window not in self._windows:
            sheets = self.target.fetch_timesheets_in_window(*window)
            self._windows[window] = {s.external_id: s for s in sheets}
        return self._windows[window].get(kimai_id)

    def forget_kimai(self) -> None:
        """After a write, the next lookup must see Kimai as it is now."""
        self._windows.clear()


# -- the lock --------------------------------------------------------------------------------------
BUSY_MESSAGE = (
    "A sync run is working on these entries right now. Nothing was changed: try again when it "
    "has finished."
)


@contextmanager
def exclusive(profile_id: int, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the profile's lock (waiting a little for a run to finish), then wake runs that were
    asked for meanwhile: their worker found the lock taken and left them queued."""
    wait = LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    held = False
    try:
        while True:
            with profile_lock(profile_id) as acquired:
                if acquired:
                    held = True
                    yield
                    return
            if time.monotonic() >= deadline:
                raise ResolutionRefused(BUSY_MESSAGE, ResolutionRefused.BUSY)
            time.sleep(0.1)
    finally:
        if held:
            _wake_waiting_run(profile_id)


def _wake_waiting_run(profile_id: int) -> None:
    waiting = (
        Run.objects.filter(profile_id=profile_id, status=Run.Status.QUEUED)
        .order_by("created_at", "id")
        .first()
    )
    if waiting is not None:  # a second task for it is harmless: runs are claimed atomically
        enqueue_run(waiting)


# -- resolving one conflict ------------------------------------------------------------------------
def apply_resolution(
    conflict: Conflict, action: str, params: ResolutionParams, actor: str
) -> Resolution:
    """Carry out ``action`` on ``conflict`` for ``actor``; raises ResolutionRefused."""
    chosen = _action(action)
    if chosen == Action.RECHECK:
        return _recheck(_fresh(conflict.pk), params, actor)
    try:
        with exclusive(conflict.profile_id), Sides(conflict.profile) as sides:
            return resolve_locked(conflict.pk, chosen, params, actor, sides)
    except ResolutionRefused as refused:
        raise _with_recheck(refused, conflict.pk, actor) from None


def resolve_locked(
    conflict_id: int, action: Action, params: ResolutionParams, actor: str, sides: Sides
) -> Resolution:
    """The resolution itself; the caller holds the profile's lock."""
    conflict = _fresh(conflict_id)
    _check(conflict, action, params)
    handler = {
        Action.CREATE: _create,
        Action.UPDATE: _update,
        Action.LINK: _link,
        Action.SKIP: _skip,
        Action.DELETE: _delete,
    }[action]
    try:
        return handler(conflict, params, actor, sides)
    except ExternalServiceError as error:
        service = error.service.capitalize() or "Zammad or Kimai"
        raise ResolutionRefused(
            f"{service} did not answer as expected ({error.message}). Nothing was changed.",
            ResolutionRefused.UNAVAILABLE,
        ) from None


def _action(value: str) -> Action:
    try:
        return Action(value)
    except ValueError:
        names = ", ".join(a.value for a in Action)
        raise ResolutionRefused(
            f"Unknown action {value!r}: choose one of {names}.", ResolutionRefused.INVALID
        ) from None


def _fresh(conflict_id: int) -> Conflict:
    conflict = (
        Conflict.objects.select_related("profile__source", "profile__target")
        .filter(pk=conflict_id)
        .first()
    )
    if conflict is None:
        raise ResolutionRefused(f"There is no conflict {conflict_id}.", ResolutionRefused.INVALID)
    return conflict


def _check_open(conflict: Conflict) -> None:
    if conflict.status == Conflict.Status.OPEN:
        return
    when = f" on {conflict.resolved_at:%Y-%m-%d %H:%M}" if conflict.resolved_at else ""
    who = f" by {conflict.resolved_by}" if conflict.resolved_by else ""
    what = "skipped" if conflict.status == Conflict.Status.SKIPPED else "resolved"
    raise ResolutionRefused(
        f"This conflict was already {what}{who}{when}. Nothing was changed.",
        ResolutionRefused.DONE,
    )


def _check(conflict: Conflict, action: Action, params: ResolutionParams) -> None:
    _check_open(conflict)
    if params.version and params.version != version_of(conflict):
        raise ResolutionRefused(
            "This conflict changed since you opened it (a sync run saw something new). "
            "Nothing was changed: look at it again, then decide.",
            ResolutionRefused.STALE,
        )
    if action == Action.RECHECK:
        return  # deciding an open conflict again always fits, and writes nothing
    fitting = [c for c in choices(conflict) if c.action == action]
    if not fitting:
        raise ResolutionRefused(
            f"“{ACTION_LABELS[action]}” does not fit this conflict "
            f"({conflict.get_kind_display()}).",
            ResolutionRefused.INVALID,
        )
    if action == Action.LINK and params.kimai_id not in {c.kimai_id for c in fitting}:
        offered = ", ".join(f"#{c.kimai_id}" for c in fitting)
        raise ResolutionRefused(
            f"Choose the Kimai timesheet to link: {offered}.", ResolutionRefused.INVALID
        )
    if WriteIntent.objects.filter(
        profile_id=conflict.profile_id, source_id=conflict.source_id,
        state__in=WriteIntent.OPEN_STATES,
    ).exists():  # fmt: skip
        raise ResolutionRefused(
            "A write of this entry to Kimai is still being verified; the next sync run settles "
            "it. Nothing was changed: try again after that run.",
            ResolutionRefused.STALE,
        )


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


def _around(conflict: Conflict, kimai_id: str, link: Link | None = None) -> datetime | None:
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
    around = _around(conflict, kimai_id, link)
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
    around = _around(conflict, kimai_id, link)
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


# -- deciding again --------------------------------------------------------------------------------
def reevaluate(conflicts: Iterable[Conflict], actor: str) -> list[Run]:
    """Ask for runs that decide these conflicts' entries again: one per ticket, or one window
    run when there are many tickets or entries without one."""
    by_profile: dict[int, list[Conflict]] = {}
    for conflict in conflicts:
        by_profile.setdefault(conflict.profile_id, []).append(conflict)
    runs: list[Run] = []
    for group in by_profile.values():
        profile = group[0].profile
        tickets = sorted({c.ticket_id for c in group if c.ticket_id})
        instants = [at for c in group if (at := _around(c, c.kimai_id) or c.booked_at)]
        if len(tickets) <= MAX_TICKET_RUNS and all(c.ticket_id for c in group):
            for ticket_id in tickets:
                run, _ = request_run(
                    profile, scope=Run.Scope.TICKET, trigger=Run.Trigger.MANUAL, actor=actor,
                    ticket_id=ticket_id,
                )  # fmt: skip
                runs.append(run)
        elif instants:
            start = min(instants).replace(hour=0, minute=0, second=0, microsecond=0)
            end = max(instants).replace(hour=0, minute=0, second=0, microsecond=0)
            run, _ = request_run(
                profile, scope=Run.Scope.WINDOW, trigger=Run.Trigger.MANUAL, actor=actor,
                start=start - SHEET_WINDOW, end=end + 2 * SHEET_WINDOW,
            )  # fmt: skip
            runs.append(run)
    return runs


def _recheck(conflict: Conflict, params: ResolutionParams, actor: str) -> Resolution:
    _check(conflict, Action.RECHECK, params)
    runs = reevaluate([conflict], actor)
    conflict.refresh_from_db()
    if not runs:
        raise ResolutionRefused(
            "There is nothing to sync this conflict again with (no ticket, no date).",
            ResolutionRefused.INVALID,
        )
    run = runs[0]
    if run.finished:
        state = "it is decided again" if conflict.status == Conflict.Status.OPEN else "resolved"
        message = f"Synced {run.describe_scope()} again (run {run.pk}): {state}."
    else:
        message = f"Queued a sync of {run.describe_scope()} (run {run.pk}); it decides this again."
    return Resolution(conflict, message, run_id=run.pk)


def _with_recheck(refused: ResolutionRefused, conflict_id: int, actor: str) -> ResolutionRefused:
    """A refusal because a side changed: queue a run that decides the conflict again."""
    if not refused.recheck:
        return refused
    conflict = Conflict.objects.select_related("profile").filter(pk=conflict_id).first()
    if conflict is None or conflict.status != Conflict.Status.OPEN:
        return refused
    runs = reevaluate([conflict], actor)
    if runs:
        refused.message += f" (Run {runs[0].pk} was asked for.)"
    return refused


# -- many at once ----------------------------------------------------------------------------------
def apply_bulk(
    conflict_ids: Iterable[int],
    action: str,
    params: ResolutionParams,
    actor: str,
    *,
    budget_seconds: float | None = None,
) -> BulkOutcome:
    """Apply one action to many conflicts, each on its own; a refusal affects that item only.

    With ``budget_seconds``, stops after that long and returns the ids not reached, so a page can
    show progress between batches. Raises ResolutionRefused (busy) if a run holds the profile."""
    chosen = _action(action)
    if chosen not in BULK_ACTIONS:
        raise ResolutionRefused(
            f"“{ACTION_LABELS[chosen]}” needs a choice per conflict; it cannot be applied to many.",
            ResolutionRefused.INVALID,
        )
    ids = list(dict.fromkeys(conflict_ids))
    conflicts = {
        c.pk: c
        for c in Conflict.objects.select_related("profile__source", "profile__target").filter(
            pk__in=ids
        )
    }
    outcome = BulkOutcome()
    if chosen == Action.RECHECK:
        outcome.results = _bulk_recheck(ids, conflicts, params, actor)
        return outcome
    started = time.monotonic()
    rechecks: list[Conflict] = []
    for profile_id in dict.fromkeys(c.profile_id for c in conflicts.values()):
        mine = [i for i in ids if i in conflicts and conflicts[i].profile_id == profile_id]
        with exclusive(profile_id), Sides(conflicts[mine[0]].profile) as sides:
            for index, conflict_id in enumerate(mine):
                late = budget_seconds is not None and time.monotonic() - started > budget_seconds
                if late and outcome.results:  # at least one per call, so a batch always moves
                    outcome.remaining += mine[index:]
                    break
                outcome.results.append(
                    _bulk_item(conflicts[conflict_id], chosen, params, actor, sides, rechecks)
                )
    outcome.results += [
        ItemResult(i, False, f"There is no conflict {i}.", ResolutionRefused.INVALID)
        for i in ids
        if i not in conflicts
    ]
    if rechecks:
        reevaluate(rechecks, actor)
    return outcome


def _bulk_item(
    conflict: Conflict,
    action: Action,
    params: ResolutionParams,
    actor: str,
    sides: Sides,
    rechecks: list[Conflict],
) -> ItemResult:
    try:
        done = resolve_locked(conflict.pk, action, params, actor, sides)
    except ResolutionRefused as refused:
        if refused.recheck:
            rechecks.append(conflict)
        return ItemResult(
            conflict.pk, False, refused.message, refused.reason, conflict.ticket_number
        )
    return ItemResult(
        conflict.pk, True, done.message, "", conflict.ticket_number, done.kimai_id, done.run_id
    )


def _bulk_recheck(
    ids: list[int], conflicts: Mapping[int, Conflict], params: ResolutionParams, actor: str
) -> list[ItemResult]:
    results: list[ItemResult] = []
    fitting: list[Conflict] = []
    for conflict_id in ids:
        conflict = conflicts.get(conflict_id)
        if conflict is None:
            results.append(
                ItemResult(conflict_id, False, f"There is no conflict {conflict_id}.", "invalid")
            )
            continue
        try:
            _check(conflict, Action.RECHECK, params)
        except ResolutionRefused as refused:
            results.append(
                ItemResult(
                    conflict_id, False, refused.message, refused.reason, conflict.ticket_number
                )
            )
            continue
        fitting.append(conflict)
    runs = reevaluate(fitting, actor)
    described = ", ".join(f"run {r.pk} ({r.describe_scope()})" for r in runs)
    results += [
        ItemResult(
            c.pk,
            True,
            f"Asked to sync again: {described}.",
            "",
            c.ticket_number,
            run_id=runs[0].pk if runs else None,
        )  # fmt: skip
        for c in fitting
    ]
    return results
