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

The pieces: what fits a conflict (``resolution_choices``), both sides read again (``sides``), the
actions carried out (``resolution_actions``); this module holds the lock, the checks, deciding
again and bulk resolutions, and is what callers import.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog

from apps.connectors.http import ExternalServiceError
from apps.sync.locks import profile_lock
from apps.sync.models import Conflict, Run, WriteIntent
from apps.sync.resolution_actions import (
    ACTIONS,
    Resolution,
    ResolutionParams,
    ResolutionRefused,
    sheet_instant,
)
from apps.sync.resolution_choices import (
    ACTION_LABELS,
    BULK_ACTIONS,
    Action,
    Choice,
    choices,
    kind_hint,
    version_of,
)
from apps.sync.services import request_run
from apps.sync.sides import SHEET_WINDOW, Sides

logger = structlog.get_logger("zks.sync.resolutions")

# How long a resolution waits for a run of the same profile to finish before it gives up.
LOCK_WAIT_SECONDS = 5.0
# Re-evaluating more tickets than this after a mapping fix is one window run instead.
MAX_TICKET_RUNS = 10

__all__ = [
    "ACTION_LABELS",
    "BULK_ACTIONS",
    "Action",
    "BulkOutcome",
    "Choice",
    "ItemResult",
    "Resolution",
    "ResolutionParams",
    "ResolutionRefused",
    "Sides",
    "apply_bulk",
    "apply_resolution",
    "choices",
    "exclusive",
    "kind_hint",
    "reevaluate",
    "resolve_locked",
    "version_of",
]


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


# -- the lock --------------------------------------------------------------------------------------
BUSY_MESSAGE = (
    "A sync run is working on these entries right now. Nothing was changed: try again when it "
    "has finished."
)


@contextmanager
def exclusive(profile_id: int, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the profile's lock (waiting a little for a run to finish); runs asked for meanwhile
    are woken when it is let go (apps/sync/locks.py)."""
    wait = LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    while True:
        with profile_lock(profile_id) as acquired:
            if acquired:
                yield
                return
        if time.monotonic() >= deadline:
            raise ResolutionRefused(BUSY_MESSAGE, ResolutionRefused.BUSY)
        time.sleep(0.1)


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
    handler = ACTIONS[action]
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
        instants = [at for c in group if (at := sheet_instant(c, c.kimai_id) or c.booked_at)]
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
