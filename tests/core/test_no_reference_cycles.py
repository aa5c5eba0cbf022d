"""What a sync makes per write is freed when it is no longer used, not left for the collector:
each collection pauses every thread (the senders' answers wait), and before, every request and
every audit event with personal values left a reference cycle (about 40 objects a write)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest

from apps.connectors.http import HttpTuning, OutboundHttpClient
from apps.core import audit
from apps.core.models import AuditEvent


@pytest.fixture
def no_collector() -> Iterator[None]:
    """The collector off, and what was waiting for it collected first."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _garbage_in_cycles(*modules: str) -> list[object]:
    """Objects (of types from ``modules``) only the collector could free; other threads of the
    test process may leave garbage of their own meanwhile, so only these count."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        found = [o for o in gc.garbage if type(o).__module__.startswith(modules)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


def test_a_request_and_its_answer_leave_no_reference_cycle(no_collector: None) -> None:
    client = OutboundHttpClient(
        service="Kimai",
        base_url="https://kimai.example.com",
        headers={},
        tuning=HttpTuning(max_concurrent_requests=4),
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"id": 1})),
    )
    client.get("/api/ping")  # the client's own first-use objects
    _garbage_in_cycles("")
    for _ in range(50):
        assert client.request("POST", "/api/timesheets", json_body={"begin": "x"}).data == {"id": 1}

    assert _garbage_in_cycles("httpx", "httpcore") == []


@pytest.mark.django_db
def test_recording_audit_events_with_personal_values_leaves_no_reference_cycle(
    no_collector: None,
) -> None:
    events = [
        audit.Event("schedule", "kimai.timesheet.create", "kimai.timesheet", str(n),
                    after={"description": f"#{n} Printer", "duration": 900})
        for n in range(50)
    ]  # fmt: skip
    _garbage_in_cycles("")
    rows = audit.record_many(events)
    assert len(rows) == 50
    del rows

    assert _garbage_in_cycles("apps", "django.db.models") == []
    shown = AuditEvent.objects.get(object_id="0").shown_after  # the details went in as before
    assert shown == {"description": "#0 Printer", "duration": 900}
