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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import connection, transaction
from django.utils import timezone

from apps.connectors.base import TargetConnector, TimesheetDraft
from apps.connectors.entry import TimeEntry
from apps.connectors.http import ExternalServiceError
from apps.core import audit
from apps.core.inserts import insert_rows, recordset, rows_json
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


@dataclass
class Write:
    """One write to Kimai: what is sent, and what the bookkeeping records before and after."""

    operation: str
    source_id: str
    marker: str
    kimai_id: str
    payload: dict[str, Any]
    entry: TimeEntry | None = None
    draft: TimesheetDraft | None = None
    link: Link | None = None  # an update's link
    before: TimeEntry | None = None  # the timesheet as it was, for the audit event
    intent_id: int | None = None  # once its intent is recorded


@dataclass(frozen=True)
class Sent:
    """How Kimai answered a write: the intent's new state and the result to report."""

    write: Write
    state: str
    result: WriteResult


ALREADY_OPEN = "another write of this entry is still open; it is settled first"


class KimaiWriter:
    """Writes through the protocol above, in three steps that a caller can run for many writes
    at once: :meth:`record_intents` (one committed INSERT), :meth:`send` (HTTP only: safe on any
    thread, touches no database), :meth:`settle` (one transaction). :meth:`create`,
    :meth:`update` and :meth:`delete` run the three for one write."""

    def __init__(
        self, profile: MappingProfile, target: TargetConnector, run: Run | None, actor: str
    ) -> None:
        self.profile = profile
        self.target = target
        self.run = run
        self.actor = actor

    # -- one write ---------------------------------------------------------------------------------
    def create(self, entry: TimeEntry, marker: str, draft: TimesheetDraft) -> WriteResult:
        payload = draft_payload(draft, entry.fingerprint)
        return self._one(
            Write(
                WriteIntent.Operation.CREATE, entry.external_id, marker, "", payload, entry, draft
            )
        )

    def update(
        self, entry: TimeEntry, link: Link, draft: TimesheetDraft, before: TimeEntry | None
    ) -> WriteResult:
        payload = draft_payload(draft, entry.fingerprint)
        return self._one(
            Write(
                WriteIntent.Operation.UPDATE, entry.external_id, link.marker, link.kimai_id,
                payload, entry, draft, link, before,
            )
        )  # fmt: skip

    def delete(
        self, source_id: str, kimai_id: str, marker: str, before: TimeEntry | None
    ) -> WriteResult:
        return self._one(
            Write(WriteIntent.Operation.DELETE, source_id, marker, kimai_id, {}, before=before)
        )

    def _one(self, write: Write) -> WriteResult:
        if not self.record_intents([write]):
            return WriteResult("", RunItem.Result.FAILED, error=ALREADY_OPEN)
        sent = self.send(write)
        self.settle([sent])
        return sent.result

    # -- 1. intents ---------------------------------------------------------------------------
    def record_intents(self, writes: list[Write]) -> list[Write]:
        """Record the intents of ``writes`` in one INSERT that commits at once (outside a
        transaction); returns the writes that got one (``intent_id`` set). A write of an entry
        with an open intent gets none (the partial unique index): it must not be sent."""
        if not writes:
            return []
        now = timezone.now()
        run_id = self.run.pk if self.run else None
        names = ["source_id", "operation", "marker", "kimai_id", "payload"]
        rows = [[w.source_id, w.operation, w.marker, w.kimai_id, w.payload] for w in writes]
        sql = (
            f"INSERT INTO {WriteIntent._meta.db_table} (profile_id, source_id, operation, marker, "
            "kimai_id, state, run_id, payload, error, created_at, updated_at) "
            "SELECT %s::bigint, r.source_id, r.operation, r.marker, r.kimai_id, 'pending', "
            "%s::bigint, r.payload, '', %s, %s "
            f"FROM {recordset(names, ['text', 'text', 'text', 'text', 'jsonb'])} "
            "ON CONFLICT DO NOTHING RETURNING id, source_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.profile.pk, run_id, now, now, rows_json(rows, names)])
            ids = {source_id: pk for pk, source_id in cursor.fetchall()}
        recorded = []
        for w in writes:
            w.intent_id = ids.pop(w.source_id, None)
            if w.intent_id is not None:
                recorded.append(w)
        return recorded

    # -- 2. the request -------------------------------------------------------------------------
    def send(self, write: Write) -> Sent:
        """Send ``write`` to Kimai (with a marker search and one more try where that is safe)."""
        if write.operation == WriteIntent.Operation.CREATE:
            return self._send_create(write)
        if write.operation == WriteIntent.Operation.UPDATE:
            return self._send_update(write)
        return self._send_delete(write)

    def _send_create(self, write: Write) -> Sent:
        assert write.draft is not None
        for attempt in (1, 2):
            try:
                sheet = self.target.create_timesheet(write.draft)
            except ExternalServiceError as error:
                if error.uncertain:
                    found, searched = self._find_marked(write.marker)
                    if found is not None:  # our own POST went through after all
                        return self._done(write, Outcome.CREATE, found.external_id, found)
                    if attempt == 1 and searched:
                        continue  # verified absent: sending again cannot duplicate
                    return self._undecided(write, Outcome.CREATE, "", error)
                return self._not_applied(write, "", error)
            return self._done(write, Outcome.CREATE, sheet.external_id, sheet)
        raise AssertionError("unreachable: the loop returns")  # pragma: no cover

    def _send_update(self, write: Write) -> Sent:
        assert write.draft is not None
        for attempt in (1, 2):
            try:
                sheet = self.target.update_timesheet(write.kimai_id, write.draft)
            except ExternalServiceError as error:
                # The same PATCH twice leaves the same record: safe to send again once.
                if error.uncertain and attempt == 1:
                    continue
                if error.uncertain:
                    return self._undecided(write, Outcome.UPDATE, write.kimai_id, error)
                return self._not_applied(write, write.kimai_id, error)
            return self._done(write, Outcome.UPDATE, write.kimai_id, sheet)
        raise AssertionError("unreachable: the loop returns")  # pragma: no cover

    def _send_delete(self, write: Write) -> Sent:
        try:
            self.target.delete_timesheet(write.kimai_id)
        except ExternalServiceError as error:
            if error.permanent:
                return self._not_applied(write, write.kimai_id, error)
            if error.uncertain:
                return self._undecided(write, Outcome.DELETE, write.kimai_id, error)
            return Sent(
                write, WriteIntent.State.ABANDONED,
                WriteResult(Outcome.DELETE, RunItem.Result.FAILED, write.kimai_id, error.message),
            )  # fmt: skip
        return self._done(write, Outcome.DELETE, write.kimai_id, None)

    def _done(self, write: Write, how: str, kimai_id: str, sheet: TimeEntry | None) -> Sent:
        result = WriteResult(how, RunItem.Result.DONE, kimai_id=kimai_id, sheet=sheet)
        return Sent(write, WriteIntent.State.DONE, result)

    def _undecided(
        self, write: Write, how: str, kimai_id: str, error: ExternalServiceError
    ) -> Sent:
        result = WriteResult(how, RunItem.Result.UNCERTAIN, kimai_id, error.message)
        return Sent(write, WriteIntent.State.UNCERTAIN, result)

    def _not_applied(self, write: Write, kimai_id: str, error: ExternalServiceError) -> Sent:
        if error.permanent:
            message, kind = _refusal(error)
            result = WriteResult("", RunItem.Result.REFUSED, kimai_id, message, conflict_kind=kind)
            return Sent(write, WriteIntent.State.FAILED, result)
        # Not sent, or refused before anything was written (connect error, 503, 429 after the
        # retry budget): nothing to verify; the next run tries again.
        result = WriteResult("", RunItem.Result.FAILED, kimai_id, error.message)
        return Sent(write, WriteIntent.State.ABANDONED, result)

    def _find_marked(self, marker: str) -> tuple[TimeEntry | None, bool]:
        """The timesheet carrying ``marker`` (or None), and whether Kimai answered the search."""
        try:
            found = self.target.search_by_marker(marker)
        except ExternalServiceError as error:
            logger.warning("marker_search_failed", marker=marker, error=error.message)
            return None, False
        return (found[0] if found else None), True

    # -- 3. settling ----------------------------------------------------------------------------
    def settle(self, sents: list[Sent]) -> None:
        """Commit what Kimai answered, in one transaction: links made, changed or removed, the
        intents settled, an audit event per applied write."""
        if not sents:
            return
        run_id = self.run.pk if self.run else None
        new_links: list[Link] = []
        gone: list[str] = []
        events: list[audit.Event] = []
        with transaction.atomic():
            for sent in sents:
                if sent.state != WriteIntent.State.DONE:
                    continue
                write, sheet = sent.write, sent.result.sheet
                entry = write.entry
                if write.operation == WriteIntent.Operation.CREATE:
                    assert entry is not None and sheet is not None
                    new_links.append(self._new_link(write, entry, sheet))
                    events.append(
                        audit.Event(
                            self.actor, "kimai.timesheet.create", "kimai.timesheet",
                            sheet.external_id, after=timesheet_snapshot(sheet), run_id=run_id,
                            ticket=self._ticket_of(entry),
                        )
                    )  # fmt: skip
                elif write.operation == WriteIntent.Operation.UPDATE:
                    assert entry is not None and sheet is not None and write.link is not None
                    Link.objects.filter(pk=write.link.pk).update(
                        source_fingerprint=entry.fingerprint,
                        target_fingerprint=sheet.fingerprint, booked_at=entry.booked_at,
                        ticket_id=entry.ticket.id if entry.ticket else "",
                        source_changed_at=entry.changed_at,
                    )  # fmt: skip
                    events.append(
                        audit.Event(
                            self.actor, "kimai.timesheet.update", "kimai.timesheet", write.kimai_id,
                            before=timesheet_snapshot(write.before) if write.before else None,
                            after=timesheet_snapshot(sheet), run_id=run_id,
                            ticket=self._ticket_of(entry),
                        )
                    )  # fmt: skip
                else:
                    gone.append(write.source_id)
                    events.append(
                        audit.Event(
                            self.actor, "kimai.timesheet.delete", "kimai.timesheet", write.kimai_id,
                            before=timesheet_snapshot(write.before) if write.before else None,
                            run_id=run_id,
                        )
                    )  # fmt: skip
            if new_links:
                # New entries have no link: one INSERT; the unique constraints still guard.
                insert_rows(new_links)
            if gone:
                Link.objects.filter(profile=self.profile, source_id__in=gone).delete()
            self._settle_intents(sents)
            audit.record_many(events)

    def _new_link(self, write: Write, entry: TimeEntry, sheet: TimeEntry) -> Link:
        return Link(
            profile=self.profile, source_id=entry.external_id, kimai_id=sheet.external_id,
            marker=write.marker, origin=Link.Origin.CREATED,
            ticket_id=entry.ticket.id if entry.ticket else "", booked_at=entry.booked_at,
            source_fingerprint=entry.fingerprint, target_fingerprint=sheet.fingerprint,
            source_changed_at=entry.changed_at,
        )  # fmt: skip

    def _settle_intents(self, sents: list[Sent]) -> None:
        """One UPDATE for all: each intent's state, Kimai id (kept if none is known) and error."""
        names = ["id", "state", "kimai_id", "error"]
        rows = [
            [
                sent.write.intent_id, sent.state, sent.result.kimai_id,
                sent.result.error[:2000] if sent.state != WriteIntent.State.DONE else "",
            ]
            for sent in sents
        ]  # fmt: skip
        sql = (
            f"UPDATE {WriteIntent._meta.db_table} AS intent SET state = r.state, "
            "kimai_id = COALESCE(NULLIF(r.kimai_id, ''), intent.kimai_id), error = r.error "
            f"FROM {recordset(names, ['bigint', 'text', 'text', 'text'])} WHERE intent.id = r.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [rows_json(rows, names)])

    def _settle(self, intent: WriteIntent, state: str, kimai_id: str = "", error: str = "") -> None:
        WriteIntent.objects.filter(pk=intent.pk).update(
            state=state, kimai_id=kimai_id or intent.kimai_id, error=error[:2000]
        )

    def _ticket_of(self, entry: TimeEntry | None) -> str:
        return entry.ticket.number or "" if entry and entry.ticket else ""

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
