"""Running a sync: read Zammad, plan, reconcile with Kimai, write what is clear, flag the rest.

:func:`execute_run` is what the worker task, the CLI and tests call with a run's id. It takes the
profile's advisory lock (one run at a time per Zammad → Kimai pair), then works through every
queued run of the profile, so a trigger that arrives during a run is handled right after it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

import structlog
from django.db.models import Q
from django.utils import timezone

from apps.connectors.base import Capability, SourceConnector, TargetConnector
from apps.connectors.entry import TimeEntry
from apps.connectors.http import ExternalServiceError
from apps.connectors.registry import UnknownConnectorKind
from apps.core import audit
from apps.gdpr.models import Person
from apps.mappings.engine import TimesheetPlan
from apps.mappings.models import MappingProfile
from apps.sync.batches import (
    KIMAI_WINDOW_MARGIN,
    BatchSync,
    Scope,
    Totals,
    batched,
    link_state,
)
from apps.sync.locks import oldest_queued_run, profile_lock
from apps.sync.models import Conflict, Link, Outcome, Run, RunItem, SyncSettings, WriteIntent
from apps.sync.reconcile import Decision, LinkState
from apps.sync.writer import KimaiWriter, WriteResult

logger = structlog.get_logger("zks.sync")

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
    next_run: Run | None = run
    while next_run is not None:
        with profile_lock(run.profile_id, wake=False) as acquired:
            if not acquired:
                # The holder runs this one, or looks for it once it lets the lock go.
                logger.info("run_waits_for_lock", run=run.pk, profile=run.profile_id)
                return run
            _fail_interrupted_runs(run.profile_id)
            while next_run is not None:
                _run_claimed(next_run.pk)
                next_run = oldest_queued_run(run.profile_id)
        # A run that committed after our last look, and whose task found the lock still ours,
        # waits for us (apps/sync/locks.py): look again now that the lock is free.
        next_run = oldest_queued_run(run.profile_id)
    run.refresh_from_db()
    return run


def _fail_interrupted_runs(profile_id: int) -> int:
    """Runs marked running while we hold the lock died with their worker."""
    return Run.objects.filter(profile_id=profile_id, status=Run.Status.RUNNING).update(
        status=Run.Status.INTERRUPTED,
        finished_at=timezone.now(),
        error="Interrupted: the worker stopped during the run. The next run settles what it "
        "left open (write intents are verified against Kimai before anything is sent again).",
    )


def mark_interrupted_runs() -> int:
    """Mark "interrupted" every run whose worker is gone: a running run holds its profile's
    advisory lock for as long as its database session lives, so a lock we can take means
    nobody runs it any more. Called when a worker starts and with every heartbeat."""
    marked = 0
    running = Run.objects.filter(status=Run.Status.RUNNING).values_list("profile_id", flat=True)
    for profile_id in set(running):
        with profile_lock(profile_id) as acquired:
            if acquired:
                marked += _fail_interrupted_runs(profile_id)
    if marked:
        logger.warning("runs_interrupted", runs=marked)
    return marked


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
    except UnknownConnectorKind as missing:
        # The package of the pair's kind was uninstalled (or broke): say so, nothing was sent.
        _finish(run, Run.Status.FAILED, error=missing.message)
        log.warning("run_failed", error=missing.message)
        return
    except ExternalServiceError as error:
        _finish(run, Run.Status.FAILED, error=error.message)
        log.warning("run_failed", error=error.message)
        return
    except Exception as error:
        # A crash fails this run alone: the runs queued behind it go on at once.
        _finish(
            run, Run.Status.FAILED, error=f"Internal error: {error.__class__.__name__}: {error}"
        )
        log.exception("run_crashed")
        return
    finally:
        audit.stop_acting(acting)
    log.info("run_finished", **counts)


def _finish(run: Run, status: str, error: str = "") -> None:
    Run.objects.filter(pk=run.pk).update(
        status=status, finished_at=timezone.now(), error=error[:4000]
    )


# -- one run ------------------------------------------------------------------------------------
@dataclass
class SyncJob:
    run: Run
    profile: MappingProfile = field(init=False)
    settings: SyncSettings = field(init=False)
    actor: str = field(init=False)
    servers: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.profile = self.run.profile
        self.settings = settings_of(self.profile)
        self.actor = self.run.actor

    def execute(self) -> dict[str, int]:
        source = self.profile.source.connector()
        target = self.profile.target.connector()
        assert isinstance(source, SourceConnector) and isinstance(target, TargetConnector)
        self.servers = {"zammad": source, "kimai": target}
        try:
            counts = self._execute(source, target)
        finally:
            figures = self.figures()
            Run.objects.filter(pk=self.run.pk).update(
                requests_made=source.request_count + target.request_count, figures=figures
            )
            logger.info("run_requests", run=self.run.pk, **_in_brief(figures))
            source.close()
            target.close()
        return counts

    def figures(self, *, with_p95: bool = True) -> dict[str, Any]:
        """Requests sent and the adaptive limit of each server, for the run's page and API."""
        return {
            name: {
                "requests": server.request_count,
                **server.http.limit.figures(with_p95=with_p95),
            }
            for name, server in self.servers.items()
        }

    def _execute(self, source: SourceConnector, target: TargetConnector) -> dict[str, int]:
        scope = self._read_source(source)
        if not self.run.dry_run:
            # Writes an earlier run left uncertain are settled by this one, even an idle one.
            scope.open_intents = list(
                WriteIntent.objects.filter(
                    profile=self.profile, state__in=WriteIntent.OPEN_STATES
                ).values_list("payload", flat=True)
            )
        batches = batched(scope.entries)
        first: list[TimeEntry] = next(batches, [])
        links_in_scope = list(scope.links_in_scope()) if not first else None
        if not first and not links_in_scope and not scope.open_intents:
            self._save_counts({}, {}, 0)
            _finish(self.run, Run.Status.SUCCEEDED)
            return {}
        writer = KimaiWriter(self.profile, target, self.run, self.actor)
        settled: Counter[str] = Counter()
        if scope.open_intents:
            settled = writer.settle_open_intents(self._intent_sheets(target, scope.open_intents))
        totals = Totals()
        with BatchSync(self, source, target, scope, totals) as batch_job:
            for batch in chain([first], batches) if first else ():
                batch_job.sync(batch)
            batch_job.sync_orphans(links_in_scope)
        watermark = totals.newest_change
        if totals.oldest_waiting is not None and watermark is not None:
            # Work that ends in the future waits; the watermark stays where the next
            # incremental run reads that entry again.
            watermark = min(watermark, totals.oldest_waiting)
        counts = dict(totals.counts)
        self._save_counts(counts, dict(totals.hours), totals.total)
        self._advance_watermark(watermark)
        results = run_results(totals.results, settled)
        Run.objects.filter(pk=self.run.pk).update(results=results)
        status = final_status(results, totals.adopted)
        _finish(self.run, status, error=not_written(results) if status != "succeeded" else "")
        return counts

    def _intent_sheets(
        self, target: TargetConnector, intents: list[dict[str, Any]]
    ) -> dict[str, TimeEntry]:
        """Kimai's timesheets around the begins of open intents (an update is settled by
        comparing its timesheet)."""
        begins = [
            datetime.fromisoformat(p["begin"])
            for p in intents
            if isinstance(p, dict) and p.get("begin")
        ]
        if not begins:
            return {}
        sheets = target.fetch_timesheets_in_window(
            min(begins) - KIMAI_WINDOW_MARGIN, max(begins) + KIMAI_WINDOW_MARGIN
        )
        return {sheet.external_id: sheet for sheet in sheets}

    def _skipped(self, source_ids: list[str]) -> dict[str, Any]:
        """What people skipped: entries (until they change) and deletions (for good)."""
        rows = Conflict.objects.filter(
            Q(source_id__in=source_ids)
            | Q(kind=Conflict.Kind.SOURCE_DELETED, source_fingerprint=""),
            profile=self.profile, status=Conflict.Status.SKIPPED,
        ).values_list("source_id", "source_fingerprint", "kind")  # fmt: skip
        return {
            "skipped": {(sid, fp) for sid, fp, _kind in rows if fp},
            "skipped_deletions": {sid for sid, fp, _kind in rows if not fp},
        }

    # -- reading -------------------------------------------------------------------------------
    def _read_source(self, source: SourceConnector) -> Scope:
        run = self.run
        if run.scope == Run.Scope.TICKET:
            ticket_links = Link.objects.filter(profile=self.profile, ticket_id=run.ticket_id)
            return Scope(
                source.fetch_entries_of_ticket(run.ticket_id),
                lambda: map(link_state, ticket_links),
                None,
            )
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
            # Entries skipped for good as they are (zero or negative time): without this, one
            # such entry at the watermark costs every idle run the lookups and a Kimai read.
            settled_skips = RunItem.objects.filter(run__profile=self.profile, **recent).values_list(
                "source_id", "source_changed_at"
            )
            known = {sid: at for sid, at in [*settled_skips, *seen, *waiting] if at is not None}
            deleted = self._deleted_since(source, since)
            return Scope(source.fetch_entries_changed_since(since, known), deleted, None)
        start, end = self._window()
        links = Link.objects.filter(profile=self.profile, booked_at__gte=start, booked_at__lt=end)
        # Marked timesheets near the window's edges may belong to entries outside it.
        inner = (start + KIMAI_WINDOW_MARGIN, end - KIMAI_WINDOW_MARGIN)
        return Scope(
            source.fetch_entries_in_window(start, end),
            lambda: map(link_state, links.iterator(chunk_size=2000)),
            inner if inner[0] < inner[1] else None,
        )

    def _deleted_since(
        self, source: SourceConnector, since: datetime
    ) -> Callable[[], list[LinkState]]:
        """Links of entries the source says were deleted since ``since``: in scope, so the
        deletion policy applies now (one that came back is among the entries seen, and stays)."""

        def links() -> list[LinkState]:
            if not source.supports(Capability.DELETIONS_SINCE):
                return []
            gone = set(source.fetch_deleted_since(since))
            if not gone:
                return []
            return [
                link_state(link)
                for link in Link.objects.filter(profile=self.profile, source_id__in=gone)
            ]

        return links

    def _window(self) -> tuple[datetime, datetime]:
        if self.run.window_start and self.run.window_end:
            return self.run.window_start, self.run.window_end
        end = timezone.now()
        return end - timedelta(days=self.settings.full_lookback_days), end

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
            source_changed_at=entry.changed_at
            if entry and plan and decision.outcome == Outcome.SKIP and _skipped_for_good(plan)
            else None,
        )

    def _save_counts(self, counts: dict[str, int], hours: dict[str, Any], done: int) -> None:
        Run.objects.filter(pk=self.run.pk).update(counts=counts, hours=hours, done=done)

    def _advance_watermark(self, newest_change: datetime | None) -> None:
        if self.run.dry_run or newest_change is None:
            return
        if self.run.scope == Run.Scope.TICKET:
            return
        current = self.settings.watermark
        if current is None or newest_change > current:
            SyncSettings.objects.filter(pk=self.settings.pk).update(watermark=newest_change)


