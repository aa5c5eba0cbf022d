"""100,000 audit events: the Audit page and API cost the same few queries as ten."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.core.models import AuditEvent

T0 = datetime(2025, 6, 1, tzinfo=UTC)
ACTIONS = ["kimai.timesheet.create", "kimai.timesheet.update", "conflict.resolve", "conflict.skip"]
ACTORS = ["schedule", "webhook", "admin:1", "api-key:ab12cd"]
MAX_QUERIES = 12


def _add_events(first: int, count: int) -> None:
    rows = [
        AuditEvent(
            at=T0 + timedelta(minutes=3 * i),
            actor=ACTORS[i % 4],
            action=ACTIONS[i % 4],
            object_type="conflict" if i % 4 >= 2 else "kimai.timesheet",
            object_id=str(i),
            ticket=str(30_000 + i % 5000),
            run_id=i // 100,
            before={"duration_seconds": 1800, "status": "open"} if i % 4 else None,
            after={"duration_seconds": 1200 + i % 7, "status": "resolved"},
        )  # fmt: skip
        for i in range(first, first + count)
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=5000)


def _queries(request: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = request()
    assert response.status_code == 200, response.content[:300]
    return len(captured.captured_queries)


def _measure(admin_client: Client, api_client: Client) -> dict[str, int]:
    return {
        "page": _queries(lambda: admin_client.get("/sync/audit/")),
        "page 40": _queries(lambda: admin_client.get("/sync/audit/?page=40")),
        "ticket search": _queries(lambda: admin_client.get("/sync/audit/?ticket=30007")),
        "filtered": _queries(
            lambda: admin_client.get(
                "/sync/audit/?actor=schedule&action=kimai.timesheet.create&since=2025-06-01"
            )
        ),
        "fragment": _queries(
            lambda: admin_client.get(
                "/sync/audit/?page=2", headers={"HX-Request": "true", "HX-Target": "audit-list"}
            )
        ),
        # Offset 20: a full page with every kind of actor, both with 40 events and 100,000.
        "API page": _queries(lambda: api_client.get("/api/v1/audit?limit=100&offset=20")),
    }


@pytest.mark.django_db
def test_the_audit_pages_cost_the_same_queries_for_100000_events(
    admin_client: Client, api_client: Client
) -> None:
    _add_events(0, 40)
    api_client.get("/api/v1/audit?limit=1")  # the key's first use is recorded once
    few = _measure(admin_client, api_client)
    _add_events(40, 100_000 - 40)
    started = time.monotonic()
    many = _measure(admin_client, api_client)
    took = time.monotonic() - started
    print(f"queries with 40 and 100,000 audit events: {few} / {many} ({took:.2f} s for all six)")
    assert many == few
    assert max(many.values()) <= MAX_QUERIES


@pytest.mark.django_db
def test_the_export_of_100000_events_streams_them_all(admin_client: Client) -> None:
    _add_events(0, 100_000)
    response = admin_client.get("/sync/audit/export/?format=csv&actor=webhook")
    assert response.streaming
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)  # type: ignore[attr-defined]
    assert lines == 1 + 25_000
