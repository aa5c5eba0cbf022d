"""Much history, fast: a pair with people, and bulk-made conflicts, audit events and run entries.

Shared by the scale tests (tests/sync/test_*_scale.py) and bench/pages_bench.py; every helper
adds rows with ``bulk_create`` so 100,000 of them take seconds, not minutes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.connectors.models import Connection
from apps.core.models import AuditEvent
from apps.gdpr.models import Person
from apps.mappings.models import MappingProfile
from apps.sync.models import Conflict, Outcome, Run, RunItem

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
AGENTS = 20
KIMAI_USERS = 5
CONFLICT_KINDS = [
    Conflict.Kind.UNMAPPED_USER, Conflict.Kind.DURATION_MISMATCH, Conflict.Kind.AMBIGUOUS_MATCH,
    Conflict.Kind.CHANGED_IN_KIMAI, Conflict.Kind.SOURCE_DELETED, Conflict.Kind.REJECTED,
]  # fmt: skip
AUDIT_T0 = datetime(2025, 6, 1, tzinfo=UTC)
AUDIT_ACTIONS = [
    "kimai.timesheet.create", "kimai.timesheet.update", "conflict.resolve", "conflict.skip",
]  # fmt: skip
AUDIT_ACTORS = ["schedule", "webhook", "admin:1", "api-key:ab12cd"]
# Most entries of a long run are in sync; the rest spread over every other outcome.
RUN_OUTCOMES = [
    *[Outcome.IN_SYNC] * 10, Outcome.CREATE, Outcome.CREATE, Outcome.UPDATE, Outcome.ADOPT,
    Outcome.CONFLICT, Outcome.SKIP, Outcome.DELETE, Outcome.ORPHANED,
]  # fmt: skip
RESULT_OF = {
    Outcome.CREATE: RunItem.Result.DONE, Outcome.UPDATE: RunItem.Result.DONE,
    Outcome.ADOPT: RunItem.Result.DONE, Outcome.DELETE: RunItem.Result.DONE,
    Outcome.CONFLICT: RunItem.Result.REFUSED,
}  # fmt: skip


def queries_of(request: Callable[[], Any], status: int = 200) -> int:
    """How many SQL queries answering ``request`` took (it must answer ``status``)."""
    with CaptureQueriesContext(connection) as captured:
        response = request()
    assert response.status_code == status, response.content[:300]
    return len(captured.captured_queries)


def scale_pair() -> MappingProfile:
    """A Zammad → Kimai pair with 20 agents and 5 Kimai users."""
    zammad = Connection.objects.create(
        kind="zammad", name="Zammad", base_url="http://127.0.0.1:9", token="z"
    )
    kimai = Connection.objects.create(
        kind="kimai", name="Kimai", base_url="http://127.0.0.1:9", token="k"
    )
    Person.objects.bulk_create(
        [Person(connection=zammad, external_id=str(n), kind="agent", name=f"Agent {n}")
         for n in range(AGENTS)]
        + [Person(connection=kimai, external_id=str(n), kind="target_user", name=f"User {n}")
           for n in range(KIMAI_USERS)]
    )  # fmt: skip
    return MappingProfile.objects.create(source=zammad, target=kimai)


def _sheet(i: int, user: int) -> dict[str, Any]:
    begin = T0 + timedelta(minutes=7 * i)
    return {
        "id": str(50_000 + i), "user_id": str(user), "begin": begin.isoformat(),
        "end": (begin + timedelta(minutes=30)).isoformat(), "duration_seconds": 1800,
        "project_id": "1", "project": "Support 2026", "customer_id": "1",
        "customer": "Awesome Customer Inc.", "activity_id": "2", "activity": "Support",
        "description": f"#{30_000 + i % 900} manual", "billable": True, "tags": [],
    }  # fmt: skip


def _planned(i: int, user: int) -> dict[str, Any]:
    begin = T0 + timedelta(minutes=7 * i)

    def field(value: Any, display: str = "") -> dict[str, Any]:
        return {"value": value, "display": display or str(value), "decided_by": "rule"}

    return {
        "entry": {
            "id": str(i), "ticket_id": str(1000 + i % 900), "ticket_number": str(30_000 + i % 900),
            "ticket_title": "Printer on fire", "organization": "Awesome Customer Inc.",
            "activity_type": "Support", "agent_id": str(i % AGENTS), "booked_at": begin.isoformat(),
            "duration_seconds": 1200,
        },
        "timesheet": {
            "user": {"value": str(user), "decided_by": "user mapping"},
            "begin": field(begin.isoformat()),
            "end": field((begin + timedelta(minutes=20)).isoformat()),
            "duration": field(1200, "20 min"), "customer": field("1", "Awesome Customer Inc."),
            "project": field("1", "Awesome Customer Inc. / Support 2026"),
            "activity": field("2", "Support"),
            "description": field(f"#{30_000 + i % 900} zks-1-{i}-z"),
            "billable": field(None, "billable (Kimai decides)"), "tags": field(["billable"]),
        },
        "marker": f"zks-1-{i}-z",
        "problems": [],
    }  # fmt: skip


def add_conflicts(profile: MappingProfile, first: int, count: int) -> None:
    """Open conflicts ``first`` to ``first + count - 1`` of every kind, as the engine makes them."""
    agents = dict(Person.objects.filter(connection=profile.source).values_list("external_id", "pk"))
    rows = []
    for i in range(first, first + count):
        kind = CONFLICT_KINDS[i % len(CONFLICT_KINDS)]
        user = i % KIMAI_USERS
        sheet = _sheet(i, user)
        rows.append(
            Conflict(
                profile=profile, source_id=str(i), ticket_id=str(1000 + i % 900),
                ticket_number=str(30_000 + i % 900), agent_id=agents[str(i % AGENTS)],
                booked_at=T0 + timedelta(minutes=7 * i), kind=kind,
                reason=f"Kimai timesheet #{sheet['id']} has 0:30 h, Zammad says 0:20 h.",
                source_snapshot=_planned(i, user), kimai_id=sheet["id"],
                target_snapshot=None if kind == Conflict.Kind.AMBIGUOUS_MATCH else sheet,
                candidates=[sheet, _sheet(i + 1, user)] if kind == "ambiguous_match" else [],
                source_fingerprint=f"fp{i}",
            )
        )  # fmt: skip
    Conflict.objects.bulk_create(rows, batch_size=2000)


def add_audit_events(first: int, count: int, start: datetime = AUDIT_T0) -> None:
    """Audit events three minutes apart from ``start``, by four actors, on 5,000 tickets and
    100 per run; timesheet writes say when the work began (the dashboard's chart reads it)."""
    rows = [
        AuditEvent(
            at=start + timedelta(minutes=3 * i),
            actor=AUDIT_ACTORS[i % 4],
            action=AUDIT_ACTIONS[i % 4],
            object_type="conflict" if i % 4 >= 2 else "kimai.timesheet",
            object_id=str(i),
            ticket=str(30_000 + i % 5000),
            run_id=i // 100,
            before={"duration_seconds": 1800, "status": "open"} if i % 4 else None,
            after={
                "duration_seconds": 1200 + i % 7,
                "status": "resolved",
                "begin": (start + timedelta(minutes=3 * i - 30)).isoformat(),
            },
        )  # fmt: skip
        for i in range(first, first + count)
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=5000)


def _run_item(run: Run, i: int, users: list[int]) -> RunItem:
    outcome = RUN_OUTCOMES[i % len(RUN_OUTCOMES)]
    reason = {
        Outcome.CONFLICT: f"Zammad agent #{i % AGENTS} has no Kimai user.",
        Outcome.SKIP: "Zero minutes: nothing to book.",
        Outcome.IN_SYNC: f"Already in Kimai as timesheet {50_000 + i}.",
    }.get(outcome, f"Kimai user #{i % KIMAI_USERS} gets it.")
    return RunItem(
        run=run, source_id=str(i), ticket_id=str(1000 + i % 900),
        ticket_number=str(30_000 + i % 900), booked_at=T0 + timedelta(minutes=7 * i),
        planned=outcome, applied=outcome if outcome in RESULT_OF else "",
        result=RESULT_OF.get(outcome, RunItem.Result.NOTHING), reason=reason,
        kimai_id="" if outcome in (Outcome.CONFLICT, Outcome.SKIP) else str(50_000 + i),
        kimai_user_id=users[i % len(users)], duration_seconds=60 * (5 + i % 55),
    )  # fmt: skip


def add_run_items(run: Run, first: int, count: int) -> None:
    """Entries ``first`` to ``first + count - 1`` of a run; its total and counts add them up."""
    users = list(Person.objects.filter(connection=run.profile.target).values_list("pk", flat=True))
    batch = 5000
    for start in range(first, first + count, batch):
        rows = [_run_item(run, i, users) for i in range(start, min(start + batch, first + count))]
        RunItem.objects.bulk_create(rows, batch_size=batch)
    added = Counter(RUN_OUTCOMES[i % len(RUN_OUTCOMES)].value for i in range(first, first + count))
    counts = Counter(run.counts) + added
    run.counts = {outcome.value: counts[outcome.value] for outcome in Outcome if counts[outcome]}
    run.total = run.done = run.total + count
    run.save(update_fields=["counts", "total", "done"])


def finished_run(profile: MappingProfile, items: int) -> Run:
    """A finished full run of ``items`` entries (``add_run_items`` adds more)."""
    users = Person.objects.filter(connection=profile.target).values_list("pk", flat=True)
    run = Run.objects.create(
        profile=profile, trigger=Run.Trigger.SCHEDULE, actor="schedule", scope=Run.Scope.WINDOW,
        window_start=T0, window_end=T0 + timedelta(days=365), coalesce_key="scale",
        status=Run.Status.SUCCEEDED, started_at=T0, finished_at=T0 + timedelta(minutes=9),
        hours={str(pk): {"create": 3600 * n, "update": 900 * n} for n, pk in enumerate(users)},
    )  # fmt: skip
    add_run_items(run, 0, items)
    return run
