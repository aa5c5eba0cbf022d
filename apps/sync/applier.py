"""Applying a run's decisions: links and conflicts in PostgreSQL, writes to Kimai.

:class:`Applier` carries out what reconciliation decided; every write to Kimai goes through
:class:`~apps.sync.writer.KimaiWriter` (a committed intent, the marker in the same request, a
marker search before anything is sent twice). :func:`create_planned_project` makes the customers
and projects rules create on first use, each once per run.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog
from django.db import close_old_connections, connection, transaction

from apps.connectors.base import TargetConnector, TimesheetDraft
from apps.connectors.entry import TimeEntry
from apps.connectors.http import ExternalServiceError
from apps.core import audit
from apps.mappings.engine import TimesheetPlan
from apps.mappings.models import MappingProfile
from apps.mappings.reference import record_created
from apps.sync.conflicts import close_open_conflict, record_conflict
from apps.sync.models import Conflict, Link, Outcome, Run, RunItem
from apps.sync.reconcile import Decision, KimaiIndex
from apps.sync.reference_guard import ReferenceGuard
from apps.sync.writer import KimaiWriter, WriteResult, timesheet_snapshot

if TYPE_CHECKING:
    from apps.sync.engine import SyncJob

logger = structlog.get_logger("zks.sync")

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

    Writes run on twice ``max_concurrent_requests`` threads (Kimai has no bulk create; the HTTP
    seam's adaptive limit bounds requests in flight); each thread has its own writer and
    database connection. Inside an outer transaction (tests), threads
    could not see its rows, so writes then run one by one on this thread.
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
        self.done = 0
        self.lock = threading.Lock()
        self.guard = ReferenceGuard(job.profile.target)

    def apply(self, decisions: list[Decision]) -> list[RunItem]:
        items: list[RunItem] = []
        writes: list[Decision] = []
        for decision in decisions:
            if decision.outcome in WRITES:
                writes.append(decision)
            else:
                items.append(self._without_write(decision))
                self._progress()
        self._create_missing_projects(writes)
        items += self._run_writes(writes)
        return items

    def _progress(self, n: int = 1) -> None:
        with self.lock:
            self.done += n
            done = self.done
        if done % PROGRESS_EVERY == 0:
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
        if decision.outcome == Outcome.CONFLICT:
            self._conflict(decision, decision.conflict_kind, decision.reason)
            return job._item(decision, self.people, RunItem.Result.NOTHING)
        if decision.outcome == Outcome.IN_SYNC and decision.entry is not None:
            if decision.refresh_link:
                Link.objects.filter(profile=profile, source_id=decision.source_id).update(
                    source_fingerprint=decision.entry.fingerprint,
                    source_changed_at=decision.entry.changed_at,
                )
            if decision.source_id in self.open_conflicts:
                close_open_conflict(profile, decision.source_id, "in sync", job.actor, job.run)
        return job._item(decision, self.people, RunItem.Result.NOTHING)

    def _conflict(self, decision: Decision, kind: str, reason: str) -> None:
        sheet = self.index.by_id.get(decision.kimai_id) if decision.kimai_id else None
        candidates = [
            timesheet_snapshot(self.index.by_id[k])
            for k in decision.candidates
            if k in self.index.by_id
        ]
        record_conflict(
            self.job.profile, self.job.run, decision.source_id, kind, reason,
            entry=decision.entry, plan=decision.plan,
            agent_person_id=self._agent_person(decision),
            target_snapshot=timesheet_snapshot(sheet) if sheet else None,
            candidates=candidates, kimai_id=decision.kimai_id,
            maybe_open=decision.source_id in self.open_conflicts,
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
    def _run_writes(self, writes: list[Decision]) -> list[RunItem]:
        if not writes:
            return []
        # Twice as many writers as the ceiling on requests in flight: while one thread does its
        # database bookkeeping, another holds the slot, so Kimai always has as many requests to
        # serve as the adaptive limit allows (the others wait in the limit, not on Kimai).
        threads = min(len(writes), 2 * self.target.http.tuning.max_concurrent_requests)
        if connection.in_atomic_block or threads <= 1:
            writer = KimaiWriter(self.job.profile, self.target, self.job.run, self.job.actor)
            return [self._write(writer, d) for d in writes]
        work: queue.SimpleQueue[Decision] = queue.SimpleQueue()
        for decision in writes:
            work.put(decision)
        results: list[RunItem] = []
        errors: list[BaseException] = []

        def worker() -> None:
            writer = KimaiWriter(self.job.profile, self.target, self.job.run, self.job.actor)
            try:
                while True:
                    try:
                        decision = work.get_nowait()
                    except queue.Empty:
                        return
                    item = self._write(writer, decision)
                    with self.lock:
                        results.append(item)
            except BaseException as error:  # surfaced below, never swallowed
                errors.append(error)
            finally:
                close_old_connections()
                connection.close()

        pool = [threading.Thread(target=worker, name=f"sync-write-{i}") for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        if errors:
            raise errors[0]
        return results

    def _send(
        self, writer: KimaiWriter, decision: Decision, entry: TimeEntry, draft: TimesheetDraft
    ) -> WriteResult:
        assert decision.plan is not None
        if decision.outcome == Outcome.CREATE:
            result = writer.create(entry, decision.plan.marker, draft)
        else:
            link = Link.objects.get(profile=self.job.profile, source_id=entry.external_id)
            result = writer.update(entry, link, draft, self.index.by_id.get(link.kimai_id))
        if result.conflict_kind:
            # Refused because the project or activity was hidden in Kimai meanwhile? Then say
            # so, and send nothing more on it in this run.
            self.guard.refused(result.error)
            hidden = self.guard.blocked(draft)
            if hidden is not None:
                kind = Conflict.Kind.HIDDEN_IN_KIMAI
                result = replace(result, conflict_kind=kind, error=f"{hidden} ({result.error})")
        return result

    def _write(self, writer: KimaiWriter, decision: Decision) -> RunItem:
        job = self.job
        entry = decision.entry
        result: WriteResult
        if decision.outcome == Outcome.DELETE:
            link = Link.objects.filter(profile=job.profile, source_id=decision.source_id).first()
            marker = link.marker if link else ""
            result = writer.delete(
                decision.source_id,
                decision.kimai_id,
                marker,
                self.index.by_id.get(decision.kimai_id),
            )
        else:
            draft = self._draft(decision)
            if draft is None or entry is None or decision.plan is None:
                result = WriteResult(
                    "", RunItem.Result.FAILED,
                    error="the Kimai project this entry needs could not be created",
                )  # fmt: skip
            elif (hidden := self.guard.blocked(draft)) is not None:
                result = WriteResult(
                    "", RunItem.Result.NOTHING, error=hidden,
                    conflict_kind=Conflict.Kind.HIDDEN_IN_KIMAI,
                )  # fmt: skip
            else:
                result = self._send(writer, decision, entry, draft)
        if result.conflict_kind:
            self._conflict(decision, result.conflict_kind, result.error)
        elif result.result == RunItem.Result.DONE and decision.source_id in self.open_conflicts:
            close_open_conflict(
                job.profile, decision.source_id, f"synced ({result.applied})", job.actor, job.run
            )
        self._progress()
        return job._item(decision, self.people, result.result, result)
