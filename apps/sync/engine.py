"""Running a sync: read Zammad, plan, reconcile with Kimai, write what is clear, flag the rest.

:func:`execute_run` is what the worker task, the CLI and tests call with a run's id. It takes the
profile's advisory lock (one run at a time per Zammad → Kimai pair), then works through every
queued run of the profile, so a trigger that arrives during a run is handled right after it.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.connectors.base import SourceConnector, TargetConnector, TimesheetDraft
from apps.connectors.entry import TimeEntry
from apps.connectors.http import ExternalServiceError
from apps.core import audit
from apps.gdpr.models import Person
from apps.mappings.engine import MappingContext, TimesheetPlan, plan_timesheet
from apps.mappings.lookups import ticket_facts
from apps.mappings.models import MappingProfile
from apps.mappings.reference import (
    match_users_by_email,
    record_created,
    refresh_reference,
    remember_agents,
)
from apps.sync.conflicts import close_open_conflict, record_conflict
from apps.sync.locks import profile_lock
from apps.sync.models import Conflict, Link, Outcome, Run, RunItem, SyncSettings
from apps.sync.reconcile import Decision, KimaiIndex, LinkState, Reconciler
from apps.sync.writer import KimaiWriter, WriteResult, timesheet_snapshot

logger = structlog.get_logger("zks.sync")

PROGRESS_EVERY = 50
KIMAI_WINDOW_MARGIN = timedelta(days=1)
REFERENCE_MAX_AGE = timedelta(hours=6)
WRITES = (Outcome.CREATE, Outcome.UPDATE, Outcome.DELETE)


def settings_of(profile: MappingProfile) -> SyncSettings:
    sync_settings, _ = SyncSettings.objects.get_or_create(profile=profile)
    return sync_settings


# -- running ------------------------------------------------------------------------------------
def execute_run(run_id: int) -> Run | None:
    """Run ``run_id`` and every run queued behind it for the same profile."""
    run = Run.objects.filter(pk=run_id).select_related("profile").first()
    if run is None:
        return None
    with profile_lock(run.profile_id) as acquired:
        if not acquired:
            logger.info("run_waits_for_lock", run=run.pk, profile=run.profile_id)
            return run  # the run holding the lock picks this one up when it finishes
        _fail_interrupted_runs(run.profile_id)
        next_id: int | None = run.pk
        while next_id is not None:
            _run_claimed(next_id)
            next_id = (
                Run.objects.filter(profile_id=run.profile_id, status=Run.Status.QUEUED)
                .order_by("created_at", "id")
                .values_list("id", flat=True)
                .first()
            )
    run.refresh_from_db()
    return run


def _fail_interrupted_runs(profile_id: int) -> None:
    """Runs marked running while we hold the lock died with their worker."""
    Run.objects.filter(profile_id=profile_id, status=Run.Status.RUNNING).update(
        status=Run.Status.FAILED,
        finished_at=timezone.now(),
        error="Interrupted: the worker stopped during the run. The next run settles what it "
        "left open (write intents are verified against Kimai before anything is sent again).",
    )


def _run_claimed(run_id: int) -> None:
    claimed = Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(
        status=Run.Status.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return
    run = Run.objects.select_related("profile__source", "profile__target").get(pk=run_id)
    log = logger.bind(run=run.pk, scope=run.scope, dry_run=run.dry_run)
    log.info("run_started")
    acting = audit.act_as(run.actor)
    try:
        counts = SyncJob(run).execute()
    except ExternalServiceError as error:
        _finish(run, Run.Status.FAILED, error=error.message)
        log.warning("run_failed", error=error.message)
        return
    except Exception as error:
        _finish(
            run, Run.Status.FAILED, error=f"Internal error: {error.__class__.__name__}: {error}"
        )
        log.exception("run_crashed")
        raise
    finally:
        audit.stop_acting(acting)
    log.info("run_finished", **counts)


def _finish(run: Run, status: str, error: str = "") -> None:
    Run.objects.filter(pk=run.pk).update(
        status=status, finished_at=timezone.now(), error=error[:4000]
    )


# -- one run ------------------------------------------------------------------------------------
@dataclass
class Scope:
    entries: list[TimeEntry]
    links_in_scope: list[LinkState]
    marked_window: tuple[datetime, datetime] | None
    newest_change: datetime | None = None


@dataclass
class SyncJob:
    run: Run
    profile: MappingProfile = field(init=False)
    settings: SyncSettings = field(init=False)
    actor: str = field(init=False)

    def __post_init__(self) -> None:
        self.profile = self.run.profile
        self.settings = settings_of(self.profile)
        self.actor = self.run.actor

    def execute(self) -> dict[str, int]:
        source = self.profile.source.connector()
        target = self.profile.target.connector()
        assert isinstance(source, SourceConnector) and isinstance(target, TargetConnector)
        try:
            counts = self._execute(source, target)
        finally:
            Run.objects.filter(pk=self.run.pk).update(
                requests_made=source.request_count + target.request_count
            )
            source.close()
            target.close()
        return counts

    def _execute(self, source: SourceConnector, target: TargetConnector) -> dict[str, int]:
        scope = self._read_source(source)
        if not scope.entries and not scope.links_in_scope:
            self._save_counts({}, {}, 0)
            self._advance_watermark(scope)
            _finish(self.run, Run.Status.SUCCEEDED)
            return {}
        context = self._mapping_context(source, scope.entries)
        plans = {e.external_id: plan_timesheet(e, context) for e in scope.entries}
        waiting = [
            e.changed_at
            for e in scope.entries
            if e.changed_at is not None and plans[e.external_id].waiting_reason
        ]
        if waiting and scope.newest_change is not None:
            # Work that ends in the future waits; the watermark stays where the next
            # incremental run reads that entry again.
            scope.newest_change = min(scope.newest_change, *waiting)
        sheets = self._read_kimai(target, scope, plans)
        links = {
            link.source_id: _link_state(link)
            for link in Link.objects.filter(
                profile=self.profile, source_id__in=[e.external_id for e in scope.entries]
            )
        }
        zones = {uid: info.zone for uid, info in context.kimai_users.items() if info.zone}
        index = KimaiIndex.build(
            sheets,
            self.profile.source_id,
            {link.kimai_id for link in links.values()} | {s.kimai_id for s in scope.links_in_scope},
            zones,
            context.default_zone,
        )
        writer = KimaiWriter(self.profile, target, self.run, self.actor)
        if not self.run.dry_run:
            writer.settle_open_intents(index.by_id)
            links = {
                link.source_id: _link_state(link)
                for link in Link.objects.filter(
                    profile=self.profile, source_id__in=[e.external_id for e in scope.entries]
                )
            }
        reconciler = Reconciler(
            source_connection_id=self.profile.source_id,
            index=index,
            links=links,
            deletion_policy=self.settings.deletion_policy,
            **self._skipped(scope),
            zones=zones,
            default_zone=context.default_zone,
        )  # fmt: skip
        decisions = [reconciler.decide(e, plans[e.external_id]) for e in scope.entries]
        decisions += reconciler.orphans(
            {e.external_id for e in scope.entries}, scope.links_in_scope, scope.marked_window
        )
        Run.objects.filter(pk=self.run.pk).update(total=len(decisions))
        people = self._people()
        if self.run.dry_run:
            items = [self._item(d, people, RunItem.Result.PLANNED) for d in decisions]
        else:
            items = Applier(self, target, index, people).apply(decisions)
        RunItem.objects.bulk_create(items, batch_size=1000)
        counts = Counter(item.planned for item in items)
        self._save_counts(dict(counts), _hours(items), len(items))
        self._advance_watermark(scope)
        _finish(self.run, Run.Status.SUCCEEDED)
        return dict(counts)

    def _skipped(self, scope: Scope) -> dict[str, Any]:
        """What people skipped: entries (until they change) and deletions (for good)."""
        rows = Conflict.objects.filter(
            Q(source_id__in=[e.external_id for e in scope.entries])
            | Q(kind=Conflict.Kind.SOURCE_DELETED, source_fingerprint=""),
            profile=self.profile, status=Conflict.Status.SKIPPED,
        ).values_list("source_id", "source_fingerprint", "kind")  # fmt: skip
        refusals = (Conflict.Kind.REJECTED, Conflict.Kind.LOCKED)
        return {
            "skipped": {sid: fp for sid, fp, _kind in rows if fp},
            "skipped_writes": {sid for sid, fp, kind in rows if fp and kind in refusals},
            "skipped_deletions": {sid for sid, fp, _kind in rows if not fp},
        }

    # -- reading -------------------------------------------------------------------------------
    def _read_source(self, source: SourceConnector) -> Scope:
        run = self.run
        if run.scope == Run.Scope.TICKET:
            entries = source.fetch_entries_of_ticket(run.ticket_id)
            links = Link.objects.filter(profile=self.profile, ticket_id=run.ticket_id)
            return Scope(entries, [_link_state(link) for link in links], None)
        if run.scope == Run.Scope.INCREMENTAL and self.settings.watermark is not None:
            since = self.settings.watermark - timedelta(
                minutes=self.settings.incremental_overlap_minutes
            )
            # Entries already synced, or already waiting as a conflict, unchanged since: the
            # overlap re-reads them, but they need no lookups (nightly reconciles revisit all).
            recent = {"source_changed_at__gte": since - timedelta(days=1)}
            seen = Link.objects.filter(profile=self.profile, **recent).values_list(
                "source_id", "source_changed_at"
            )
            waiting = Conflict.objects.filter(
                profile=self.profile, status__in=[Conflict.Status.OPEN, Conflict.Status.SKIPPED],
                **recent,
            ).values_list("source_id", "source_changed_at")  # fmt: skip
            known = {sid: at for sid, at in [*seen, *waiting] if at is not None}
            entries = list(source.fetch_entries_changed_since(since, known))
            changes = [e.changed_at for e in entries if e.changed_at]
            return Scope(entries, [], None, max(changes) if changes else None)
        start, end = self._window()
        entries = list(source.fetch_entries_in_window(start, end))
        links = Link.objects.filter(profile=self.profile, booked_at__gte=start, booked_at__lt=end)
        changes = [e.changed_at for e in entries if e.changed_at]
        # Marked timesheets near the window's edges may belong to entries outside it.
        inner = (start + KIMAI_WINDOW_MARGIN, end - KIMAI_WINDOW_MARGIN)
        return Scope(
            entries,
            [_link_state(link) for link in links],
            inner if inner[0] < inner[1] else None,
            max(changes) if changes else None,
        )

    def _window(self) -> tuple[datetime, datetime]:
        if self.run.window_start and self.run.window_end:
            return self.run.window_start, self.run.window_end
        end = timezone.now()
        return end - timedelta(days=self.settings.full_lookback_days), end

    def _mapping_context(self, source: SourceConnector, entries: list[TimeEntry]) -> MappingContext:
        return mapping_context(
            self.profile, source, entries, refresh_if_stale=self.run.scope != Run.Scope.TICKET
        )

    def _read_kimai(
        self, target: TargetConnector, scope: Scope, plans: dict[str, TimesheetPlan]
    ) -> list[TimeEntry]:
        instants: list[datetime] = []
        for plan in plans.values():
            begin = plan.fields.get("begin")
            if begin is not None and isinstance(begin.value, datetime):
                instants.append(begin.value)
        for entry in scope.entries:
            instants.append(entry.booked_at)
        instants += [link.booked_at for link in scope.links_in_scope]
        if scope.marked_window:
            instants += list(scope.marked_window)
        if not instants:
            return []
        start = min(instants) - KIMAI_WINDOW_MARGIN
        end = max(instants) + KIMAI_WINDOW_MARGIN
        return list(target.fetch_timesheets_in_window(start, end))

    def _people(self) -> dict[tuple[int, str], int]:
        """(connection id, external id) → Person id, for the two connections of the profile."""
        rows = Person.objects.filter(
            connection_id__in=[self.profile.source_id, self.profile.target_id]
        ).values_list("connection_id", "external_id", "pk")
        return {(conn, ext): pk for conn, ext, pk in rows}

    # -- recording ------------------------------------------------------------------------------
    def _item(
        self,
        decision: Decision,
        people: dict[tuple[int, str], int],
        result: str,
        written: WriteResult | None = None,
    ) -> RunItem:
        entry, plan = decision.entry, decision.plan
        user = plan.fields.get("user") if plan else None
        duration = plan.fields.get("duration") if plan else None
        return RunItem(
            run=self.run,
            source_id=decision.source_id,
            ticket_id=entry.ticket.id if entry and entry.ticket else "",
            ticket_number=entry.ticket.number or "" if entry and entry.ticket else "",
            booked_at=entry.booked_at if entry else None,
            planned=decision.outcome,
            applied=written.applied if written else "",
            result=result,
            reason=decision.reason[:2000],
            kimai_id=(written.kimai_id if written and written.kimai_id else decision.kimai_id),
            kimai_user_id=people.get((self.profile.target_id, str(user.value)))
            if user and user.value
            else None,
            duration_seconds=int(duration.value)
            if duration and isinstance(duration.value, int)
            else (entry.duration_seconds if entry else 0),
            error=(written.error if written else "")[:2000],
        )

    def _save_counts(self, counts: dict[str, int], hours: dict[str, Any], done: int) -> None:
        Run.objects.filter(pk=self.run.pk).update(counts=counts, hours=hours, done=done)

    def _advance_watermark(self, scope: Scope) -> None:
        if self.run.dry_run or scope.newest_change is None:
            return
        if self.run.scope == Run.Scope.TICKET:
            return
        current = self.settings.watermark
        if current is None or scope.newest_change > current:
            SyncSettings.objects.filter(pk=self.settings.pk).update(watermark=scope.newest_change)


def mapping_context(
    profile: MappingProfile,
    source: SourceConnector,
    entries: list[TimeEntry],
    *,
    refresh_if_stale: bool,
) -> MappingContext:
    """What plans ``entries``: people, mappings, rules, Kimai's reference data and, when rules
    ask for them, the tickets' details. Shared by runs and conflict resolutions."""
    agents = [e.agent for e in entries if e.agent is not None]
    if agents:
        remember_agents(profile.source, agents)
    snapshot = getattr(profile.target, "reference_snapshot", None)
    stale = (
        snapshot is None
        or snapshot.fetched_at is None
        or (timezone.now() - snapshot.fetched_at > REFERENCE_MAX_AGE)
    )
    if stale and refresh_if_stale:
        refresh_reference(profile.target)
    else:
        match_users_by_email(profile.source, profile.target)
    context = MappingContext.load(profile.source, profile.target)
    if context.needs_ticket_details:
        facts, _groups = ticket_facts(
            source, {e.ticket.id for e in entries if e.ticket}, context.needs_ticket_tags
        )
        context.remember_tickets(facts.values())
    return context


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


