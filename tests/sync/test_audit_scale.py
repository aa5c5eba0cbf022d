"""100,000 audit events: the Audit page and API cost the same few queries as ten."""

from __future__ import annotations

import time

import pytest
from django.test import Client

from tests.support.scale import add_audit_events, queries_of

MAX_QUERIES = 12


def _measure(admin_client: Client, api_client: Client) -> dict[str, int]:
    return {
        "page": queries_of(lambda: admin_client.get("/sync/audit/")),
        "page 40": queries_of(lambda: admin_client.get("/sync/audit/?page=40")),
        "ticket search": queries_of(lambda: admin_client.get("/sync/audit/?ticket=30007")),
        "filtered": queries_of(
            lambda: admin_client.get(
                "/sync/audit/?actor=schedule&action=kimai.timesheet.create&since=2025-06-01"
            )
        ),
        "fragment": queries_of(
            lambda: admin_client.get(
                "/sync/audit/?page=2", headers={"HX-Request": "true", "HX-Target": "audit-list"}
            )
        ),
        # Offset 20: a full page with every kind of actor, both with 40 events and 100,000.
        "API page": queries_of(lambda: api_client.get("/api/v1/audit?limit=100&offset=20")),
    }


@pytest.mark.django_db
def test_the_audit_pages_cost_the_same_queries_for_100000_events(
    admin_client: Client, api_client: Client
) -> None:
    add_audit_events(0, 40)
    api_client.get("/api/v1/audit?limit=1")  # the key's first use is recorded once
    few = _measure(admin_client, api_client)
    add_audit_events(40, 100_000 - 40)
    started = time.monotonic()
    many = _measure(admin_client, api_client)
    took = time.monotonic() - started
    print(f"queries with 40 and 100,000 audit events: {few} / {many} ({took:.2f} s for all six)")
    assert many == few
    assert max(many.values()) <= MAX_QUERIES


@pytest.mark.django_db
def test_the_export_of_100000_events_streams_them_all(admin_client: Client) -> None:
    add_audit_events(0, 100_000)
    response = admin_client.get("/sync/audit/export/?format=csv&actor=webhook")
    assert response.streaming
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)  # type: ignore[attr-defined]
    assert lines == 1 + 25_000
