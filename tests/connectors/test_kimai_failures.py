"""Kimai outages and refusals: what is retried, what is uncertain, what is permanent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.connectors.base import TimesheetDraft
from apps.connectors.http import ExternalServiceError
from tests.connectors.kimai_setup import SmallKimai, small_kimai
from tests.doubles.base import Fault

WINDOW = (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC))


def draft(kimai: SmallKimai) -> TimesheetDraft:
    return TimesheetDraft(
        begin=datetime(2026, 1, 5, 14, 0, tzinfo=UTC),
        duration_seconds=1800,
        project_id=str(kimai.project),
        activity_id=str(kimai.support),
        user_id=str(kimai.liam),
        description="Printer [zks-1a2b]",
    )


def test_a_create_that_timed_out_after_kimai_saved_it_is_uncertain_and_not_repeated() -> None:
    kimai = small_kimai()
    kimai.double.inject(Fault("timeout_after_commit", method="POST", path_prefix="/api/timesheets"))
    connector = kimai.connector()

    with pytest.raises(ExternalServiceError) as raised:
        connector.create_timesheet(draft(kimai))
    assert (raised.value.uncertain, raised.value.permanent) == (True, False)
    assert len(kimai.requests("POST", "/api/timesheets")) == 1
    assert [e.description for e in connector.search_by_marker("zks-1a2b")] == ["Printer [zks-1a2b]"]


def test_a_create_answered_with_500_after_kimai_saved_it_is_uncertain_and_not_repeated() -> None:
    kimai = small_kimai()
    kimai.double.inject(Fault("error_after_commit", method="POST", path_prefix="/api/timesheets"))

    with pytest.raises(ExternalServiceError) as raised:
        kimai.connector().create_timesheet(draft(kimai))
    assert (raised.value.uncertain, raised.value.status) == (True, 500)
    assert len(kimai.double.all_timesheets()) == 1
    assert len(kimai.requests("POST", "/api/timesheets")) == 1


def test_a_rate_limited_create_waits_as_told_and_is_sent_again() -> None:
    kimai = small_kimai()
    kimai.double.inject(
        Fault("rate_limit", method="POST", path_prefix="/api/timesheets", retry_after=3)
    )

    kimai.connector().create_timesheet(draft(kimai))
    assert kimai.sleeps == [3.0]
    assert len(kimai.requests("POST", "/api/timesheets")) == 2
    assert len(kimai.double.all_timesheets()) == 1


def test_a_listing_that_hits_a_transient_500_is_retried_and_succeeds() -> None:
    kimai = small_kimai()
    kimai.double.inject(Fault("error_before_commit", method="GET", path_prefix="/api/timesheets"))

    assert list(kimai.connector().fetch_timesheets_in_window(*WINDOW)) == []
    assert len(kimai.requests("GET", "/api/timesheets")) == 2
    assert len(kimai.sleeps) == 1


def test_a_rejected_token_is_not_retried_and_is_permanent() -> None:
    kimai = small_kimai()

    with pytest.raises(ExternalServiceError) as raised:
        list(kimai.connector("not-a-token").fetch_timesheets_in_window(*WINDOW))
    assert (raised.value.status, raised.value.permanent) == (401, True)
    assert len(kimai.double.requests) == 1
    assert kimai.sleeps == []
