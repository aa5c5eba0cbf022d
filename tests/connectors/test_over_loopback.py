"""The same clients over real HTTP on 127.0.0.1: sockets, timeouts and headers as in production."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.connectors.base import TimesheetDraft
from apps.connectors.http import ExternalServiceError
from apps.connectors.kimai.connector import KimaiConnector
from apps.connectors.zammad.connector import ZammadConnector
from tests.connectors.kimai_setup import ADMIN_TOKEN, small_kimai
from tests.connectors.zammad_setup import TOKEN, small_zammad
from tests.doubles.base import Fault


def test_a_zammad_check_works_over_a_real_socket() -> None:
    zammad = small_zammad()
    with zammad.double.serve() as base_url, ZammadConnector(base_url, TOKEN) as connector:
        report = connector.check()

    assert report.ok is True
    assert report.base_url == base_url


def test_a_kimai_create_that_times_out_on_the_wire_is_uncertain() -> None:
    kimai = small_kimai()
    kimai.double.inject(
        Fault("timeout_after_commit", method="POST", path_prefix="/api/timesheets",
              timeout_seconds=1.0)
    )  # fmt: skip
    draft = TimesheetDraft(
        begin=datetime(2026, 1, 5, 14, tzinfo=UTC),
        duration_seconds=900,
        project_id=str(kimai.project),
        activity_id=str(kimai.support),
        description="Printer [zks-wire]",
    )
    with kimai.double.serve() as base_url:
        connector = KimaiConnector(
            base_url,
            ADMIN_TOKEN,
            {"http": {"read_timeout_seconds": 0.3}},
            sleep=kimai.sleeps.append,
        )
        with pytest.raises(ExternalServiceError) as raised:
            connector.create_timesheet(draft)
        found = connector.search_by_marker("zks-wire")
        connector.close()

    assert raised.value.uncertain is True
    assert "did not answer within 0.3 s" in raised.value.message
    assert len(kimai.requests("POST", "/api/timesheets")) == 1
    assert len(found) == 1
