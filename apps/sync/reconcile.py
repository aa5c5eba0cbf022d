"""Reconciliation: compare each Zammad entry with Kimai and decide one outcome. Pure, no I/O.

The engine loads a batch (entries, their mapping plans, our links, the Kimai timesheets of its
span) and asks a :class:`Reconciler` for one :class:`Decision` per entry; after the last batch,
one per orphan (a link or marked timesheet whose Zammad entry is gone). Keeping this free of the
database and the network is what lets 100,000 entries reconcile in a few seconds, and lets tests
state every case as plain data.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apps.connectors.base import TimesheetDraft
from apps.connectors.entry import TimeEntry
from apps.mappings.engine import TimesheetPlan, parse_marker
from apps.sync.models import Conflict, Outcome, SyncSettings

PROBLEM_TO_CONFLICT = {
    "unmapped_user": Conflict.Kind.UNMAPPED_USER,
    "unmapped_activity": Conflict.Kind.UNMAPPED_ACTIVITY,
    "no_matching_rule": Conflict.Kind.NO_MATCHING_RULE,
    "no_customer": Conflict.Kind.NO_MATCHING_RULE,
    "missing_ticket_details": Conflict.Kind.NO_MATCHING_RULE,
    "broken_rule": Conflict.Kind.BROKEN_RULE,
    "broken_mapping": Conflict.Kind.BROKEN_RULE,
    "invalid_activity": Conflict.Kind.INVALID_ACTIVITY,
    "hidden_record": Conflict.Kind.HIDDEN_IN_KIMAI,
}
TICKET_NUMBER = re.compile(r"(?<![\w-])#?(\d{3,})(?![\w-])")
# A hand-typed copy in Kimai differs from the plan by Kimai's rounding (a typed begin floored and
# end ceiled to the minute, kimai-api.md §6 "Rounding") and ours (Zammad's instant has seconds):
# begin and duration within this much are the same work, before the admin's own tolerance.
KIMAI_ROUNDING = timedelta(minutes=2)
# What a skip holds back until the entry changes in Zammad: anything that would write or link.
HELD_BY_SKIP = (Outcome.CREATE, Outcome.UPDATE, Outcome.ADOPT, Outcome.CONFLICT)


@dataclass(frozen=True, slots=True)
class LinkState:
    source_id: str
    kimai_id: str
    source_fingerprint: str
    target_fingerprint: str
    booked_at: datetime
    ticket_id: str = ""


@dataclass(slots=True, unsafe_hash=True)  # not frozen, for speed, as FieldDecision
class Decision:
    source_id: str
    outcome: Outcome
    reason: str
    entry: TimeEntry | None = None
    plan: TimesheetPlan | None = None
    kimai_id: str = ""
    conflict_kind: str = ""
    candidates: tuple[str, ...] = ()
    # For in-sync entries whose link should be refreshed (e.g. a Zammad edit that changes
    # nothing in Kimai): the fingerprints to store.
    refresh_link: bool = False


@dataclass
class KimaiIndex:
    """The Kimai timesheets of the window, indexed the ways reconciliation asks."""

    by_id: dict[str, TimeEntry]
    by_marker: dict[str, list[str]]
    # (user id, ticket number, local day) → unlinked timesheet ids without any marker
    unmarked: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        timesheets: Iterable[TimeEntry],
        source_connection_id: int,
        linked_ids: set[str],
        zones: Mapping[str, ZoneInfo],
        default_zone: ZoneInfo,
    ) -> KimaiIndex:
        by_id: dict[str, TimeEntry] = {}
        by_marker: dict[str, list[str]] = defaultdict(list)
        unmarked: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for sheet in timesheets:
            by_id[sheet.external_id] = sheet
            marker = parse_marker(sheet.description or "")
            if marker is not None:
                if marker[0] == source_connection_id:
                    by_marker[marker[1]].append(sheet.external_id)
                continue
            if sheet.external_id in linked_ids or sheet.agent is None:
                continue
            zone = zones.get(sheet.agent.id, default_zone)
            day = (sheet.begin or sheet.booked_at).astimezone(zone).date().isoformat()
            for number in set(TICKET_NUMBER.findall(sheet.description or "")):
                unmarked[(sheet.agent.id, number, day)].append(sheet.external_id)
        return cls(by_id, dict(by_marker), dict(unmarked))


def draft_matches(draft: TimesheetDraft, sheet: TimeEntry) -> bool:
    """Whether writing ``draft`` would change nothing that matters on ``sheet``."""
    begin = (sheet.begin or sheet.booked_at).astimezone(UTC)
    return (
        abs((begin - draft.begin.astimezone(UTC)).total_seconds()) < 60
        and abs(sheet.duration_seconds - draft.duration_seconds) < 60
        and (sheet.project.id if sheet.project else None) == draft.project_id
        and (sheet.activity.id if sheet.activity else None) == draft.activity_id
        and (draft.user_id is None or (sheet.agent.id if sheet.agent else None) == draft.user_id)
        and (sheet.description or "") == (draft.description or "")
        and {t.casefold() for t in sheet.tags} == {t.casefold() for t in draft.tags}
        and (draft.billable is None or sheet.billable == draft.billable)
    )


@dataclass
class Reconciler:
    source_connection_id: int
    index: KimaiIndex
    links: dict[str, LinkState]
    deletion_policy: str = SyncSettings.DeletionPolicy.FLAG
    # (source id, fingerprint) of skipped conflicts: the entry is left alone while it is so.
    skipped: set[tuple[str, str]] = field(default_factory=set)
    # Skipped "deleted in Zammad" conflicts: the person keeps the Kimai timesheet.
    skipped_deletions: set[str] = field(default_factory=set)
    # How much further apart than Kimai's rounding a hand-typed copy may be to be adopted.
    adopt_tolerance: timedelta = timedelta(0)
    zones: Mapping[str, ZoneInfo] = field(default_factory=dict)
    default_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    claimed: set[str] = field(default_factory=set)  # Kimai ids adopted in this pass

    def decide(self, entry: TimeEntry, plan: TimesheetPlan) -> Decision:
        link = self.links.get(entry.external_id)
        if link is not None:
            decision = self._linked(entry, plan, link)
        else:
            decision = self._unlinked(entry, plan)
        # A skip holds, whatever decided the entry now (a new mapping, a rule, a re-check), until
        # the entry itself changes in Zammad.
        held = (entry.external_id, entry.fingerprint) in self.skipped
        if held and decision.outcome in HELD_BY_SKIP:
            return Decision(
                entry.external_id, Outcome.SKIP,
                "a person skipped this conflict; it comes back only if the entry changes",
                entry, plan, decision.kimai_id,
            )  # fmt: skip
        return decision

    # -- entries we wrote or adopted before ------------------------------------------------------
    def _linked(self, entry: TimeEntry, plan: TimesheetPlan, link: LinkState) -> Decision:
        sid = entry.external_id
        sheet = self.index.by_id.get(link.kimai_id)
        source_changed = entry.fingerprint != link.source_fingerprint
        if sheet is None:
            return Decision(
                sid, Outcome.CONFLICT,
                f"Kimai timesheet #{link.kimai_id}, which the sync wrote for this entry, is gone "
                "from Kimai (deleted or moved): book it again, or skip it.",
                entry, plan, link.kimai_id, Conflict.Kind.CHANGED_IN_KIMAI,
            )  # fmt: skip
        kimai_changed = sheet.fingerprint != link.target_fingerprint
        if not source_changed:
            note = "edited in Kimai since; the edit is kept" if kimai_changed else ""
            return Decision(sid, Outcome.IN_SYNC, note, entry, plan, link.kimai_id)
        if kimai_changed:
            return Decision(
                sid, Outcome.CONFLICT,
                f"Both sides changed: the entry was edited in Zammad, and someone edited Kimai "
                f"timesheet #{link.kimai_id} after the sync wrote it. Choose which one wins.",
                entry, plan, link.kimai_id, Conflict.Kind.CHANGED_IN_KIMAI,
            )  # fmt: skip
        problem = self._problem(entry, plan)
        if problem is not None:
            return problem
        if plan.waiting_reason:
            return Decision(sid, Outcome.SKIP, plan.waiting_reason, entry, plan, link.kimai_id)
        if plan.skipped_reason:
            return Decision(
                sid, Outcome.CONFLICT,
                f"The entry was edited in Zammad and is no longer bookable "
                f"({plan.skipped_reason}), but Kimai timesheet #{link.kimai_id} exists.",
                entry, plan, link.kimai_id, Conflict.Kind.SOURCE_DELETED,
            )  # fmt: skip
        if plan.draft is not None and draft_matches(plan.draft, sheet):
            return Decision(
                sid, Outcome.IN_SYNC, "changed in Zammad, but not in anything Kimai shows",
                entry, plan, link.kimai_id, refresh_link=True,
            )  # fmt: skip
        return Decision(
            sid, Outcome.UPDATE, "changed in Zammad since the sync wrote it",
            entry, plan, link.kimai_id,
        )  # fmt: skip

    # -- entries Kimai does not know from us yet ---------------------------------------------------
    def _unlinked(self, entry: TimeEntry, plan: TimesheetPlan) -> Decision:
        sid = entry.external_id
        marked = [k for k in self.index.by_marker.get(sid, []) if k not in self.claimed]
        if len(marked) == 1:
            self.claimed.add(marked[0])
            return Decision(
                sid, Outcome.ADOPT,
                f"Kimai timesheet #{marked[0]} already carries this entry's marker",
                entry, plan, marked[0],
            )  # fmt: skip
        if len(marked) > 1:
            ids = ", ".join(f"#{k}" for k in marked)
            return Decision(
                sid, Outcome.CONFLICT,
                f"Several Kimai timesheets carry this entry's marker ({ids}): keep one.",
                entry, plan, "", Conflict.Kind.AMBIGUOUS_MATCH, tuple(marked),
            )  # fmt: skip
        if plan.skipped_reason or plan.waiting_reason:
            reason = plan.skipped_reason or plan.waiting_reason or ""
            return Decision(sid, Outcome.SKIP, reason, entry, plan)
        problem = self._problem(entry, plan)
        if problem is not None:
            return problem
        return self._match_manual(entry, plan)

    def _match_manual(self, entry: TimeEntry, plan: TimesheetPlan) -> Decision:
        """A timesheet a person typed in Kimai for this work: adopt it, or ask."""
        sid = entry.external_id
        user = plan.fields["user"].value if "user" in plan.fields else None
        begin: datetime | None = plan.fields["begin"].value if "begin" in plan.fields else None
        duration = plan.fields["duration"].value if "duration" in plan.fields else None
        number = entry.ticket.number if entry.ticket else None
        if not (user and begin and number):
            return Decision(sid, Outcome.CREATE, "new in Zammad", entry, plan)
        zone = self.zones.get(str(user), self.default_zone)
        day = begin.astimezone(zone).date().isoformat()
        candidates = [
            k
            for k in self.index.unmarked.get((str(user), number, day), [])
            if k not in self.claimed and k in self.index.by_id
        ]
        slack = KIMAI_ROUNDING + self.adopt_tolerance
        planned = int(duration or 0)
        distance = {k: _distance(self.index.by_id[k], begin, planned) for k in candidates}
        close = sorted((k for k in candidates if distance[k] <= slack), key=distance.__getitem__)
        if len(close) == 1 or (len(close) > 1 and distance[close[0]] < distance[close[1]]):
            chosen = close[0]
            self.claimed.add(chosen)
            return Decision(
                sid, Outcome.ADOPT,
                f"Kimai timesheet #{chosen} (typed by hand) matches user, ticket #{number} and "
                f"day, and its begin and duration are within {_tolerance(slack)} of Zammad's",
                entry, plan, chosen,
            )  # fmt: skip
        if len(close) > 1 or (not close and len(candidates) > 1):
            pool = close or candidates
            ids = ", ".join(f"#{k}" for k in pool)
            return Decision(
                sid, Outcome.CONFLICT,
                f"Several Kimai timesheets of the same user for ticket #{number} on {day} could "
                f"be this entry ({ids}): link the right one, or create a new one.",
                entry, plan, "", Conflict.Kind.AMBIGUOUS_MATCH, tuple(pool),
            )  # fmt: skip
        if len(candidates) == 1:
            other = self.index.by_id[candidates[0]]
            theirs = (other.begin or other.booked_at).astimezone(zone)
            ours = begin.astimezone(zone)
            return Decision(
                sid, Outcome.CONFLICT,
                f"Kimai timesheet #{candidates[0]} of the same user for ticket #{number} on {day} "
                f"begins {theirs:%H:%M} and lasts {_minutes(other.duration_seconds)}; the entry in "
                f"Zammad begins {ours:%H:%M} and lasts {_minutes(planned)}. That is further apart "
                f"than {_tolerance(slack)} (the rounding of Kimai plus the adoption tolerance in "
                "the settings): update it, link it as it is, or create another.",
                entry, plan, candidates[0], Conflict.Kind.DURATION_MISMATCH, tuple(candidates),
            )  # fmt: skip
        return Decision(sid, Outcome.CREATE, "new in Zammad", entry, plan)

    def _problem(self, entry: TimeEntry, plan: TimesheetPlan) -> Decision | None:
        if not plan.problems:
            return None
        first = plan.problems[0]
        kind = PROBLEM_TO_CONFLICT.get(first.kind, Conflict.Kind.NO_MATCHING_RULE)
        reason = " ".join(p.message for p in plan.problems)
        return Decision(entry.external_id, Outcome.CONFLICT, reason, entry, plan, "", kind)

    # -- entries gone from Zammad ------------------------------------------------------------------
    def orphans(
        self,
        seen: set[str],
        links_in_scope: Iterable[LinkState],
        marked_window: tuple[datetime, datetime] | None,
    ) -> list[Decision]:
        """Links and marked timesheets in scope whose Zammad entry no longer exists."""
        decisions = []
        scoped = list(links_in_scope)
        linked_kimai_ids = {link.kimai_id for link in self.links.values()}
        linked_kimai_ids |= {link.kimai_id for link in scoped}
        linked_sources = set(self.links) | {link.source_id for link in scoped}
        for link in scoped:
            if link.source_id not in seen:
                decisions.append(self._orphan(link.source_id, link.kimai_id, linked=True))
        if marked_window is not None:
            start, end = marked_window
            for source_id, kimai_ids in self.index.by_marker.items():
                if source_id in seen or source_id in linked_sources:
                    continue
                for kimai_id in kimai_ids:
                    sheet = self.index.by_id[kimai_id]
                    begin = sheet.begin or sheet.booked_at
                    if kimai_id not in linked_kimai_ids and start <= begin < end:
                        decisions.append(self._orphan(source_id, kimai_id, linked=False))
        return decisions

    def _orphan(self, source_id: str, kimai_id: str, *, linked: bool) -> Decision:
        how = "written by the sync" if linked else "carrying the sync's marker"
        if self.deletion_policy == SyncSettings.DeletionPolicy.DELETE:
            return Decision(
                source_id, Outcome.DELETE,
                f"deleted in Zammad; Kimai timesheet #{kimai_id} ({how}) is deleted too",
                kimai_id=kimai_id,
            )  # fmt: skip
        if self.deletion_policy == SyncSettings.DeletionPolicy.IGNORE:
            return Decision(
                source_id, Outcome.ORPHANED,
                f"deleted in Zammad; Kimai timesheet #{kimai_id} is left alone (deletion policy)",
                kimai_id=kimai_id,
            )  # fmt: skip
        if source_id in self.skipped_deletions:
            return Decision(
                source_id, Outcome.SKIP,
                f"deleted in Zammad; a person chose to keep Kimai timesheet #{kimai_id}",
                kimai_id=kimai_id,
            )  # fmt: skip
        return Decision(
            source_id, Outcome.CONFLICT,
            f"The entry was deleted in Zammad, but Kimai timesheet #{kimai_id} ({how}) still "
            "exists: delete it in Kimai, or keep it.",
            kimai_id=kimai_id, conflict_kind=Conflict.Kind.SOURCE_DELETED,
        )  # fmt: skip


def _distance(sheet: TimeEntry, begin: datetime, duration_seconds: int) -> timedelta:
    """How far a timesheet is from the planned one: the larger gap of begin and duration
    (instants compared in UTC: wall clocks repeat an hour in autumn)."""
    sheet_begin = (sheet.begin or sheet.booked_at).astimezone(UTC)
    begins = abs(sheet_begin - begin.astimezone(UTC))
    durations = timedelta(seconds=abs(sheet.duration_seconds - duration_seconds))
    return max(begins, durations)


def _tolerance(slack: timedelta) -> str:
    return f"{int(slack.total_seconds() // 60)} minutes"


def _minutes(seconds: int) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d} h"
