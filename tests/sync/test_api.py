from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django_q.models import OrmQ

from apps.core.models import AuditEvent
from apps.sync.models import Conflict, Run
from tests.sync.world import World


def _post(client: Client, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/sync/runs", json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_it_queues_a_run_and_answers_at_once(api_client: Client, world: World) -> None:
    start, end = world.window()
    response = _post(
        api_client, {"scope": "window", "start": start.isoformat(), "end": end.isoformat()}
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert body["trigger"] == "api"
    assert body["actor"].startswith("api-key:")
    assert OrmQ.objects.count() == 1
    assert world.kimai_writes() == []


@pytest.mark.django_db
def test_identical_requests_coalesce_while_queued(api_client: Client, world: World) -> None:
    first = _post(api_client, {"scope": "ticket", "ticket_id": "55"}).json()
    second = _post(api_client, {"scope": "ticket", "ticket_id": "55"}).json()
    assert first["id"] == second["id"]
    assert Run.objects.count() == 1
    assert OrmQ.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"scope": "window"},
        {"scope": "window", "start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"},
        {"scope": "ticket"},
        {"scope": "weekly"},
        {"scope": "incremental", "force": True},
        {"scope": "window", "start": "not a date", "end": "2026-03-01T00:00:00Z"},
    ],
)
def test_it_refuses_bad_requests_with_a_message_and_queues_nothing(
    api_client: Client, world: World, body: dict[str, Any]
) -> None:
    response = _post(api_client, body)
    assert response.status_code == 422
    assert response.json()["detail"]
    assert not Run.objects.exists()
    assert not OrmQ.objects.exists()


@pytest.mark.django_db
def test_it_says_what_is_missing_before_connections_exist(api_client: Client) -> None:
    response = _post(api_client, {"scope": "incremental"})
    assert response.status_code == 409
    assert "Connectors page" in response.json()["detail"]


@pytest.mark.django_db
def test_a_run_shows_status_counts_and_items(api_client: Client, world: World) -> None:
    run = world.run()
    body = api_client.get(f"/api/v1/sync/runs/{run.pk}?items_limit=5").json()
    assert body["status"] == "succeeded"
    assert body["counts"] == run.counts
    assert body["items_total"] == run.total
    assert len(body["items"]) == 5
    assert {"source_id", "planned", "result", "kimai_id"} <= set(body["items"][0])
    listed = api_client.get("/api/v1/sync/runs").json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == run.pk


@pytest.mark.django_db
def test_conflicts_are_listed_with_filters_and_shown_with_both_sides(
    api_client: Client, world: World
) -> None:
    world.run()
    body = api_client.get("/api/v1/conflicts?kind=duration_mismatch").json()
    assert body["count"] == 1
    conflict_id = body["items"][0]["id"]
    detail = api_client.get(f"/api/v1/conflicts/{conflict_id}").json()
    assert detail["source_snapshot"]["timesheet"]["duration"]["value"] > 0
    assert detail["target_snapshot"]["id"] == detail["kimai_id"]
    assert "@" not in json.dumps(detail["source_snapshot"])
    unmapped = api_client.get("/api/v1/conflicts?kind=unmapped_user").json()["count"]
    assert unmapped == Conflict.objects.filter(kind="unmapped_user").count() > 0


@pytest.mark.django_db
def test_the_audit_log_is_filtered_by_action_and_ticket(api_client: Client, world: World) -> None:
    world.run()
    event = AuditEvent.objects.filter(action="kimai.timesheet.create").exclude(ticket="").first()
    assert event is not None
    body = api_client.get(
        f"/api/v1/audit?action=kimai.timesheet.create&ticket={event.ticket}"
    ).json()
    assert (
        body["count"]
        == AuditEvent.objects.filter(action="kimai.timesheet.create", ticket=event.ticket).count()
    )
    assert {item["ticket"] for item in body["items"]} == {event.ticket}
