"""What the conflict pages and API show: filters, counts, rows with both sides, in few queries.

However many conflicts there are, a page costs the same handful of queries: counts per kind, the
agents to filter by, the page itself, and one lookup of the Kimai users its rows name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.accounts.actors import actor_label
from apps.core.paging import keyed_page
from apps.gdpr.models import Person
from apps.sync.comparison import Comparison, compare, user_ids
from apps.sync.models import Conflict
from apps.sync.resolutions import (
    ACTION_LABELS,
    BULK_ACTIONS,
    Choice,
    choices,
    kind_hint,
    version_of,
)
from apps.sync.wording import people_namer

# 20 cards keep a page under 5,000 px on a phone.
PER_PAGE = 20
STATUSES = (("open", "open"), ("skipped", "skipped"), ("resolved", "resolved"), ("all", "all"))


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ConflictFilters:
    status: str = "open"
    kind: str = ""
    agent: int | None = None  # Person id of the Zammad agent
    ticket: str = ""  # Zammad ticket number
    since: date | None = None  # booked on or after
    until: date | None = None  # booked on or before

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ConflictFilters:
        status = query.get("status") or "open"
        kind = query.get("kind") or ""
        agent = query.get("agent") or ""
        return cls(
            status=status if status in dict(STATUSES) else "open",
            kind=kind if kind in Conflict.Kind.values else "",
            agent=int(agent) if agent.isdigit() else None,
            ticket=(query.get("ticket") or "").strip().lstrip("#")[:50],
            since=_date(query.get("since")),
            until=_date(query.get("until")),
        )

    def apply(self, conflicts: QuerySet[Conflict], *, with_kind: bool = True) -> QuerySet[Conflict]:
        if self.status != "all":
            conflicts = conflicts.filter(status=self.status)
        if with_kind and self.kind:
            conflicts = conflicts.filter(kind=self.kind)
        if self.agent:
            conflicts = conflicts.filter(agent_id=self.agent)
        if self.ticket:
            conflicts = conflicts.filter(ticket_number=self.ticket)
        zone = timezone.get_current_timezone()
        if self.since:
            conflicts = conflicts.filter(booked_at__gte=datetime.combine(self.since, time(), zone))
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time(), zone)
            conflicts = conflicts.filter(booked_at__lt=end)
        return conflicts

    def query(self, **changes: Any) -> str:
        """These filters as a query string (``status`` only when not the default)."""
        values = {
            "status": self.status if self.status != "open" else "",
            "kind": self.kind,
            "agent": self.agent or "",
            "ticket": self.ticket,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def any(self) -> bool:
        return bool(self.kind or self.agent or self.ticket or self.since or self.until)


@dataclass
class ConflictRow:
    conflict: Conflict
    comparison: Comparison
    choices: list[Choice]
    version: str
    hint: str
    candidates: list[tuple[dict[str, Any], Comparison]] = field(default_factory=list)
    reason: str = ""  # the conflict's reason with people named (pages; the API keeps ids)

    @property
    def duration_summary(self) -> str:
        """ "0:20 h in Zammad, 0:30 h in Kimai", the short form of the two sides."""
        rows = {row.name: row for row in self.comparison.rows}
        zammad, kimai = rows["duration"].zammad, rows["duration"].kimai
        if zammad and kimai:
            return f"{zammad} in Zammad, {kimai} in Kimai"
        return f"{zammad} in Zammad" if zammad else (f"{kimai} in Kimai" if kimai else "")


def user_labels(conflicts: Iterable[Conflict]) -> dict[tuple[int, str], str]:
    """(Kimai connection id, user id) → label for every Kimai user the conflicts name."""
    wanted: dict[int, set[str]] = {}
    for conflict in conflicts:
        ids = user_ids(conflict.source_snapshot, conflict.target_snapshot)
        for candidate in conflict.candidates or []:
            ids |= user_ids(candidate)
        wanted.setdefault(conflict.profile.target_id, set()).update(ids)
    query = Q()
    for connection_id, ids in wanted.items():
        query |= Q(connection_id=connection_id, external_id__in=ids)
    if not query:
        return {}
    people = Person.objects.filter(query).only(
        "connection_id", "external_id", "name", "username", "email", "purged_at"
    )
    return {(p.connection_id, p.external_id): p.label for p in people}


def conflict_row(
    conflict: Conflict, labels: Mapping[tuple[int, str], str], zone: tzinfo | None = None
) -> ConflictRow:
    """``zone``: show times in it (a list shows one zone); else in the Kimai user's."""
    target = conflict.profile.target_id
    users = {ext: label for (conn, ext), label in labels.items() if conn == target}
    candidates = [
        (candidate, compare(conflict.source_snapshot, candidate, users, zone))
        for candidate in conflict.candidates or []
        if isinstance(candidate, dict)
    ]
    return ConflictRow(
        conflict=conflict,
        comparison=compare(conflict.source_snapshot, conflict.target_snapshot, users, zone),
        choices=choices(conflict),
        version=version_of(conflict),
        hint=kind_hint(conflict),
        candidates=candidates,
    )


