"""A run's entries a batch at a time: plan, read Kimai around them, reconcile, apply; then the
orphans. What a batch needs (entries, plans, timesheets, decisions) goes when it is done, so a
run's memory is one batch and a few sets of ids, whatever the size of its window.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import structlog
from django.utils import timezone

from apps.connectors.base import SourceConnector, TargetConnector
from apps.connectors.concurrency import own_work
from apps.connectors.entry import TimeEntry
from apps.core.inserts import insert_rows
from apps.mappings.engine import MappingContext, parse_marker, plan_timesheet
from apps.mappings.lookups import ticket_facts
from apps.mappings.models import MappingProfile
from apps.mappings.reference import (
    match_users_by_email,
    refresh_reference,
    remember_agents,
)
from apps.sync.applier import Applier
from apps.sync.models import Link, Outcome, Run, RunItem
from apps.sync.reconcile import Decision, KimaiIndex, LinkState, Reconciler

if TYPE_CHECKING:
    from apps.sync.engine import SyncJob

logger = structlog.get_logger("zks.sync")

KIMAI_WINDOW_MARGIN = timedelta(days=1)
# Window and incremental runs with entries read Kimai's records again when older than this: a
# customer, project or activity hidden in Kimai meanwhile must not be booked on (or re-created).
REFERENCE_MAX_AGE = timedelta(minutes=15)
WRITES = (Outcome.CREATE, Outcome.UPDATE, Outcome.DELETE)
UTC_ZONE = ZoneInfo("UTC")


# Entries are planned, reconciled and applied this many at a time, each batch against the Kimai
# timesheets of its own span: a run's memory is bounded by a batch, not by its window.
BATCH_ENTRIES = 2000


@dataclass
class Scope:
    entries: Iterable[TimeEntry]
    # Links of the scope whose entry may be gone (window: booked in it; ticket: the ticket's).
    links_in_scope: Callable[[], Iterable[LinkState]]
    marked_window: tuple[datetime, datetime] | None
    # Payloads of write intents left open by earlier runs (their timesheets are read too).
    open_intents: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Totals:
    """What the batches of a run add up to."""

    counts: Counter[str] = field(default_factory=Counter)
    hours: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: {"create": 0, "update": 0})
    )
    results: Counter[str] = field(default_factory=Counter)
    adopted: bool = False
    total: int = 0
    seen: set[str] = field(default_factory=set)
    newest_change: datetime | None = None
    oldest_waiting: datetime | None = None
    # Kimai spans read so far, and marked timesheets that may belong to entries gone from Zammad.
    spans: list[tuple[datetime, datetime]] = field(default_factory=list)
    marked: dict[str, TimeEntry] = field(default_factory=dict)

    def add(self, items: list[RunItem]) -> None:
        for item in items:
            self.counts[item.planned] += 1
            if item.planned in (Outcome.CREATE, Outcome.UPDATE):
                key = str(item.kimai_user_id) if item.kimai_user_id else "unknown"
                self.hours[key][item.planned] += max(0, item.duration_seconds)
            if item.planned in WRITES:
                self.results[item.result] += 1
            if item.planned == Outcome.ADOPT and item.result == RunItem.Result.DONE:
                self.adopted = True


class BatchSync:
    """Plans, reconciles and applies one batch of entries at a time, then the orphans: links
    and marked timesheets of the scope whose Zammad entry no longer exists.

    A batch's last writes are still being sent while the next batch is read and planned
    (:class:`~apps.sync.applier.Applier`); before Kimai is read for it, they are settled if
    they could change what the read finds. Used as a context manager: when the run fails
    outside its writes (a page that would not come), what was handed over is still sent and
    settled, as it would have been one batch at a time."""

    def __init__(
        self,
        job: SyncJob,
        source: SourceConnector,
        target: TargetConnector,
        scope: Scope,
        totals: Totals,
    ) -> None:
        self.job, self.source, self.target, self.scope, self.totals = (
            job, source, target, scope, totals,
        )  # fmt: skip
        self.people: dict[tuple[int, str], int] = {}
        self.applier = Applier(job, target, KimaiIndex({}, {}), self.people)
        self.context: MappingContext | None = None
        self.agents: set[str] = set()

    def __enter__(self) -> BatchSync:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, *_: object
    ) -> None:
        try:
            if (exc is None or isinstance(exc, Exception)) and self.applier.can_settle:
                try:
                    self.settle_writes()
                except Exception:
                    if exc is None:
                        raise
                    logger.exception("writes_not_settled", run=self.job.run.pk)
        finally:
            self.applier.close()

    def sync(self, entries: list[TimeEntry]) -> None:
        with own_work():  # the answers to writes in flight meanwhile wait for this thread
            index, decisions = self._decide(entries)
        self._apply(index, decisions)

    def _decide(self, entries: list[TimeEntry]) -> tuple[KimaiIndex, list[Decision]]:
        job, totals = self.job, self.totals
        context = self._context(entries)
        plans = {e.external_id: plan_timesheet(e, context) for e in entries}
        for entry in entries:
            totals.seen.add(entry.external_id)
            changed = entry.changed_at
            if changed is None:
                continue
            if totals.newest_change is None or changed > totals.newest_change:
                totals.newest_change = changed
            if plans[entry.external_id].waiting_reason and (
                totals.oldest_waiting is None or changed < totals.oldest_waiting
            ):
                totals.oldest_waiting = changed
        instants = [e.booked_at for e in entries]
        for plan in plans.values():
            begin = plan.fields.get("begin")
            if begin is not None and isinstance(begin.value, datetime):
                instants.append(begin.value)
        ids = [e.external_id for e in entries]
        if self.applier.must_settle_before(ids):
            self.settle_writes()
        sheets = self._read_kimai(min(instants), max(instants))
        links = {
            link.source_id: link_state(link)
            for link in Link.objects.filter(profile=job.profile, source_id__in=ids)
        }
        zones = {uid: info.zone for uid, info in context.kimai_users.items() if info.zone}
        index = KimaiIndex.build(
            sheets, job.profile.source_id, self._linked(sheets), zones, context.default_zone
        )
        self._remember_marked(index, set(ids))
        reconciler = Reconciler(
            source_connection_id=job.profile.source_id,
            index=index,
            links=links,
            deletion_policy=job.settings.deletion_policy,
            adopt_tolerance=timedelta(minutes=job.settings.adopt_tolerance_minutes),
            **job._skipped(ids),
            zones=zones,
            default_zone=context.default_zone,
        )  # fmt: skip
        return index, [reconciler.decide(e, plans[e.external_id]) for e in entries]

    def sync_orphans(self, links_in_scope: Iterable[LinkState] | None) -> None:
        totals, job = self.totals, self.job
        self.settle_writes()  # the links and timesheets of every batch's writes are needed
        scoped = links_in_scope if links_in_scope is not None else self.scope.links_in_scope()
        gone = [link for link in scoped if link.source_id not in totals.seen]
        window = self.scope.marked_window
        if window is not None:
            for start, end in _uncovered(window, totals.spans):
                sheets = self._read_kimai(start, end, margin=timedelta(0))
                index = KimaiIndex.build(sheets, job.profile.source_id, set(), {}, UTC_ZONE)
                self._remember_marked(index, set())
        marked = self._unlinked_marked()
        if not gone and not marked:
            return
        sheets = list(marked.values())
        if gone:
            booked = [link.booked_at for link in gone]
            linked_ids = {link.kimai_id for link in gone}
            sheets += [
                sheet
                for sheet in self._read_kimai(min(booked), max(booked))
                if sheet.external_id in linked_ids
            ]
        index = KimaiIndex.build(sheets, job.profile.source_id, set(), {}, UTC_ZONE)
        reconciler = Reconciler(
            source_connection_id=job.profile.source_id,
            index=index,
            links={},
            deletion_policy=job.settings.deletion_policy,
            **job._skipped([]),
        )  # fmt: skip
        decisions = reconciler.orphans(totals.seen, gone, window)
        self._apply(index, decisions)

    def _context(self, entries: list[TimeEntry]) -> MappingContext:
        """The run's mapping context, loaded again when a batch brings agents not seen yet
        (they are recorded and matched to Kimai users by e-mail first)."""
        agents = {e.agent.id for e in entries if e.agent is not None}
        if self.context is None or not agents <= self.agents:
            self.context = mapping_context(
                self.job.profile, self.source, entries,
                refresh_if_stale=self.context is None and self.job.run.scope != Run.Scope.TICKET,
                ticket_details=False, target=self.target,
            )  # fmt: skip
            self.agents |= agents
            # The agents were just recorded as people: items and conflicts refer to them.
            self.people = self.applier.people = self.job._people()
        if self.context.needs_ticket_details:
            remember_ticket_facts(self.context, self.source, entries)
        return self.context

    def _read_kimai(
        self, start: datetime, end: datetime, margin: timedelta = KIMAI_WINDOW_MARGIN
    ) -> list[TimeEntry]:
        span = (start - margin, end + margin)
        self.totals.spans.append(span)
        return list(self.target.fetch_timesheets_in_window(*span))

    def _unlinked_marked(self) -> dict[str, TimeEntry]:
        """Marked timesheets of entries not seen in the scope, unless the timesheet or its
        entry is linked (a link's own orphan check covers those)."""
        marked = self.totals.marked
        linked_sources = set(
            Link.objects.filter(
                profile=self.job.profile,
                source_id__in=[_marker_source(sheet) for sheet in marked.values()],
            ).values_list("source_id", flat=True)
        )
        linked = self._linked(marked)
        return {
            kimai_id: sheet
            for kimai_id, sheet in marked.items()
            if kimai_id not in linked and _marker_source(sheet) not in linked_sources
        }

    def _linked(self, sheets: Iterable[TimeEntry] | Mapping[str, TimeEntry]) -> set[str]:
        """Which of these timesheets are linked to an entry (of this batch or any other)."""
        ids = list(sheets) if isinstance(sheets, Mapping) else [s.external_id for s in sheets]
        return set(
            Link.objects.filter(profile=self.job.profile, kimai_id__in=ids).values_list(
                "kimai_id", flat=True
            )
        )

    def _remember_marked(self, index: KimaiIndex, batch: set[str]) -> None:
        """Marked timesheets of entries not seen so far may be orphans; keep them until the
        end (entries of later batches drop theirs)."""
        marked = self.totals.marked
        window = self.scope.marked_window
        for source_id, kimai_ids in index.by_marker.items():
            if source_id in batch or window is None:
                continue
            for kimai_id in kimai_ids:
                marked[kimai_id] = index.by_id[kimai_id]
        seen = self.totals.seen
        for kimai_id in [k for k, sheet in marked.items() if _marker_source(sheet) in seen]:
            del marked[kimai_id]

    def _apply(self, index: KimaiIndex, decisions: list[Decision]) -> None:
        job, totals = self.job, self.totals
        totals.total += len(decisions)
        Run.objects.filter(pk=job.run.pk).update(total=totals.total)
        if job.run.dry_run:
            items = [job._item(d, self.people, RunItem.Result.PLANNED) for d in decisions]
        else:
            self.applier.index = index
            items = self.applier.apply(decisions)
        self._record(items)

    def settle_writes(self) -> None:
        """Wait for the writes still on their way and record their items."""
        self._record(self.applier.settle_writes())

    def _record(self, items: list[RunItem]) -> None:
        with own_work():
            insert_rows(items)
            self.totals.add(items)


def batched(entries: Iterable[TimeEntry]) -> Iterator[list[TimeEntry]]:
    """``entries`` in lists of ``BATCH_ENTRIES`` (read when called, so tests can shrink it)."""
    iterator = iter(entries)
    while batch := list(islice(iterator, BATCH_ENTRIES)):
        yield batch


def _uncovered(
    window: tuple[datetime, datetime], spans: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The parts of ``window`` no span covers."""
    gaps, cursor = [], window[0]
    for start, end in sorted(spans):
        if start > cursor:
            gaps.append((cursor, min(start, window[1])))
        cursor = max(cursor, end)
        if cursor >= window[1]:
            break
    if cursor < window[1]:
        gaps.append((cursor, window[1]))
    return [(a, b) for a, b in gaps if a < b]


def _marker_source(sheet: TimeEntry) -> str | None:
    marker = parse_marker(sheet.description or "")
    return marker[1] if marker else None


def mapping_context(
    profile: MappingProfile,
    source: SourceConnector,
    entries: list[TimeEntry],
    *,
    refresh_if_stale: bool,
    ticket_details: bool = True,
    target: TargetConnector | None = None,
) -> MappingContext:
    """What plans ``entries``: people, mappings, rules, Kimai's reference data and, when rules
    ask for them (and ``ticket_details``), the tickets' details. Shared by runs and conflict
    resolutions. A run passes its ``target`` so a refresh reads through it (and it then knows
    the tags and the caller)."""
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
    if ticket_details and context.needs_ticket_details:
        remember_ticket_facts(context, source, entries)
    return context


def remember_ticket_facts(
    context: MappingContext, source: SourceConnector, entries: list[TimeEntry]
) -> None:
    facts, _groups = ticket_facts(
        source, {e.ticket.id for e in entries if e.ticket}, context.needs_ticket_tags
    )
    context.remember_tickets(facts.values())


def link_state(link: Link) -> LinkState:
    return LinkState(
        link.source_id, link.kimai_id, link.source_fingerprint, link.target_fingerprint,
        link.booked_at, link.ticket_id,
    )  # fmt: skip
