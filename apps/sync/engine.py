"""Running a sync: read Zammad, plan, reconcile with Kimai, write what is clear, flag the rest.

:func:`execute_run` is what the worker task, the CLI and tests call with a run's id. It takes the
profile's advisory lock (one run at a time per Zammad → Kimai pair), then works through every
queued run of the profile, so a trigger that arrives during a run is handled right after it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
from apps.mappings.engine import MappingContext, TimesheetPlan, plan_timesheet
from apps.mappings.lookups import ticket_facts
from apps.mappings.models import MappingProfile
from apps.mappings.reference import (
    match_users_by_email,
    refresh_reference,
    remember_agents,
)
from apps.sync.applier import Applier
from apps.sync.locks import profile_lock
from apps.sync.models import Conflict, Link, Outcome, Run, RunItem, SyncSettings, WriteIntent
from apps.sync.reconcile import Decision, KimaiIndex, LinkState, Reconciler
from apps.sync.writer import KimaiWriter, WriteResult

logger = structlog.get_logger("zks.sync")

KIMAI_WINDOW_MARGIN = timedelta(days=1)
# Window and incremental runs with entries read Kimai's records again when older than this: a
# customer, project or activity hidden in Kimai meanwhile must not be booked on (or re-created).
REFERENCE_MAX_AGE = timedelta(minutes=15)
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
class Scope:
    entries: list[TimeEntry]
    links_in_scope: list[LinkState]
    marked_window: tuple[datetime, datetime] | None
    newest_change: datetime | None = None
    # Payloads of write intents left open by earlier runs (their timesheets are read too).
    open_intents: list[dict[str, Any]] = field(default_factory=list)


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
        if not scope.entries and not scope.links_in_scope and not scope.open_intents:
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
        settled: Counter[str] = Counter()
        if not self.run.dry_run:
            settled = writer.settle_open_intents(index.by_id)
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
            adopt_tolerance=timedelta(minutes=self.settings.adopt_tolerance_minutes),
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
        results = run_results(items, settled)
        Run.objects.filter(pk=self.run.pk).update(results=results)
        status = final_status(results, items)
        _finish(self.run, status, error=not_written(results) if status != "succeeded" else "")
        return dict(counts)

    def _skipped(self, scope: Scope) -> dict[str, Any]:
        """What people skipped: entries (until they change) and deletions (for good)."""
        rows = Conflict.objects.filter(
            Q(source_id__in=[e.external_id for e in scope.entries])
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
            # Entries skipped for good as they are (zero or negative time): without this, one
            # such entry at the watermark costs every idle run the lookups and a Kimai read.
            settled_skips = RunItem.objects.filter(run__profile=self.profile, **recent).values_list(
                "source_id", "source_changed_at"
            )
            known = {sid: at for sid, at in [*settled_skips, *seen, *waiting] if at is not None}
            entries = list(source.fetch_entries_changed_since(since, known))
            changes = [e.changed_at for e in entries if e.changed_at]
            return Scope(
                entries, self._deleted_since(source, since, entries), None,
                max(changes) if changes else None,
            )  # fmt: skip
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

    def _deleted_since(
        self, source: SourceConnector, since: datetime, entries: list[TimeEntry]
    ) -> list[LinkState]:
        """Links of entries the source says were deleted since ``since`` (and that did not come
        back): in scope, so the deletion policy applies now."""
        if not source.supports(Capability.DELETIONS_SINCE):
            return []
        gone = set(source.fetch_deleted_since(since)) - {e.external_id for e in entries}
        if not gone:
            return []
        links = Link.objects.filter(profile=self.profile, source_id__in=gone)
        return [_link_state(link) for link in links]

    def _window(self) -> tuple[datetime, datetime]:
        if self.run.window_start and self.run.window_end:
            return self.run.window_start, self.run.window_end
        end = timezone.now()
        return end - timedelta(days=self.settings.full_lookback_days), end

    def _mapping_context(self, source: SourceConnector, entries: list[TimeEntry]) -> MappingContext:
        return mapping_context(
            self.profile, source, entries, refresh_if_stale=self.run.scope != Run.Scope.TICKET,
            target=self.servers.get("kimai"),
        )  # fmt: skip

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
        for payload in scope.open_intents:
            if isinstance(payload, dict) and payload.get("begin"):
                instants.append(datetime.fromisoformat(payload["begin"]))
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
            source_changed_at=entry.changed_at
            if entry and plan and decision.outcome == Outcome.SKIP and _skipped_for_good(plan)
            else None,
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
    target: TargetConnector | None = None,
) -> MappingContext:
    """What plans ``entries``: people, mappings, rules, Kimai's reference data and, when rules
    ask for them, the tickets' details. Shared by runs and conflict resolutions. A run passes
    its ``target`` so a refresh reads through it (and it then knows the tags and the caller)."""
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
        refresh_reference(profile.target, target)
    else:
        match_users_by_email(profile.source, profile.target)
    context = MappingContext.load(profile.source, profile.target)
    if context.needs_ticket_details:
        facts, _groups = ticket_facts(
            source, {e.ticket.id for e in entries if e.ticket}, context.needs_ticket_tags
        )
        context.remember_tickets(facts.values())
    return context


def run_results(items: Iterable[RunItem], settled: Counter[str]) -> dict[str, int]:
    """What happened to a run's writes, for people and the API."""
    outcome = Counter(item.result for item in items if item.planned in WRITES)
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


def final_status(results: dict[str, int], items: Iterable[RunItem]) -> str:
    """Succeeded only when every write went through; partial when some did (or entries were
    adopted); failed when writes went wrong and nothing was done."""
    wrong = results["refused"] + results["uncertain"] + results["failed"]
    if not wrong:
        return Run.Status.SUCCEEDED
    adopted = any(i.planned == Outcome.ADOPT and i.result == RunItem.Result.DONE for i in items)
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
