"""Writing to Kimai exactly once.

Every write follows the same protocol (reliability.md, "Idempotency"):

1. record a :class:`WriteIntent` and commit it, so a crash at any later point leaves a trace;
2. send the request, with the entry's marker in the description of a create;
3. on success, commit the link, the settled intent and the audit event together;
4. on an *uncertain* failure (a timeout or 5xx after the request was sent), search Kimai for the
   marker: adopt what is there, or send once more; if even that is uncertain, the intent stays
   open and the next run settles it before anything is sent again;
5. on a permanent refusal, keep Kimai's own message as a conflict for a person.

At most one open intent per entry (a partial unique index) makes a second writer back off.
"""

from __future__ import annotations

from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.connectors.base import TargetConnector, TimesheetDraft
from apps.connectors.entry import TimeEntry
from apps.connectors.http import ExternalServiceError
from apps.core import audit
from apps.mappings.models import MappingProfile
from apps.sync.models import Conflict, Link, Outcome, Run, RunItem, WriteIntent

logger = structlog.get_logger("zks.sync.writer")

LOCKED_MESSAGES = ("This period is locked", "already exported")


@dataclass(frozen=True)
class WriteResult:
    applied: str
    result: str
    kimai_id: str = ""
    error: str = ""
    conflict_kind: str = ""
    sheet: TimeEntry | None = None


def draft_payload(draft: TimesheetDraft, source_fingerprint: str) -> dict[str, Any]:
    return {
        "begin": draft.begin.isoformat(),
        "duration_seconds": draft.duration_seconds,
        "project_id": draft.project_id,
        "activity_id": draft.activity_id,
        "user_id": draft.user_id,
        "description": draft.description,
        "tags": list(draft.tags),
        "billable": draft.billable,
        "source_fingerprint": source_fingerprint,
    }


def draft_from_payload(payload: dict[str, Any]) -> TimesheetDraft:
    return TimesheetDraft(
        begin=datetime.fromisoformat(payload["begin"]),
        duration_seconds=int(payload["duration_seconds"]),
        project_id=str(payload["project_id"]),
        activity_id=str(payload["activity_id"]),
        user_id=payload.get("user_id"),
        description=payload.get("description") or "",
        tags=tuple(payload.get("tags") or ()),
        billable=payload.get("billable"),
    )


def _refusal(error: ExternalServiceError) -> tuple[str, str]:
    """Kimai's words for a permanent refusal, field by field, and the conflict kind."""
    parts = [error.message]
    for name, messages in (error.field_errors or {}).items():
        label = "form" if name in ("__root__", "") else name
        parts.append(f"{label}: {' '.join(messages)}")
    text = "Kimai refused the write: " + "; ".join(dict.fromkeys(parts))
    locked = error.status == 403 or any(m in text for m in LOCKED_MESSAGES)
    return text, Conflict.Kind.LOCKED if locked else Conflict.Kind.REJECTED


