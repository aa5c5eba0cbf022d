"""Reading Kimai: timesheet listing and paging, marker search, reference data (kimai-api.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from apps.connectors.entry import ActivityRef, AgentRef, OrganizationRef, ProjectRef, TimeEntry
from apps.connectors.kimai.client import parse_kimai_time
from apps.connectors.kimai.connector import KimaiConnector
from tests.connectors.kimai_setup import ADMIN_TOKEN, SmallKimai, small_kimai

NEW_YORK = ZoneInfo("America/New_York")
WINDOW = (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC))


def add_sheets(kimai: SmallKimai, count: int, description: str = "work") -> list[int]:
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    return [
        kimai.double.add_timesheet(
            kimai.liam,
            kimai.project,
            kimai.support,
            start + timedelta(hours=i),
            start + timedelta(hours=i, minutes=30),
            description=description,
        )
        for i in range(count)
    ]


def test_it_authenticates_with_a_bearer_token() -> None:
    kimai = small_kimai()
    list(kimai.connector().fetch_timesheets_in_window(*WINDOW))

    assert {r.headers["authorization"] for r in kimai.double.requests} == {f"Bearer {ADMIN_TOKEN}"}


def test_it_lists_everyones_timesheets_in_the_api_users_local_time() -> None:
    kimai = small_kimai()
    list(kimai.connector().fetch_timesheets_in_window(*WINDOW))

    [listing] = kimai.requests("GET", "/api/timesheets")
    # The bot lives in Europe/Berlin (UTC+1 in January); an hour of slack on both sides.
    assert listing.query == {
        "user": ["all"],
        "begin": ["2026-01-05T00:00:00"],
        "end": ["2026-01-06T02:00:00"],
        "orderBy": ["begin"],
        "order": ["ASC"],
        "full": ["true"],
        "size": ["500"],
        "page": ["1"],
    }


def test_it_normalizes_a_timesheet_with_kimais_own_duration() -> None:
    kimai = small_kimai()
    begin = datetime(2026, 1, 5, 9, 15, tzinfo=NEW_YORK)
    sheet_id = kimai.double.add_timesheet(
        kimai.liam, kimai.project, kimai.support, begin, begin + timedelta(minutes=45),
        description="Printer", tags=["vip"], billable=False,
    )  # fmt: skip

    [entry] = kimai.connector().fetch_timesheets_in_window(*WINDOW)
    assert entry == TimeEntry(
        source_kind="kimai",
        connection_id=8,
        external_id=str(sheet_id),
        booked_at=datetime(2026, 1, 5, 14, 15, tzinfo=UTC),
        duration_seconds=2700,
        organization=OrganizationRef(str(kimai.acme), "ACME"),
        agent=AgentRef(str(kimai.liam), "liam.johnson@example.com", "liam"),
        activity=ActivityRef(str(kimai.support), "Support"),
        project=ProjectRef(str(kimai.project), "Support 2026"),
        begin=begin,
        end=begin + timedelta(minutes=45),
        description="Printer",
        billable=False,
        tags=("vip",),
    )


def test_it_keeps_only_timesheets_that_begin_inside_the_window() -> None:
    kimai = small_kimai()
    ids = add_sheets(kimai, 3)  # 08:00, 09:00, 10:00 UTC

    window = (datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 1, 5, 10, tzinfo=UTC))
    entries = kimai.connector().fetch_timesheets_in_window(*window)
    assert [e.external_id for e in entries] == [str(ids[1])]


def test_it_pages_through_timesheets_by_the_total_pages_header() -> None:
    kimai = small_kimai()
    ids = add_sheets(kimai, 5)

    entries = list(kimai.connector(page_size=2).fetch_timesheets_in_window(*WINDOW))
    assert [e.external_id for e in entries] == [str(i) for i in ids]
    assert [r.param("page") for r in kimai.requests("GET", "/api/timesheets")] == ["1", "2", "3"]


def test_it_stops_at_a_404_when_records_vanish_while_it_pages() -> None:
    kimai = small_kimai()
    ids = add_sheets(kimai, 5)
    inner = kimai.double.transport()

    def deleting_after_the_first_page(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        if request.url.path == "/api/timesheets" and request.url.params.get("page") == "1":
            for sheet_id in ids[2:]:
                del kimai.double.timesheets[sheet_id]
        return response

    connector = KimaiConnector(
        "https://kimai.example.com",
        ADMIN_TOKEN,
        {"page_size": 2},
        transport=httpx.MockTransport(deleting_after_the_first_page),
    )
    entries = list(connector.fetch_timesheets_in_window(*WINDOW))
    assert [e.external_id for e in entries] == [str(ids[0]), str(ids[1])]
    assert [r.param("page") for r in kimai.requests("GET", "/api/timesheets")] == ["1", "2"]


def test_it_finds_timesheets_by_marker_as_a_whole_word() -> None:
    kimai = small_kimai()
    [wanted] = add_sheets(kimai, 1, "Printer [zks-7f3a]")
    add_sheets(kimai, 1, "Printer [zks-7f3a9]")

    found = kimai.connector().search_by_marker("zks-7f3a")
    assert [e.external_id for e in found] == [str(wanted)]
    [search] = kimai.requests("GET", "/api/timesheets")
    assert (search.param("term"), search.param("user")) == ("zks-7f3a", "all")


@pytest.mark.parametrize("marker", ["zks 7f3a", "zks:7f3a", "zks%", "zks_7f3a", ""])
def test_it_refuses_a_marker_kimai_would_not_search_literally(marker: str) -> None:
    kimai = small_kimai()

    with pytest.raises(ValueError, match="letters, digits or hyphens"):
        kimai.connector().search_by_marker(marker)
    assert kimai.double.requests == []


def test_it_lists_hidden_and_out_of_date_reference_data() -> None:
    kimai = small_kimai()
    kimai.double.add_project("Hidden project", kimai.acme, visible=False)
    kimai.double.add_project("Finished project", kimai.acme, end=date(2025, 12, 31))
    kimai.double.add_tag("synced")

    reference = kimai.connector().fetch_reference_data()
    assert sorted(p.name for p in reference.projects) == [
        "Finished project", "Hidden project", "Retainer", "Support 2026",
    ]  # fmt: skip
    assert reference.tags == ("synced",)
    [projects] = kimai.requests("GET", "/api/projects")
    assert (projects.param("visible"), projects.param("ignoreDates")) == ("3", "1")
    assert {a.name: a.project_id for a in reference.activities} == {
        "Support": None,
        "Onsite": str(kimai.retainer),
    }


def test_it_lists_users_with_their_time_zones_when_the_token_may() -> None:
    kimai = small_kimai()
    kimai.double.add_user("root", role="ROLE_SUPER_ADMIN", token="root-token")

    reference = kimai.connector("root-token").fetch_reference_data()
    liam = next(u for u in reference.users if u.username == "liam")
    assert (liam.email, liam.timezone) == ("liam.johnson@example.com", "America/New_York")


def test_it_reads_kimai_offsets_written_without_a_colon() -> None:
    assert parse_kimai_time("2020-03-27T14:35:00+1300") == datetime(2020, 3, 27, 1, 35, tzinfo=UTC)
