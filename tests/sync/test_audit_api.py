"""/api/v1/audit: filters, the difference of each event, and streamed exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from apps.core.models import AuditEvent

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def events(db: None) -> list[AuditEvent]:
    rows = [
        AuditEvent(
            at=T0, actor="admin:1", action="conflict.skip", object_type="conflict",
            object_id="7", ticket="24006",
            before={"kind": "duration_mismatch", "status": "open"},
            after={"kind": "duration_mismatch", "status": "skipped", "note_given": True},
        ),
        AuditEvent(
            at=T0 + timedelta(hours=1), actor="schedule", action="kimai.timesheet.create",
            object_type="kimai.timesheet", object_id="31", ticket="24007", run_id=5,
            after={"id": "31", "duration_seconds": 1200, "description": "#24007 Printer, again"},
        ),
        AuditEvent(
            at=T0 + timedelta(days=2), actor="api-key:ab12", action="kimai.timesheet.delete",
            object_type="kimai.timesheet", object_id="9", ticket="24006",
            before={"id": "9", "duration_seconds": 600},
        ),
    ]  # fmt: skip
    return AuditEvent.objects.bulk_create(rows)


@pytest.mark.django_db
def test_it_filters_by_time_actor_action_object_and_ticket(
    api_client: Client, events: list[AuditEvent]
) -> None:
    def ids(query: str) -> list[str]:
        return [e["object_id"] for e in api_client.get(f"/api/v1/audit?{query}").json()["items"]]

    assert ids("ticket=24006") == ["9", "7"]
    assert ids("ticket=%2324006&actor=admin:1") == ["7"]
    assert ids("action=kimai.timesheet.create") == ["31"]
    assert ids("object_type=kimai.timesheet&object_id=9") == ["9"]
    assert ids("since=2026-03-01T12:30:00Z&until=2026-03-02T00:00:00Z") == ["31"]


@pytest.mark.django_db
def test_each_event_carries_its_difference(api_client: Client, events: list[AuditEvent]) -> None:
    body = api_client.get("/api/v1/audit?action=conflict.skip").json()
    assert body["count"] == 1
    assert body["items"][0]["changes"] == [
        {"field": "status", "before": "open", "after": "skipped"},
        {"field": "note_given", "before": None, "after": True},
    ]


@pytest.mark.django_db
def test_it_pages_with_limit_and_offset(api_client: Client, events: list[AuditEvent]) -> None:
    window = "since=2026-03-01T00:00:00Z&until=2026-03-10T00:00:00Z"
    body = api_client.get(f"/api/v1/audit?{window}&limit=1&offset=1").json()
    assert body["count"] == 3
    assert [e["object_id"] for e in body["items"]] == ["31"]
    assert api_client.get("/api/v1/audit?limit=5000").status_code == 422


@pytest.mark.django_db
def test_it_exports_the_filtered_events_as_csv(
    api_client: Client, events: list[AuditEvent]
) -> None:
    response = api_client.get("/api/v1/audit?format=csv&ticket=24006")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].endswith('.csv"')
    text = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["object_id"] for r in rows] == ["9", "7"]
    assert json.loads(rows[1]["after"])["status"] == "skipped"
    assert rows[0]["after"] == ""


@pytest.mark.django_db
def test_it_exports_the_filtered_events_as_json(
    api_client: Client, events: list[AuditEvent]
) -> None:
    response = api_client.get("/api/v1/audit?format=json&actor=schedule")
    assert response["Content-Type"] == "application/json"
    rows = json.loads(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert rows == [
        {
            "id": events[1].pk, "at": "2026-03-01T13:00:00+00:00", "actor": "schedule",
            "actor_name": "the schedule", "action": "kimai.timesheet.create",
            "object_type": "kimai.timesheet", "object_id": "31", "ticket": "24007", "run_id": 5,
            "before": None,
            "after": {"id": "31", "duration_seconds": 1200, "description": "#24007 Printer, again"},
        }
    ]  # fmt: skip


@pytest.mark.django_db
def test_an_empty_export_is_still_valid_json(api_client: Client, events: list[AuditEvent]) -> None:
    response = api_client.get("/api/v1/audit?format=json&ticket=1")
    assert json.loads(b"".join(response.streaming_content)) == []  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_an_unknown_format_is_a_422(api_client: Client, events: list[AuditEvent]) -> None:
    assert api_client.get("/api/v1/audit?format=xml").status_code == 422


@pytest.mark.django_db
def test_strangers_get_no_export(client: Client, events: list[AuditEvent]) -> None:
    assert client.get("/api/v1/audit?format=csv").status_code == 401


@pytest.mark.django_db
def test_exports_name_the_admin_by_e_mail_and_the_schedule_in_words(
    api_client: Client, admin_user: Any, events: list[AuditEvent]
) -> None:
    AuditEvent.objects.create(
        at=T0 + timedelta(days=3), actor=f"admin:{admin_user.pk}", action="mapping.rule.create",
        object_type="rule", object_id="1",
    )  # fmt: skip
    response = api_client.get("/api/v1/audit?format=csv&since=2026-03-01T00:00:00Z")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    names = {r["actor"]: r["actor_name"] for r in rows}
    assert names[f"admin:{admin_user.pk}"] == admin_user.email
    assert names["schedule"] == "the schedule"
    assert names["api-key:ab12"] == "a deleted API key"
    page = api_client.get("/api/v1/audit?actor=schedule").json()
    assert page["items"][0]["actor_name"] == "the schedule"
