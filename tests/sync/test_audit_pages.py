"""The Audit page: filters, ticket search, each event's difference, CSV and JSON export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from apps.accounts.models import ApiKey, User
from apps.core.models import AuditEvent
from apps.sync.auditlog import distinct_values

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def events(admin_user: User) -> list[AuditEvent]:
    key, _secret = ApiKey.issue("billing export")
    rows = [
        AuditEvent(
            at=T0, actor=f"admin:{admin_user.pk}", action="conflict.resolve",
            object_type="conflict", object_id="7", ticket="24006",
            before={"kind": "duration_mismatch", "status": "open", "kimai_id": "2"},
            after={"kind": "duration_mismatch", "status": "resolved", "kimai_id": "2"},
        ),
        AuditEvent(
            at=T0 + timedelta(days=1), actor=f"api-key:{key.prefix}",
            action="kimai.timesheet.update", object_type="kimai.timesheet", object_id="2",
            ticket="24006", run_id=3,
            before={"duration_seconds": 1800}, after={"duration_seconds": 1200},
        ),
        AuditEvent(
            at=T0 + timedelta(days=3), actor="schedule", action="kimai.timesheet.create",
            object_type="kimai.timesheet", object_id="40", ticket="24011",
            after={"id": "40", "duration_seconds": 900},
        ),
    ]  # fmt: skip
    return AuditEvent.objects.bulk_create(rows)


def _ids(html: str) -> list[str]:
    return [part.split('"')[0] for part in html.split('id="event-')[1:]]


@pytest.mark.django_db
def test_an_event_shows_its_before_and_after_difference(
    admin_client: Client, events: list[AuditEvent]
) -> None:
    html = admin_client.get("/sync/audit/?action=conflict.resolve").content.decode()
    assert _ids(html) == [str(events[0].pk)]
    assert "1 field changed" in html
    assert (
        '<th scope="row">status</th><td class="before">open</td><td class="after">resolved</td>'
        in html
    )
    assert '<a href="/sync/conflicts/7/">conflict 7</a>' in html


@pytest.mark.django_db
def test_it_names_admins_and_api_keys(admin_client: Client, events: list[AuditEvent]) -> None:
    html = admin_client.get("/sync/audit/?ticket=24006").content.decode()
    assert "by admin@example.com ·" in html
    assert "by API key “billing export” ·" in html
    assert "(admin:" not in html and "(api-key:" not in html


@pytest.mark.django_db
def test_it_finds_events_by_ticket_number(admin_client: Client, events: list[AuditEvent]) -> None:
    html = admin_client.get("/sync/audit/?ticket=%2324006").content.decode()
    assert _ids(html) == [str(events[1].pk), str(events[0].pk)]
    assert "2 events" in html


@pytest.mark.django_db
def test_it_filters_by_days_actor_and_object(
    admin_client: Client, events: list[AuditEvent]
) -> None:
    def ids(query: str) -> list[str]:
        return _ids(admin_client.get(f"/sync/audit/?{query}").content.decode())

    assert ids("since=2026-03-02&until=2026-03-02") == [str(events[1].pk)]
    assert ids("actor=schedule") == [str(events[2].pk)]
    assert ids("object_type=kimai.timesheet&object_id=2") == [str(events[1].pk)]
    assert ids("since=not-a-date&actor=schedule") == [str(events[2].pk)]


@pytest.mark.django_db
def test_the_filters_offer_the_actors_and_actions_there_are(
    admin_client: Client, events: list[AuditEvent]
) -> None:
    html = admin_client.get("/sync/audit/").content.decode()
    for action in ("conflict.resolve", "kimai.timesheet.create", "kimai.timesheet.update"):
        assert f'<option value="{action}">{action}</option>' in html
    assert '<option value="schedule">the schedule</option>' in html


@pytest.mark.django_db
def test_the_choices_are_each_value_once_in_order_without_the_empty_one(
    events: list[AuditEvent],
) -> None:
    AuditEvent.objects.create(actor="schedule", action="conflict.resolve", object_type="")
    assert distinct_values("action") == [
        "api_key.create", "conflict.resolve", "kimai.timesheet.create", "kimai.timesheet.update",
    ]  # fmt: skip
    assert distinct_values("object_type") == ["api_key", "conflict", "kimai.timesheet"]
    with pytest.raises(ValueError):
        distinct_values("before")


@pytest.mark.django_db
def test_the_page_links_the_exports_of_what_it_shows(
    admin_client: Client, events: list[AuditEvent]
) -> None:
    html = admin_client.get("/sync/audit/?ticket=24006").content.decode()
    assert 'href="/sync/audit/export/?format=csv&amp;ticket=24006"' in html
    response = admin_client.get("/sync/audit/export/?format=csv&ticket=24006")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))  # type: ignore[attr-defined]
    assert [r["id"] for r in rows] == [str(events[1].pk), str(events[0].pk)]
    assert json.loads(rows[0]["before"]) == {"duration_seconds": 1800}


@pytest.mark.django_db
def test_the_json_export_streams_every_matching_event(
    admin_client: Client, events: list[AuditEvent]
) -> None:
    response = admin_client.get("/sync/audit/export/?format=json&until=2026-03-03")
    assert response.streaming
    rows = json.loads(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    assert [r["id"] for r in rows] == [events[1].pk, events[0].pk]


@pytest.mark.django_db
def test_an_unknown_export_format_is_refused(
    admin_client: Client, events: list[AuditEvent]
) -> None:
    response = admin_client.get("/sync/audit/export/?format=xlsx")
    assert response.status_code == 400


@pytest.mark.django_db
def test_the_list_refreshes_as_a_fragment(admin_client: Client, events: list[AuditEvent]) -> None:
    response = admin_client.get(
        "/sync/audit/?page=1", headers={"HX-Request": "true", "HX-Target": "audit-list"}
    )
    assert response.content.decode().lstrip().startswith('<section id="audit-list"')


@pytest.mark.django_db
def test_strangers_see_no_audit_log(client: Client, events: list[AuditEvent]) -> None:
    assert client.get("/sync/audit/").status_code == 302
    assert client.get("/sync/audit/export/?format=csv").status_code == 302
