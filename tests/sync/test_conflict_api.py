"""/api/v1/conflicts: list, both sides and the diff, resolve one, resolve many."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.core.models import AuditEvent
from apps.sync.models import Conflict, Link
from tests.doubles.base import Fault
from tests.sync.conflict_cases import open_conflict
from tests.sync.world import World


def _post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


@pytest.mark.django_db
def test_it_shows_both_sides_the_diff_and_the_actions(api_client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    body = api_client.get(f"/api/v1/conflicts/{conflict.pk}").json()
    assert body["diff"] == ["end", "duration", "description", "tags"]
    assert body["zammad"]["duration_seconds"] == 20 * 60
    assert body["kimai"]["duration_seconds"] == 30 * 60
    assert body["zammad"]["user"] == body["kimai"]["user"] == "emma"
    assert body["zammad"]["date"] == body["kimai"]["date"] == "2026-02-27"
    assert [a["action"] for a in body["actions"]] == ["update", "link", "create", "skip"]
    assert body["version"]


@pytest.mark.django_db
def test_it_lists_conflicts_by_ticket_number_with_or_without_hash(
    api_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    expected = Conflict.objects.filter(ticket_number=conflict.ticket_number, status="open").count()
    for ticket in (conflict.ticket_number, f"%23{conflict.ticket_number}"):
        body = api_client.get(f"/api/v1/conflicts?ticket={ticket}").json()
        assert body["count"] == expected


@pytest.mark.django_db
def test_it_resolves_a_conflict_and_answers_with_its_new_state(
    api_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    version = api_client.get(f"/api/v1/conflicts/{conflict.pk}").json()["version"]
    response = _post(
        api_client, f"/api/v1/conflicts/{conflict.pk}/resolve",
        {"action": "update", "version": version},
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == f"Updated Kimai timesheet #{conflict.kimai_id}."
    assert body["conflict"]["status"] == "resolved"
    assert body["conflict"]["actions"] == []
    assert world.kimai_double.timesheet(int(conflict.kimai_id)).duration == 20 * 60
    event = AuditEvent.objects.get(action="conflict.resolve", object_id=str(conflict.pk))
    assert event.actor.startswith("api-key:")


@pytest.mark.django_db
def test_resolving_twice_is_a_409_that_writes_nothing(api_client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    path = f"/api/v1/conflicts/{conflict.pk}/resolve"
    assert _post(api_client, path, {"action": "skip"}).status_code == 200
    writes = len(world.kimai_writes())
    response = _post(api_client, path, {"action": "update"})
    assert response.status_code == 409
    assert response.json()["reason"] == "done"
    assert len(world.kimai_writes()) == writes


@pytest.mark.django_db
def test_a_stale_version_is_a_409(api_client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    response = _post(
        api_client, f"/api/v1/conflicts/{conflict.pk}/resolve",
        {"action": "link", "kimai_id": conflict.kimai_id, "version": "0123456789abcdef"},
    )  # fmt: skip
    assert response.status_code == 409
    assert response.json()["reason"] == "stale"
    assert not Link.objects.filter(source_id=conflict.source_id).exists()


@pytest.mark.django_db
def test_kimai_refusing_is_a_409_with_kimais_words(api_client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    world.kimai_double.inject(Fault("error_before_commit", "POST", "/api/timesheets", status=400))
    response = _post(api_client, f"/api/v1/conflicts/{conflict.pk}/resolve", {"action": "create"})
    assert response.status_code == 409
    assert response.json()["reason"] == "refused"
    assert "Kimai refused the write" in response.json()["detail"]
    assert Conflict.objects.get(pk=conflict.pk).status == "open"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"action": "merge"},
        {"action": "skip", "force": True},
        {"action": "link", "kimai_id": "x" * 65},
        {},
    ],
)
def test_malformed_resolutions_are_422_and_change_nothing(
    api_client: Client, world: World, body: dict[str, Any]
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    response = _post(api_client, f"/api/v1/conflicts/{conflict.pk}/resolve", body)
    assert response.status_code == 422
    assert Conflict.objects.get(pk=conflict.pk).status == "open"


@pytest.mark.django_db
def test_an_action_that_does_not_fit_is_a_422(api_client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    response = _post(api_client, f"/api/v1/conflicts/{conflict.pk}/resolve", {"action": "delete"})
    assert response.status_code == 422
    assert response.json()["reason"] == "invalid"


@pytest.mark.django_db
def test_an_unknown_conflict_is_a_404(api_client: Client, world: World) -> None:
    response = _post(api_client, "/api/v1/conflicts/424242/resolve", {"action": "skip"})
    assert response.status_code == 404


@pytest.mark.django_db
def test_a_bulk_skip_answers_per_conflict(api_client: Client, world: World) -> None:
    world.run()
    ids = list(
        Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_USER).values_list("pk", flat=True)[:5]
    )
    response = _post(
        api_client, "/api/v1/conflicts/resolve", {"ids": [*ids, 424242], "action": "skip"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["resolved"], body["refused"]) == (5, 1)
    assert {r["id"] for r in body["results"] if r["ok"]} == set(ids)
    assert Conflict.objects.filter(pk__in=ids, status="skipped").count() == 5
    assert AuditEvent.objects.filter(action="conflict.skip").count() == 5


@pytest.mark.django_db
def test_a_bulk_link_is_not_offered(api_client: Client, world: World) -> None:
    response = _post(api_client, "/api/v1/conflicts/resolve", {"ids": [1], "action": "link"})
    assert response.status_code == 422


@pytest.mark.django_db
def test_a_session_must_send_the_csrf_token_to_resolve(
    csrf_admin_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    response = _post(
        csrf_admin_client, f"/api/v1/conflicts/{conflict.pk}/resolve", {"action": "skip"}
    )
    assert response.status_code == 403
    assert Conflict.objects.get(pk=conflict.pk).status == "open"


@pytest.mark.django_db
def test_strangers_cannot_resolve(client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    response = _post(client, f"/api/v1/conflicts/{conflict.pk}/resolve", {"action": "skip"})
    assert response.status_code == 401
    assert _post(client, "/api/v1/conflicts/resolve", {"ids": [conflict.pk], "action": "skip"})
    assert Conflict.objects.get(pk=conflict.pk).status == "open"
