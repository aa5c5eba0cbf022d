"""10,000 open conflicts: every conflict page and API list costs the same few queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.connectors.models import Connection
from apps.gdpr.models import Person
from apps.mappings.models import MappingProfile
from apps.sync.models import Conflict

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
KINDS = [
    Conflict.Kind.UNMAPPED_USER, Conflict.Kind.DURATION_MISMATCH, Conflict.Kind.AMBIGUOUS_MATCH,
    Conflict.Kind.CHANGED_IN_KIMAI, Conflict.Kind.SOURCE_DELETED, Conflict.Kind.REJECTED,
]  # fmt: skip
MAX_QUERIES = 12


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
            "activity_type": "Support", "agent_id": str(i % 20), "booked_at": begin.isoformat(),
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


@pytest.fixture
def profile(db: None) -> MappingProfile:
    zammad = Connection.objects.create(
        kind="zammad", name="Zammad", base_url="http://127.0.0.1:9", token="z"
    )
    kimai = Connection.objects.create(
        kind="kimai", name="Kimai", base_url="http://127.0.0.1:9", token="k"
    )
    Person.objects.bulk_create(
        [Person(connection=zammad, external_id=str(n), kind="agent", name=f"Agent {n}")
         for n in range(20)]
        + [Person(connection=kimai, external_id=str(n), kind="target_user", name=f"User {n}")
           for n in range(5)]
    )  # fmt: skip
    return MappingProfile.objects.create(source=zammad, target=kimai)


def _add_conflicts(profile: MappingProfile, first: int, count: int) -> None:
    agents = dict(Person.objects.filter(connection=profile.source).values_list("external_id", "pk"))
    rows = []
    for i in range(first, first + count):
        kind = KINDS[i % len(KINDS)]
        user = i % 5
        sheet = _sheet(i, user)
        rows.append(
            Conflict(
                profile=profile, source_id=str(i), ticket_id=str(1000 + i % 900),
                ticket_number=str(30_000 + i % 900), agent_id=agents[str(i % 20)],
                booked_at=T0 + timedelta(minutes=7 * i), kind=kind,
                reason=f"Kimai timesheet #{sheet['id']} has 0:30 h, Zammad says 0:20 h.",
                source_snapshot=_planned(i, user), kimai_id=sheet["id"],
                target_snapshot=None if kind == Conflict.Kind.AMBIGUOUS_MATCH else sheet,
                candidates=[sheet, _sheet(i + 1, user)] if kind == "ambiguous_match" else [],
                source_fingerprint=f"fp{i}",
            )
        )  # fmt: skip
    Conflict.objects.bulk_create(rows, batch_size=2000)


def _queries(request: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = request()
    assert response.status_code == 200, response.content[:300]
    return len(captured.captured_queries)


def _measure(admin_client: Client, api_client: Client, conflict_id: int) -> dict[str, int]:
    agent = Person.objects.filter(kind="agent").first()
    assert agent is not None
    return {
        "list": _queries(lambda: admin_client.get("/sync/conflicts/")),
        "list, page 3": _queries(lambda: admin_client.get("/sync/conflicts/?page=3")),
        "list by kind and agent": _queries(
            lambda: admin_client.get(f"/sync/conflicts/?kind=ambiguous_match&agent={agent.pk}")
        ),
        "list fragment": _queries(
            lambda: admin_client.get(
                "/sync/conflicts/?page=2",
                headers={"HX-Request": "true", "HX-Target": "conflict-list"},
            )
        ),
        "conflict": _queries(lambda: admin_client.get(f"/sync/conflicts/{conflict_id}/")),
        "API list": _queries(lambda: api_client.get("/api/v1/conflicts?limit=100")),
        "API conflict": _queries(lambda: api_client.get(f"/api/v1/conflicts/{conflict_id}")),
    }


@pytest.mark.django_db
def test_the_conflict_pages_cost_the_same_queries_for_10000_conflicts(
    admin_client: Client, api_client: Client, profile: MappingProfile
) -> None:
    _add_conflicts(profile, 0, 60)
    ambiguous = Conflict.objects.filter(kind="ambiguous_match").first()
    assert ambiguous is not None
    api_client.get("/api/v1/conflicts?limit=1")  # the key's first use is recorded once
    few = _measure(admin_client, api_client, ambiguous.pk)
    _add_conflicts(profile, 60, 10_000 - 60)
    assert Conflict.objects.filter(status="open").count() == 10_000
    many = _measure(admin_client, api_client, ambiguous.pk)
    print(f"queries with 60 and 10,000 open conflicts: {few} / {many}")
    assert many == few
    assert max(many.values()) <= MAX_QUERIES


@pytest.mark.django_db
def test_the_last_page_of_10000_conflicts_shows_the_oldest(
    admin_client: Client, profile: MappingProfile
) -> None:
    _add_conflicts(profile, 0, 10_000)
    html = admin_client.get("/sync/conflicts/?page=500").content.decode()
    assert "Page 500 of 500" in html
    assert html.count('class="conflict-card"') == 20
    assert "<strong>10000</strong> open" in html