def conflicts_with_people() -> QuerySet[Conflict]:
    return Conflict.objects.select_related("agent", "profile__target")


def conflict_list_context(filters: ConflictFilters, page_number: str | None) -> dict[str, Any]:
    base = filters.apply(Conflict.objects.all(), with_kind=False)
    counts = dict(
        base.order_by().values_list("kind").annotate(n=Count("id")).values_list("kind", "n")
    )
    kinds = [
        (value, label, counts.get(value, 0), filters.query(kind=value))
        for value, label in Conflict.Kind.choices
    ]
    page = keyed_page(filters.apply(conflicts_with_people()), page_number, PER_PAGE)
    labels = user_labels(page.object_list)
    zone = timezone.get_current_timezone()  # one page, one zone
    return {
        "filters": filters,
        "kinds": kinds,
        "total": sum(counts.values()),
        "page": page,
        "rows": _named([conflict_row(c, labels, zone) for c in page.object_list]),
        "agents": agent_choices(filters.status),
        "statuses": STATUSES,
        "bulk_actions": [(a.value, ACTION_LABELS[a]) for a in BULK_ACTIONS],
        "extra_query": f"&{filters.query()}" if filters.query() else "",
        "all_kinds_query": filters.query(kind=""),
    }


def agent_choices(status: str) -> list[tuple[int, str, int]]:
    """Agents with conflicts in ``status``: (Person id, label, how many); two queries."""
    conflicts = Conflict.objects.exclude(agent=None)
    if status != "all":
        conflicts = conflicts.filter(status=status)
    counts = dict(
        conflicts.order_by().values_list("agent").annotate(n=Count("id")).values_list("agent", "n")
    )
    people = Person.objects.filter(pk__in=counts).only(
        "name", "username", "email", "external_id", "purged_at"
    )
    rows = [(p.pk, p.label, counts[p.pk]) for p in people]
    return sorted(rows, key=lambda r: r[1].casefold())


DECISIONS = {
    "create": "created Kimai timesheet #{}",
    "update": "updated Kimai timesheet #{}",
    "link": "linked Kimai timesheet #{} as it was",
    "delete": "deleted Kimai timesheet #{}",
}


def decision_text(conflict: Conflict) -> str:
    """How a conflict was decided, in words (``resolution`` holds ``action: detail``)."""
    action, _, detail = conflict.resolution.partition(": ")
    if action == "skip":
        return "skipped"
    if detail == "adopted":
        return "linked the Kimai timesheet that already carried its marker"
    if detail == "gone":
        return "the Kimai timesheet was already gone"
    if action in DECISIONS and detail:
        return DECISIONS[action].format(detail)
    return conflict.resolution or conflict.get_status_display()


def _named(rows: list[ConflictRow]) -> list[ConflictRow]:
    """Each row's reason with its people named (one query per profile on the page)."""
    by_profile: dict[int, list[ConflictRow]] = {}
    for row in rows:
        by_profile.setdefault(row.conflict.profile_id, []).append(row)
    for group in by_profile.values():
        named = people_namer((r.conflict.reason for r in group), group[0].conflict.profile)
        for row in group:
            row.reason = named(row.conflict.reason)
    return rows


def conflict_detail_context(conflict: Conflict) -> dict[str, Any]:
    (row,) = _named([conflict_row(conflict, user_labels([conflict]))])
    entry = (conflict.source_snapshot or {}).get("entry") or {}
    return {
        # One zone for the page: the one the side by side uses (the Kimai user's).
        "page_zone": row.comparison.zone or timezone.get_current_timezone(),
        "decision": decision_text(conflict),
        "decided_by": actor_label(conflict.resolved_by) if conflict.resolved_by else "",
        "row": row,
        "conflict": conflict,
        "entry": entry,
        "kimai_url": conflict.profile.target.base_url.rstrip("/"),
        "activity_type_id": entry.get("activity_type_id") or "",
        "next_open": Conflict.objects.filter(status=Conflict.Status.OPEN)
        .exclude(pk=conflict.pk)
        .values_list("pk", flat=True)
        .first(),
    }