def run_results(outcome: Counter[str], settled: Counter[str]) -> dict[str, int]:
    """What happened to a run's writes (results of its items that write), for people and
    the API."""
    results = {
        "written": outcome[RunItem.Result.DONE],
        "refused": outcome[RunItem.Result.REFUSED],
        "uncertain": outcome[RunItem.Result.UNCERTAIN],
        "failed": outcome[RunItem.Result.FAILED],
    }
    if settled:
        results["settled_applied"] = settled["applied"]
        results["settled_not_applied"] = settled["not_applied"]
    return results


def final_status(results: dict[str, int], adopted: bool) -> str:
    """Succeeded only when every write went through; partial when some did (or entries were
    adopted); failed when writes went wrong and nothing was done."""
    wrong = results["refused"] + results["uncertain"] + results["failed"]
    if not wrong:
        return Run.Status.SUCCEEDED
    return Run.Status.PARTIAL if results["written"] or adopted else Run.Status.FAILED


def not_written(results: dict[str, int]) -> str:
    """What went wrong with a run's writes, in words."""
    parts = []
    if results["refused"]:
        parts.append(f"{results['refused']} refused by Kimai (a conflict each says why)")
    if results["uncertain"]:
        parts.append(
            f"{results['uncertain']} uncertain (Kimai did not confirm; the next run looks for "
            "them in Kimai before anything is sent again)"
        )
    if results["failed"]:
        parts.append(f"{results['failed']} failed (not written; the next run tries again)")
    return f"Not everything was written: {'; '.join(parts)}."


def _skipped_for_good(plan: TimesheetPlan) -> bool:
    """Not bookable as it is (not waiting for its end): only a change in Zammad changes that."""
    return plan.skipped_reason is not None and plan.waiting_reason is None


def _in_brief(figures: dict[str, Any]) -> dict[str, Any]:
    """A log line's worth: per server, requests, the limit, its peak and why it last moved."""
    brief: dict[str, Any] = {}
    for name, shown in figures.items():
        brief[f"{name}_requests"] = shown["requests"]
        brief[f"{name}_limit"] = shown["limit"]
        brief[f"{name}_peak"] = shown["peak"]
        brief[f"{name}_limit_reason"] = shown["reason"]
        brief[f"{name}_p95_ms"] = shown["p95_ms"]
    return brief