class KimaiWriter:
    def __init__(
        self, profile: MappingProfile, target: TargetConnector, run: Run | None, actor: str
    ) -> None:
        self.profile = profile
        self.target = target
        self.run = run
        self.actor = actor

    # -- intents -----------------------------------------------------------------------------------
    def _open_intent(
        self, source_id: str, operation: str, marker: str, kimai_id: str, payload: dict[str, Any]
    ) -> WriteIntent | None:
        """Record the intent and commit it; None if another write of this entry is open.

        Outside a transaction the INSERT commits on its own (one round trip to PostgreSQL, not
        three with BEGIN and COMMIT); inside one (tests) a savepoint keeps it usable after a
        refused duplicate."""
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                return WriteIntent.objects.create(
                    profile=self.profile, source_id=source_id, operation=operation,
                    marker=marker, kimai_id=kimai_id, run=self.run, payload=payload,
                )  # fmt: skip
        except IntegrityError:
            return None

    def _settle(self, intent: WriteIntent, state: str, kimai_id: str = "", error: str = "") -> None:
        WriteIntent.objects.filter(pk=intent.pk).update(
            state=state, kimai_id=kimai_id or intent.kimai_id, error=error[:2000]
        )

    def _ticket_of(self, entry: TimeEntry | None) -> str:
        return entry.ticket.number or "" if entry and entry.ticket else ""

    # -- create ------------------------------------------------------------------------------------
    def create(self, entry: TimeEntry, marker: str, draft: TimesheetDraft) -> WriteResult:
        intent = self._open_intent(
            entry.external_id, WriteIntent.Operation.CREATE, marker, "",
            draft_payload(draft, entry.fingerprint),
        )  # fmt: skip
        if intent is None:
            return WriteResult(
                "", RunItem.Result.FAILED,
                error="another write of this entry is still open; it is settled first",
            )  # fmt: skip
        for attempt in (1, 2):
            try:
                sheet = self.target.create_timesheet(draft)
            except ExternalServiceError as error:
                if error.uncertain:
                    found, searched = self._find_marked(marker)
                    if found is not None:  # our own POST went through after all
                        return self._linked(intent, entry, marker, found, Outcome.CREATE)
                    if attempt == 1 and searched:
                        continue  # verified absent: sending again cannot duplicate
                    self._settle(intent, WriteIntent.State.UNCERTAIN, error=error.message)
                    return WriteResult(
                        Outcome.CREATE, RunItem.Result.UNCERTAIN, error=error.message
                    )
                if error.permanent:
                    message, kind = _refusal(error)
                    self._settle(intent, WriteIntent.State.FAILED, error=message)
                    return WriteResult(
                        "", RunItem.Result.REFUSED, error=message, conflict_kind=kind
                    )
                # Not sent, or refused before anything was written (connect error, 503, 429
                # after the retry budget): nothing to verify; the next run tries again.
                self._settle(intent, WriteIntent.State.ABANDONED, error=error.message)
                return WriteResult("", RunItem.Result.FAILED, error=error.message)
            return self._linked(intent, entry, marker, sheet, Outcome.CREATE)
        raise AssertionError("unreachable: the loop returns")  # pragma: no cover

    def _find_marked(self, marker: str) -> tuple[TimeEntry | None, bool]:
        """The timesheet carrying ``marker`` (or None), and whether Kimai answered the search."""
        try:
            found = self.target.search_by_marker(marker)
        except ExternalServiceError as error:
            logger.warning("marker_search_failed", marker=marker, error=error.message)
            return None, False
        return (found[0] if found else None), True

    def _linked(
        self, intent: WriteIntent, entry: TimeEntry, marker: str, sheet: TimeEntry, how: str
    ) -> WriteResult:
        origin = Link.Origin.CREATED if how == Outcome.CREATE else Link.Origin.ADOPTED
        with transaction.atomic():
            # A new entry has no link: insert (one query); the unique constraint still guards.
            Link.objects.create(
                profile=self.profile, source_id=entry.external_id, kimai_id=sheet.external_id,
                marker=marker, origin=origin, ticket_id=entry.ticket.id if entry.ticket else "",
                booked_at=entry.booked_at, source_fingerprint=entry.fingerprint,
                target_fingerprint=sheet.fingerprint, source_changed_at=entry.changed_at,
            )  # fmt: skip
            self._settle(intent, WriteIntent.State.DONE, kimai_id=sheet.external_id)
            audit.record(
                self.actor, f"kimai.timesheet.{'create' if how == Outcome.CREATE else 'adopt'}",
                "kimai.timesheet", sheet.external_id,
                after=timesheet_snapshot(sheet), run_id=self.run.pk if self.run else None,
                ticket=self._ticket_of(entry),
            )  # fmt: skip
        return WriteResult(how, RunItem.Result.DONE, kimai_id=sheet.external_id, sheet=sheet)

    # -- update ------------------------------------------------------------------------------------
    def update(
        self, entry: TimeEntry, link: Link, draft: TimesheetDraft, before: TimeEntry | None
    ) -> WriteResult:
        intent = self._open_intent(
            entry.external_id, WriteIntent.Operation.UPDATE, link.marker, link.kimai_id,
            draft_payload(draft, entry.fingerprint),
        )  # fmt: skip
        if intent is None:
            return WriteResult(
                "", RunItem.Result.FAILED,
                error="another write of this entry is still open; it is settled first",
            )  # fmt: skip
        sheet: TimeEntry | None = None
        for attempt in (1, 2):
            try:
                sheet = self.target.update_timesheet(link.kimai_id, draft)
                break
            except ExternalServiceError as error:
                # The same PATCH twice leaves the same record: safe to send again once.
                if error.uncertain and attempt == 1:
                    continue
                if error.uncertain:
                    self._settle(intent, WriteIntent.State.UNCERTAIN, error=error.message)
                    return WriteResult(
                        Outcome.UPDATE, RunItem.Result.UNCERTAIN, link.kimai_id, error.message
                    )
                if error.permanent:
                    message, kind = _refusal(error)
                    self._settle(intent, WriteIntent.State.FAILED, error=message)
                    return WriteResult(
                        "", RunItem.Result.REFUSED, link.kimai_id, message, conflict_kind=kind
                    )
                self._settle(intent, WriteIntent.State.ABANDONED, error=error.message)
                return WriteResult("", RunItem.Result.FAILED, link.kimai_id, error.message)
        assert sheet is not None
        with transaction.atomic():
            Link.objects.filter(pk=link.pk).update(
                source_fingerprint=entry.fingerprint, target_fingerprint=sheet.fingerprint,
                booked_at=entry.booked_at, ticket_id=entry.ticket.id if entry.ticket else "",
                source_changed_at=entry.changed_at,
            )  # fmt: skip
            self._settle(intent, WriteIntent.State.DONE, kimai_id=link.kimai_id)
            audit.record(
                self.actor, "kimai.timesheet.update", "kimai.timesheet", link.kimai_id,
                before=timesheet_snapshot(before) if before else None,
                after=timesheet_snapshot(sheet), run_id=self.run.pk if self.run else None,
                ticket=self._ticket_of(entry),
            )  # fmt: skip
        return WriteResult(Outcome.UPDATE, RunItem.Result.DONE, link.kimai_id, sheet=sheet)

    # -- delete ------------------------------------------------------------------------------------
    def delete(
        self, source_id: str, kimai_id: str, marker: str, before: TimeEntry | None
    ) -> WriteResult:
        intent = self._open_intent(source_id, WriteIntent.Operation.DELETE, marker, kimai_id, {})
        if intent is None:
            return WriteResult(
                "", RunItem.Result.FAILED,
                error="another write of this entry is still open; it is settled first",
            )  # fmt: skip
        try:
            self.target.delete_timesheet(kimai_id)
        except ExternalServiceError as error:
            if error.permanent:
                message, kind = _refusal(error)
                self._settle(intent, WriteIntent.State.FAILED, error=message)
                return WriteResult("", RunItem.Result.REFUSED, kimai_id, message, kind)
            state = WriteIntent.State.UNCERTAIN if error.uncertain else WriteIntent.State.ABANDONED
            self._settle(intent, state, error=error.message)
            result = RunItem.Result.UNCERTAIN if error.uncertain else RunItem.Result.FAILED
            return WriteResult(Outcome.DELETE, result, kimai_id, error.message)
        with transaction.atomic():
            Link.objects.filter(profile=self.profile, source_id=source_id).delete()
            self._settle(intent, WriteIntent.State.DONE, kimai_id=kimai_id)
            audit.record(
                self.actor, "kimai.timesheet.delete", "kimai.timesheet", kimai_id,
                before=timesheet_snapshot(before) if before else None,
                run_id=self.run.pk if self.run else None,
            )  # fmt: skip
        return WriteResult(Outcome.DELETE, RunItem.Result.DONE, kimai_id)

    # -- settling what a crash or an outage left open ------------------------------------------
    def settle_open_intents(self, sheets: dict[str, TimeEntry] | None = None) -> Counter[str]:
        """Decide every open intent of the profile by looking at Kimai. Returns how many were
        found applied ("applied") and not ("not_applied"); each settled intent remembers this
        run as ``settled_by``, so the run that left it open can say how it ended."""
        settled: Counter[str] = Counter()
        for intent in WriteIntent.objects.filter(
            profile=self.profile, state__in=WriteIntent.OPEN_STATES
        ):
            if intent.operation == WriteIntent.Operation.CREATE:
                done = self._settle_create(intent)
            elif intent.operation == WriteIntent.Operation.UPDATE:
                done = self._settle_update(intent, sheets)
            else:
                done = self._settle_delete(intent)
            if not done:
                continue
            state = WriteIntent.objects.filter(pk=intent.pk).values_list("state", flat=True)[0]
            settled["applied" if state == WriteIntent.State.DONE else "not_applied"] += 1
            if self.run is not None:
                WriteIntent.objects.filter(pk=intent.pk).update(settled_by=self.run)
        return settled

    def _settle_create(self, intent: WriteIntent) -> int:
        found, searched = self._find_marked(intent.marker)
        if not searched:
            return 0  # Kimai does not answer: leave it open, nothing is sent for this entry
        recent = timezone.now() - intent.updated_at < self._in_flight_horizon()
        if found is None and intent.state == WriteIntent.State.PENDING and recent:
            # A pending intent is a crash between recording and hearing back: its request may
            # still be on its way, or still being saved by Kimai. "Not found" only means "not
            # applied" once it can no longer arrive.
            return 0
        with transaction.atomic():
            if found is None:
                self._settle(intent, WriteIntent.State.ABANDONED, error="not found in Kimai")
                return 1
            payload = intent.payload or {}
            Link.objects.update_or_create(
                profile=self.profile, source_id=intent.source_id,
                defaults={
                    "kimai_id": found.external_id, "marker": intent.marker,
                    "origin": Link.Origin.CREATED, "booked_at": found.booked_at,
                    "source_fingerprint": payload.get("source_fingerprint", ""),
                    "target_fingerprint": found.fingerprint,
                },
            )  # fmt: skip
            self._settle(intent, WriteIntent.State.DONE, kimai_id=found.external_id)
            audit.record(
                self.actor, "kimai.timesheet.create", "kimai.timesheet", found.external_id,
                after={**timesheet_snapshot(found), "verified_after": "an uncertain answer"},
                run_id=self.run.pk if self.run else None,
            )  # fmt: skip
        return 1

    def _in_flight_horizon(self) -> timedelta:
        """How long a request we sent can take at most (the seam's timeouts)."""
        tuning = self.target.http.tuning
        seconds = (
            tuning.connect_timeout_seconds
            + tuning.write_timeout_seconds
            + tuning.read_timeout_seconds
        )
        return timedelta(seconds=seconds)

    def _settle_update(self, intent: WriteIntent, sheets: dict[str, TimeEntry] | None) -> int:
        sheet = (sheets or {}).get(intent.kimai_id)
        if sheet is None:
            return 0
        from apps.sync.reconcile import draft_matches

        applied = draft_matches(draft_from_payload(intent.payload), sheet)
        with transaction.atomic():
            if applied:
                Link.objects.filter(profile=self.profile, source_id=intent.source_id).update(
                    source_fingerprint=intent.payload.get("source_fingerprint", ""),
                    target_fingerprint=sheet.fingerprint,
                )
            state = WriteIntent.State.DONE if applied else WriteIntent.State.ABANDONED
            self._settle(intent, state)
        return 1

    def _settle_delete(self, intent: WriteIntent) -> int:
        # A repeated DELETE is harmless (Kimai answers 404, the connector says "already gone").
        try:
            self.target.delete_timesheet(intent.kimai_id)
        except ExternalServiceError:
            return 0
        with transaction.atomic():
            Link.objects.filter(profile=self.profile, source_id=intent.source_id).delete()
            self._settle(intent, WriteIntent.State.DONE)
        return 1


def timesheet_snapshot(sheet: TimeEntry) -> dict[str, Any]:
    """A Kimai timesheet as ids and values (no names), for audit events and conflicts."""
    return {
        "id": sheet.external_id,
        "user_id": sheet.agent.id if sheet.agent else None,
        "begin": (sheet.begin or sheet.booked_at).isoformat(),
        "end": sheet.end.isoformat() if sheet.end else None,
        "duration_seconds": sheet.duration_seconds,
        "project_id": sheet.project.id if sheet.project else None,
        "project": sheet.project.name if sheet.project else None,
        "customer_id": sheet.organization.id if sheet.organization else None,
        "customer": sheet.organization.name if sheet.organization else None,
        "activity_id": sheet.activity.id if sheet.activity else None,
        "activity": sheet.activity.name if sheet.activity else None,
        "description": sheet.description or "",
        "billable": sheet.billable,
        "tags": sorted(sheet.tags),
    }
