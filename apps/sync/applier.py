"""Applying a run's decisions: links and conflicts in PostgreSQL, writes to Kimai.

:class:`Applier` carries out what reconciliation decided; every write to Kimai goes through
:class:`~apps.sync.writer.KimaiWriter` (a committed intent, the marker in the same request, a
marker search before anything is sent twice). :func:`create_planned_project` makes the customers
and projects rules create on first use, each once per run.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog
from django.db import connection, transaction

from apps.connectors.base import TargetConnector, TimesheetDraft
from apps.connectors.concurrency import behind_others, own_work
from apps.connectors.http import ExternalServiceError
from apps.core import audit
from apps.mappings.engine import TimesheetPlan
from apps.mappings.models import MappingProfile
from apps.mappings.reference import record_created
from apps.sync.conflicts import (
    close_open_conflict,
    conflict_values,
    open_new_conflicts,
    save_conflict,
)
from apps.sync.models import Conflict, Link, Outcome, Run, RunItem, WriteIntent
from apps.sync.reconcile import Decision, KimaiIndex
from apps.sync.reference_guard import ReferenceGuard
from apps.sync.writer import (
    ALREADY_OPEN,
    KimaiWriter,
    Sent,
    Write,
    WriteResult,
    draft_payload,
    timesheet_snapshot,
)

if TYPE_CHECKING:
    from apps.sync.engine import SyncJob

logger = structlog.get_logger("zks.sync")

# Groups of writes recorded ahead of the one being settled: the senders keep working while the
# bookkeeping waits on PostgreSQL (on a busy 2-core machine a group's settle took as long as
# its requests). More groups ahead mean more open intents for the next run to look up after a
# crash, nothing more.
GROUPS_AHEAD = 3
# Writes left with the senders when a batch's apply returns, in groups: they are sent while the
# run's thread reads, plans and reconciles the next batch, which left Kimai idle for about a
# tenth of a first sync when every batch waited for its last answer. At 16 at once and 20 ms
# a write, 16 groups are about 0.4 s of work; more would only leave more intents recorded
# ahead for the next run to look up after a crash.
RESERVE_GROUPS = 16
PROGRESS_EVERY = 50
WRITES = (Outcome.CREATE, Outcome.UPDATE, Outcome.DELETE)


def create_planned_project(
    profile: MappingProfile,
    target: TargetConnector,
    plan: TimesheetPlan,
    actor: str,
    run_id: int | None,
    customers_made: dict[tuple[str, str], str],
) -> str:
    """Create the project (and customer) a rule wants on first use; returns the project id.
    ``customers_made`` keeps the customers made so far, so a run creates each one once."""
    target_conn = profile.target
    wanted = plan.project_to_create
    assert wanted is not None
    customer_id = wanted.customer_id
    if customer_id is None and plan.customer_to_create is not None:
        need = plan.customer_to_create
        ckey = (need.link_scope, need.link_key)
        if ckey not in customers_made:
            made = target.create_customer(need.name)
            record_created(target_conn, need.link_scope, need.link_key, made)
            audit.record(
                actor, "kimai.customer.create", "kimai.customer", made.id,
                after={"name": made.name}, run_id=run_id,
            )  # fmt: skip
            customers_made[ckey] = made.id
        customer_id = customers_made[ckey]
    if customer_id is None:
        raise ExternalServiceError(
            f"no Kimai customer to create project {wanted.name!r} under", permanent=True
        )
    project = target.create_project(
        wanted.name, customer_id, global_activities=wanted.global_activities
    )
    record_created(target_conn, wanted.link_scope, wanted.link_key, project)
    audit.record(
        actor, "kimai.project.create", "kimai.project", project.id,
        after={"name": project.name, "customer_id": customer_id}, run_id=run_id,
    )  # fmt: skip
    return str(project.id)


# -- applying decisions -------------------------------------------------------------------------
class Applier:
    """Carries out decisions: links and conflicts here, Kimai writes through :class:`KimaiWriter`.

    Writes are sent on ``max_concurrent_requests`` threads (Kimai has no bulk create; the
    HTTP seam's adaptive limit bounds requests in flight) that touch no database; their
    bookkeeping is done in groups on the run's own thread and connection (:meth:`_run_writes`).
    """

    def __init__(
        self,
        job: SyncJob,
        target: TargetConnector,
        index: KimaiIndex,
        people: dict[tuple[int, str], int],
    ) -> None:
        self.job = job
        self.target = target
        self.index = index
        self.people = people
        self.open_conflicts = set(
            Conflict.objects.filter(profile=job.profile, status=Conflict.Status.OPEN).values_list(
                "source_id", flat=True
            )
        )
        self.projects_made: dict[tuple[str, str], str] = {}
        self.customers_made: dict[tuple[str, str], str] = {}
        self.done = 0  # counted on the run's thread only (the senders do HTTP alone)
        self.guard = ReferenceGuard(job.profile.target)
        self._writes = _Writes(job, target)

    def apply(self, decisions: list[Decision]) -> list[RunItem]:
        """Carry out ``decisions`` (against ``self.index``); the items of what is done,
        earlier batches' writes included. Up to ``RESERVE_GROUPS`` groups of writes may still
        be on their way when it returns: :meth:`settle_writes` waits for them."""
        items: list[RunItem] = []
        writes: list[Decision] = []
        conflicts: list[Decision] = []
        with own_work():
            for decision in decisions:
                if decision.outcome in WRITES:
                    writes.append(decision)
                elif decision.outcome == Outcome.CONFLICT:
                    conflicts.append(decision)
                    items.append(self.job._item(decision, self.people, RunItem.Result.NOTHING))
                else:
                    items.append(self._without_write(decision))
                    self._progress()
            self._conflicts(conflicts)
            self._progress(len(conflicts))
        self._create_missing_projects(writes)
        if writes:
            self._writes.extend(writes, self.index)
            self._pump(keep=self._writes.reserve)
        return items + self._writes.take_finished()

    def settle_writes(self) -> list[RunItem]:
        """Send and settle every write handed over; their items."""
        if self._writes.waiting or self._writes.in_flight:
            self._pump(keep=0)
        return self._writes.take_finished()

    def must_settle_before(self, source_ids: Iterable[str]) -> bool:
        """Whether writes on their way could change what reading Kimai and the links for
        ``source_ids`` finds: one of those entries is among them, or an update or delete is
        (it moves or removes a timesheet, which could shift a page of Kimai's list, ordered by
        begin, under a read and hide a timesheet; a create only adds one, which shows a
        timesheet twice at worst, and the reader drops ids it has seen)."""
        pending = self._writes.pending
        return self._writes.changes > 0 or any(sid in pending for sid in source_ids)

    @property
    def can_settle(self) -> bool:
        """False once the bookkeeping of the writes itself failed: send nothing more."""
        return not self._writes.broken

    def close(self) -> None:
        """Stop the senders; writes not sent yet are dropped (their intents stay open, and the
        next run settles them before anything is sent again)."""
        self._writes.close()

    def _progress(self, n: int = 1) -> None:
        self.done += n
        done = self.done
        if n and done // PROGRESS_EVERY != (done - n) // PROGRESS_EVERY:
            # The run page shows the limit on requests in flight as it moves.
            Run.objects.filter(pk=self.job.run.pk).update(
                done=done, figures=self.job.figures(with_p95=False)
            )

    def _agent_person(self, decision: Decision) -> int | None:
        entry = decision.entry
        if entry is None or entry.agent is None:
            return None
        return self.people.get((self.job.profile.source_id, entry.agent.id))

    # -- decisions that write nothing to Kimai ------------------------------------------------
    def _without_write(self, decision: Decision) -> RunItem:
        job, profile = self.job, self.job.profile
        if decision.outcome == Outcome.ADOPT and decision.entry is not None:
            sheet = self.index.by_id[decision.kimai_id]
            entry = decision.entry
            with transaction.atomic():
                Link.objects.update_or_create(
                    profile=profile, source_id=entry.external_id,
                    defaults={
                        "kimai_id": sheet.external_id, "origin": Link.Origin.ADOPTED,
                        "marker": decision.plan.marker if decision.plan else "",
                        "ticket_id": entry.ticket.id if entry.ticket else "",
                        "booked_at": entry.booked_at,
                        "source_fingerprint": entry.fingerprint,
                        "target_fingerprint": sheet.fingerprint,
                        "source_changed_at": entry.changed_at,
                    },
                )  # fmt: skip
                audit.record(
                    job.actor, "kimai.timesheet.adopt", "kimai.timesheet", sheet.external_id,
                    after=timesheet_snapshot(sheet) | {"source_id": entry.external_id},
                    run_id=job.run.pk, ticket=entry.ticket.number or "" if entry.ticket else "",
                )  # fmt: skip
                if entry.external_id in self.open_conflicts:
                    close_open_conflict(profile, entry.external_id, "adopted", job.actor, job.run)
            return job._item(decision, self.people, RunItem.Result.DONE)
        if decision.outcome == Outcome.IN_SYNC and decision.entry is not None:
            if decision.refresh_link:
                Link.objects.filter(profile=profile, source_id=decision.source_id).update(
                    source_fingerprint=decision.entry.fingerprint,
                    source_changed_at=decision.entry.changed_at,
                )
            if decision.source_id in self.open_conflicts:
                close_open_conflict(profile, decision.source_id, "in sync", job.actor, job.run)
        return job._item(decision, self.people, RunItem.Result.NOTHING)

    def _conflict(
        self, decision: Decision, kind: str, reason: str, index: KimaiIndex | None = None
    ) -> None:
        save_conflict(
            self.job.profile, decision.source_id,
            self._conflict_values(decision, kind, reason, index),
            maybe_open=decision.source_id in self.open_conflicts,
        )  # fmt: skip

    def _conflicts(self, decisions: list[Decision]) -> None:
        """The conflicts ``decisions`` found: those of entries with none open in one INSERT."""
        new: list[tuple[str, dict[str, Any]]] = []
        for decision in decisions:
            if decision.source_id in self.open_conflicts:
                self._conflict(decision, decision.conflict_kind, decision.reason)
            else:
                values = self._conflict_values(decision, decision.conflict_kind, decision.reason)
                new.append((decision.source_id, values))
        open_new_conflicts(self.job.profile, new)

    def _conflict_values(
        self, decision: Decision, kind: str, reason: str, index: KimaiIndex | None = None
    ) -> dict[str, Any]:
        """``index``: the Kimai timesheets ``decision`` was made against (a write's answer can
        come after the next batch replaced ``self.index``)."""
        by_id = (index or self.index).by_id
        sheet = by_id.get(decision.kimai_id) if decision.kimai_id else None
        candidates = [timesheet_snapshot(by_id[k]) for k in decision.candidates if k in by_id]
        return conflict_values(
            self.job.run, kind, reason, entry=decision.entry, plan=decision.plan,
            agent_person_id=self._agent_person(decision),
            target_snapshot=timesheet_snapshot(sheet) if sheet else None,
            candidates=candidates, kimai_id=decision.kimai_id,
        )  # fmt: skip

    # -- projects and customers that rules create on first use ---------------------------------
    def _create_missing_projects(self, writes: list[Decision]) -> None:
        for decision in writes:
            plan = decision.plan
            if plan is None or plan.project_to_create is None:
                continue
            wanted = plan.project_to_create
            key = (wanted.link_scope, wanted.link_key)
            if key in self.projects_made:
                continue
            try:
                self.projects_made[key] = self._make_project(plan)
            except ExternalServiceError as error:
                logger.warning("project_creation_failed", project=wanted.name, error=error.message)

    def _make_project(self, plan: TimesheetPlan) -> str:
        return create_planned_project(
            self.job.profile, self.target, plan, self.job.actor, self.job.run.pk,
            self.customers_made,
        )  # fmt: skip

    def _draft(self, decision: Decision) -> TimesheetDraft | None:
        plan = decision.plan
        if plan is None:
            return None
        if plan.project_to_create is not None:
            wanted = plan.project_to_create
            project_id = self.projects_made.get((wanted.link_scope, wanted.link_key))
            return plan.draft_for_project(project_id) if project_id else None
        return plan.draft

    # -- writes ------------------------------------------------------------------------------------
    def _pump(self, keep: int) -> None:
        """Record and hand over waiting writes, settling answers as they come, until every
        waiting write is with the senders and at most ``keep`` of them are unanswered.

        Writes are sent on up to ``max_concurrent_requests`` threads that only do HTTP; this
        thread, on the run's one database connection, records the intents of a group of
        writes in one INSERT (committed before any of them is sent) and settles what was
        answered in one transaction per group. Up to GROUPS_AHEAD + 1 groups are recorded and
        not yet settled, so the senders have work while this thread waits on PostgreSQL; the
        last ``keep`` writes are recorded at once and left with the senders."""
        writes = self._writes
        writes.senders.grow(min(writes.group, len(writes.waiting) + writes.in_flight))
        try:
            while True:
                if writes.waiting and len(writes.waiting) + writes.in_flight <= keep:
                    self._hand_over(len(writes.waiting))
                if not writes.waiting and writes.in_flight <= keep:
                    break
                if writes.waiting and writes.in_flight <= writes.ahead:
                    self._hand_over(writes.group)
                    continue
                self._settle(writes.senders.answered(min(writes.in_flight, writes.group)))
            self._settle(writes.senders.answered(0))  # what has come meanwhile
        except BaseException:
            writes.broken = True
            raise
        if writes.errors and keep:
            self._pump(keep=0)  # as the batch would have: its writes all end, then the run
        if writes.errors:
            raise writes.errors[0]

    def _hand_over(self, count: int) -> None:
        writes = self._writes
        chosen = [writes.waiting.popleft() for _ in range(min(count, len(writes.waiting)))]
        planned: list[tuple[_Pending, Write]] = []
        links = self._links_of(
            [p.decision.source_id for p in chosen if p.decision.outcome != Outcome.CREATE]
        )
        for pending in chosen:
            write = self._write_of(pending, links)
            if isinstance(write, Write):
                planned.append((pending, write))
            else:
                writes.finished.append(self._finish(pending, write))
        recorded = {id(w) for w in writes.writer.record_intents([w for _, w in planned])}
        for pending, write in planned:
            if id(write) in recorded:
                writes.senders.put(pending, write)
                writes.in_flight += 1
            else:
                result = WriteResult("", RunItem.Result.FAILED, error=ALREADY_OPEN)
                writes.finished.append(self._finish(pending, result))

    def _links_of(self, source_ids: list[str]) -> dict[str, Link]:
        if not source_ids:
            return {}
        links = Link.objects.filter(profile=self.job.profile, source_id__in=source_ids)
        return {link.source_id: link for link in links}

    def _write_of(self, pending: _Pending, links: dict[str, Link]) -> Write | WriteResult:
        """What to send for ``pending``, or why nothing is sent."""
        decision, by_id = pending.decision, pending.index.by_id
        if decision.outcome == Outcome.DELETE:
            link = links.get(decision.source_id)
            before = by_id.get(decision.kimai_id)
            marker = link.marker if link else ""
            operation = WriteIntent.Operation.DELETE
            return Write(
                operation, decision.source_id, marker, decision.kimai_id, {}, before=before
            )
        draft, entry = self._draft(decision), decision.entry
        if draft is None or entry is None or decision.plan is None:
            return WriteResult(
                "", RunItem.Result.FAILED,
                error="the Kimai project this entry needs could not be created",
            )  # fmt: skip
        if (hidden := self.guard.blocked(draft)) is not None:
            kind = Conflict.Kind.HIDDEN_IN_KIMAI
            return WriteResult("", RunItem.Result.NOTHING, error=hidden, conflict_kind=kind)
        payload = draft_payload(draft, entry.fingerprint)
        if decision.outcome == Outcome.CREATE:
            operation, marker = WriteIntent.Operation.CREATE, decision.plan.marker
            return Write(operation, entry.external_id, marker, "", payload, entry, draft)
        link = links.get(entry.external_id)
        if link is None:
            raise Link.DoesNotExist(f"no link for entry {entry.external_id} to update")
        return Write(
            WriteIntent.Operation.UPDATE, entry.external_id, link.marker, link.kimai_id, payload,
            entry, draft, link, by_id.get(link.kimai_id),
        )  # fmt: skip

    def _settle(self, answered: list[tuple[_Pending, Sent | BaseException]]) -> None:
        """Settle answered writes in one transaction (one by one if that fails, so only the
        write at fault stays open); their items go with the finished ones."""
        writes = self._writes
        writes.in_flight -= len(answered)
        sent: list[tuple[_Pending, Sent]] = []
        for pending, answer in answered:
            if isinstance(answer, Sent):
                sent.append((pending, answer))
            else:
                writes.errors.append(answer)
                writes.forget(pending)
        try:
            writes.writer.settle([s for _, s in sent])
        except Exception:
            settled = []
            for pending, one in sent:
                try:
                    writes.writer.settle([one])
                except Exception as error:  # its intent stays open; surfaced after the run
                    writes.errors.append(error)
                    writes.forget(pending)
                else:
                    settled.append((pending, one))
            sent = settled
        writes.finished += [self._finish(p, self._explained(s)) for p, s in sent]

    def _explained(self, sent: Sent) -> WriteResult:
        result = sent.result
        draft = sent.write.draft
        if result.conflict_kind and draft is not None:
            # Refused because the project or activity was hidden in Kimai meanwhile? Then say
            # so, and send nothing more on it in this run.
            self.guard.refused(result.error)
            hidden = self.guard.blocked(draft)
            if hidden is not None:
                kind = Conflict.Kind.HIDDEN_IN_KIMAI
                result = replace(result, conflict_kind=kind, error=f"{hidden} ({result.error})")
        return result

    def _finish(self, pending: _Pending, result: WriteResult) -> RunItem:
        job, decision = self.job, pending.decision
        self._writes.forget(pending)
        if result.conflict_kind:
            self._conflict(decision, result.conflict_kind, result.error, pending.index)
        elif result.result == RunItem.Result.DONE and decision.source_id in self.open_conflicts:
            close_open_conflict(
                job.profile, decision.source_id, f"synced ({result.applied})", job.actor, job.run
            )
        self._progress()
        return job._item(decision, self.people, result.result, result)


@dataclass(slots=True, eq=False)
class _Pending:
    """A write on its way, with the Kimai timesheets its decision was made against."""

    decision: Decision
    index: KimaiIndex


class _Writes:
    """A run's writes from the moment a batch hands them over until they are settled: those
    waiting for their intents, how many the senders have, what was finished since the last
    batch took it, and the errors to raise."""

    def __init__(self, job: SyncJob, target: TargetConnector) -> None:
        self.waiting: deque[_Pending] = deque()
        self.in_flight = 0
        self.pending: Counter[str] = Counter()  # source ids waiting or in flight
        self.changes = 0  # updates and deletes among them
        self.finished: list[RunItem] = []
        self.errors: list[BaseException] = []
        self.broken = False
        self.writer = KimaiWriter(job.profile, target, job.run, job.actor)
        self.senders = Senders(self.writer.send)  # its threads start with the first writes
        self.group = target.http.tuning.max_concurrent_requests
        self.ahead, self.reserve = GROUPS_AHEAD * self.group, RESERVE_GROUPS * self.group
        if connection.in_atomic_block:
            # Tests inside a transaction: one write at a time, each settled before the next is
            # recorded, so they see what a one-at-a-time run does.
            self.group, self.ahead, self.reserve = 1, 0, 0

    def extend(self, decisions: list[Decision], index: KimaiIndex) -> None:
        for decision in decisions:
            self.waiting.append(_Pending(decision, index))
            self.pending[decision.source_id] += 1
            if decision.outcome != Outcome.CREATE:
                self.changes += 1

    def forget(self, pending: _Pending) -> None:
        """``pending`` is finished (or failed for good)."""
        decision = pending.decision
        self.pending[decision.source_id] -= 1
        if not self.pending[decision.source_id]:
            del self.pending[decision.source_id]
        if decision.outcome != Outcome.CREATE:
            self.changes -= 1

    def take_finished(self) -> list[RunItem]:
        finished, self.finished = self.finished, []
        return finished

    def close(self) -> None:
        self.senders.stop(drop=True)


class Senders:
    """Threads that send writes to Kimai and touch no database (they need no connection).
    ``tag`` is whatever the caller wants back with each answer."""

    def __init__(self, send: Callable[[Write], Sent]) -> None:
        self._send = send
        self._todo: queue.SimpleQueue[tuple[Any, Write] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[tuple[Any, Sent | BaseException]] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    def grow(self, threads: int) -> None:
        """At least ``threads`` threads (a run of three writes starts three, not sixteen)."""
        while len(self._threads) < threads:
            thread = threading.Thread(
                target=self._work, name=f"sync-send-{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, *, drop: bool) -> None:
        """Let the threads end once they are done; ``drop``: send nothing more of what is
        queued (those intents stay open)."""
        if drop:
            while True:
                try:
                    self._todo.get_nowait()
                except queue.Empty:
                    break
        for _ in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def put(self, tag: Any, write: Write) -> None:
        self._todo.put((tag, write))

    def answered(self, at_least: int) -> list[tuple[Any, Sent | BaseException]]:
        """At least ``at_least`` answered writes (waiting for them), and any more at hand."""
        answered = [self._done.get() for _ in range(at_least)]
        while True:
            try:
                answered.append(self._done.get_nowait())
            except queue.Empty:
                return answered

    def _work(self) -> None:
        # The run's reads (the next batch's timesheets) are not kept waiting behind the writes
        # queued for the same connection.
        with behind_others():
            while (job := self._todo.get()) is not None:
                tag, write = job
                try:
                    self._done.put((tag, self._send(write)))
                except BaseException as error:  # surfaced by the run, never swallowed
                    self._done.put((tag, error))
