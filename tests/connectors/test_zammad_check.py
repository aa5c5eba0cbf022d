"""The Zammad connection check: what works, what the token lacks, in plain words."""

from __future__ import annotations

import httpx

from apps.connectors.zammad.connector import ZammadConnector
from tests.connectors.zammad_setup import small_zammad


def test_it_reports_identity_unit_and_change_detection_for_a_good_token() -> None:
    report = small_zammad(unit="quarter").connector().check()

    assert report.ok is True
    assert report.identity == "Time Sync (sync@example.com)"
    assert report.facts["time unit"] == "quarter-hours (from the Zammad setting)"
    assert report.facts["change detection"] == "global time accounting list"
    assert report.reference_counts == {"activity types": 2}
    assert report.lacking == ()


def test_it_reports_the_version_when_the_token_may_read_it() -> None:
    zammad = small_zammad()
    zammad.double.add_token(2, ["admin", "ticket.agent"], "admin-token")

    assert zammad.connector("admin-token").check().version == "6.5.0"


def test_it_explains_what_an_agent_token_lacks() -> None:
    zammad = small_zammad()
    zammad.double.add_token(2, ["ticket.agent"], "agent-token")

    report = zammad.connector("agent-token").check()
    assert report.ok is False
    assert [p.name for p in report.lacking] == [
        "list all time accountings at once",
        "read activity types",
        "know the time unit",
    ]
    assert report.problems == (
        "This Zammad token may not read the time unit setting (it needs admin.time_accounting): "
        "choose the unit in the connection settings",
    )
    assert report.facts["change detection"] == "ticket by ticket"


def test_it_explains_a_token_that_sees_time_but_not_tickets_or_people() -> None:
    zammad = small_zammad()
    zammad.book("15", minutes_ago=30)
    zammad.double.add_token(2, ["admin.time_accounting"], "time-only-token")

    report = zammad.connector("time-only-token").check()
    assert report.ok is False
    assert [p.name for p in report.lacking] == ["read tickets", "read users and organizations"]
    assert report.problems[0].startswith("This Zammad token cannot read tickets: give it")


def test_it_is_ok_for_an_agent_token_once_the_unit_is_chosen() -> None:
    zammad = small_zammad()
    zammad.double.add_token(2, ["ticket.agent"], "agent-token")

    report = zammad.connector("agent-token", time_unit="minute").check()
    assert report.ok is True
    assert len(report.warnings) == 3  # slower change detection, no type names, unit unchecked


def test_it_warns_when_the_chosen_unit_disagrees_with_zammad() -> None:
    report = small_zammad(unit="hour").connector(time_unit="minute").check()

    assert report.warnings == (
        "Zammad labels time in 'hour' but this connection converts 'minute': check the unit, "
        "or every duration will be wrong",
    )


def test_it_explains_an_unknown_token() -> None:
    report = small_zammad().connector("wrong-token").check()

    assert (report.ok, report.reachable, report.authenticated) == (False, True, False)
    assert report.problems == (
        "Zammad did not accept the token (HTTP 401 Unauthorized on GET /api/v1/users/me): check "
        "that it is complete, correct and not expired: Can't find User for Token",
    )


def test_it_explains_a_base_url_that_serves_a_web_page() -> None:
    page = httpx.Response(200, text="<html><body>Welcome</body></html>")
    connector = ZammadConnector(
        "https://intranet.example.com", "t", transport=httpx.MockTransport(lambda r: page)
    )

    report = connector.check()
    assert report.authenticated is False
    assert "answered GET /api/v1/users/me with an HTML page instead of JSON" in report.problems[0]


def test_it_accepts_a_base_url_copied_with_the_api_path() -> None:
    zammad = small_zammad()
    connector = ZammadConnector(
        "https://zammad.example.com/api/v1/", "zammad-test-token",
        transport=zammad.double.transport(),
    )  # fmt: skip

    assert connector.check().ok is True
    assert zammad.double.requests[0].path == "/api/v1/users/me"