def _link_state(link: Link) -> LinkState:
    return LinkState(
        link.source_id, link.kimai_id, link.source_fingerprint, link.target_fingerprint,
        link.booked_at, link.ticket_id,
    )  # fmt: skip


def _hours(items: Iterable[RunItem]) -> dict[str, Any]:
    """Seconds to create and update per Kimai user (Person id; "unknown" without one)."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: {"create": 0, "update": 0})
    for item in items:
        if item.planned in (Outcome.CREATE, Outcome.UPDATE):
            key = str(item.kimai_user_id) if item.kimai_user_id else "unknown"
            totals[key][item.planned] += max(0, item.duration_seconds)
    return dict(totals)


# -- applying decisions -------------------------------------------------------------------------
class Applier:
    """Carries out decisions: links and conflicts here, Kimai writes through :class:`KimaiWriter`.

    Writes run on twice ``max_concurrent_requests`` threads (Kimai has no bulk create; the HTTP
    seam's semaphore still bounds requests in flight); each thread has its own writer and
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
            Run.objects.filter(pk=self.job.run.pk).update(done=done)

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
        # Twice as many writers as HTTP slots: while one thread does its database bookkeeping,
        # another holds the slot, so Kimai always has max_concurrent_requests requests to serve.
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
            elif decision.outcome == Outcome.CREATE:
                result = writer.create(entry, decision.plan.marker, draft)
            else:
                link = Link.objects.get(profile=job.profile, source_id=entry.external_id)
                result = writer.update(entry, link, draft, self.index.by_id.get(link.kimai_id))
        if result.conflict_kind:
            self._conflict(decision, result.conflict_kind, result.error)
        elif result.result == RunItem.Result.DONE and decision.source_id in self.open_conflicts:
            close_open_conflict(
                job.profile, decision.source_id, f"synced ({result.applied})", job.actor, job.run
            )
        self._progress()
        return job._item(decision, self.people, result.result, result)
