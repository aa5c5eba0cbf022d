"""Writing Kimai timesheets: time zones, tags, billable, PATCH and validation (kimai-api.md §6)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.connectors.base import TimesheetDraft
from apps.connectors.http import ExternalServiceError
from tests.connectors.kimai_setup import USER_TOKEN, SmallKimai, small_kimai

BEGIN = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def draft(kimai: SmallKimai, **changes: object) -> TimesheetDraft:
    values: dict[str, object] = {
        "begin": BEGIN,
        "duration_seconds": 1800,
        "project_id": str(kimai.project),
        "activity_id": str(kimai.support),
        "user_id": str(kimai.liam),
        "description": "#24050 Printer broken [zks-1a2b]",
    }
    values.update(changes)
    return TimesheetDraft(**values)  # type: ignore[arg-type]


def test_it_creates_a_timesheet_for_a_new_york_agent_in_the_callers_berlin_time() -> None:
    kimai = small_kimai()

    entry = kimai.connector().create_timesheet(draft(kimai))
    [post] = kimai.requests("POST", "/api/timesheets")
    assert post.json == {
        "begin": "2026-01-05T15:00:00",  # 14:00 UTC read in the bot's Europe/Berlin (§6)
        "end": "2026-01-05T15:30:00",
        "project": kimai.project,
        "activity": kimai.support,
        "description": "#24050 Printer broken [zks-1a2b]",
        "tags": "",
        "user": kimai.liam,
    }
    stored = kimai.double.timesheet(int(entry.external_id))
    assert stored.begin == BEGIN
    assert stored.begin.tzinfo == ZoneInfo("America/New_York")  # kept in the owner's zone
    assert (entry.booked_at, entry.duration_seconds) == (BEGIN, 1800)


def test_it_creates_a_timesheet_for_a_berlin_agent() -> None:
    kimai = small_kimai()

    entry = kimai.connector().create_timesheet(draft(kimai, user_id=str(kimai.emma)))
    [post] = kimai.requests("POST", "/api/timesheets")
    assert (post.json["begin"], post.json["user"]) == ("2026-01-05T15:00:00", kimai.emma)
    assert kimai.double.timesheet(int(entry.external_id)).begin == BEGIN


def test_it_sends_whole_minutes_so_kimais_rounding_keeps_the_duration() -> None:
    kimai = small_kimai()

    entry = kimai.connector().create_timesheet(
        draft(kimai, begin=BEGIN + timedelta(seconds=35), duration_seconds=1799)
    )
    [post] = kimai.requests("POST", "/api/timesheets")
    assert (post.json["begin"], post.json["end"]) == ("2026-01-05T15:00:00", "2026-01-05T15:30:00")
    assert entry.duration_seconds == 1800


def test_it_sends_tags_as_one_string_and_creates_missing_ones_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kimai = small_kimai()
    kimai.double.add_tag("synced")

    with caplog.at_level(logging.INFO):
        entry = kimai.connector().create_timesheet(draft(kimai, tags=("SYNCED", "vip")))
    [create_tag, create_sheet] = [r for r in kimai.double.requests if r.method == "POST"]
    assert (create_tag.path, create_tag.json) == ("/api/tags", {"name": "vip", "visible": True})
    assert (create_sheet.path, create_sheet.json["tags"]) == ("/api/timesheets", "synced,vip")
    assert kimai.double.tag_names(int(entry.external_id)) == ["synced", "vip"]
    assert any("kimai_tag_created" in repr(record.msg) for record in caplog.records)


def test_it_uses_a_hidden_tag_it_could_not_see_instead_of_failing() -> None:
    kimai = small_kimai()
    kimai.double.add_tag("archived", visible=False)

    entry = kimai.connector().create_timesheet(draft(kimai, tags=("archived",)))
    assert kimai.double.tag_names(int(entry.external_id)) == ["archived"]


def test_it_refuses_tag_names_kimai_cannot_store() -> None:
    kimai = small_kimai()

    with pytest.raises(ExternalServiceError) as raised:
        kimai.connector().create_timesheet(draft(kimai, tags=("a,b",)))
    assert raised.value.field_errors == {"tags": ["Invalid tag name: 'a,b'"]}
    assert kimai.requests("POST", "/api/timesheets") == []


def test_it_sends_billable_as_a_json_boolean() -> None:
    kimai = small_kimai()

    entry = kimai.connector().create_timesheet(draft(kimai, billable=False))
    [post] = kimai.requests("POST", "/api/timesheets")
    assert post.body.count(b'"billable":false') == 1
    assert kimai.double.timesheet(int(entry.external_id)).billable is False


def test_it_leaves_billable_to_kimai_when_the_draft_does_not_say() -> None:
    kimai = small_kimai()

    kimai.connector().create_timesheet(draft(kimai))
    assert "billable" not in kimai.requests("POST", "/api/timesheets")[0].json


def test_it_books_a_plain_users_own_time_without_a_user_field() -> None:
    kimai = small_kimai()

    kimai.connector(USER_TOKEN).create_timesheet(draft(kimai, user_id=str(kimai.emma)))
    [post] = kimai.requests("POST", "/api/timesheets")
    assert "user" not in post.json
    assert [s.user_id for s in kimai.double.all_timesheets()] == [kimai.emma]


def test_it_explains_why_a_plain_user_cannot_book_for_someone_else() -> None:
    kimai = small_kimai()

    with pytest.raises(ExternalServiceError) as raised:
        kimai.connector(USER_TOKEN).create_timesheet(draft(kimai))
    assert raised.value.permanent is True
    assert raised.value.message.startswith(
        "Kimai refused the fields user: this Kimai token can only book its own time and cannot "
        "set billable: give its user the Teamlead role"
    )
    assert raised.value.field_errors["__root__"] == ["This form should not contain extra fields."]


def test_it_keeps_kimais_validation_messages_field_by_field() -> None:
    kimai = small_kimai()

    with pytest.raises(ExternalServiceError) as raised:
        kimai.connector().create_timesheet(draft(kimai, activity_id=str(kimai.onsite)))
    assert raised.value.status == 400
    assert raised.value.permanent is True
    assert raised.value.field_errors == {"activity": ["The selected choice is invalid."]}
    assert raised.value.message.endswith(
        "Validation Failed: activity: The selected choice is invalid."
    )


def test_it_keeps_messages_about_the_whole_timesheet_under_root() -> None:
    kimai = small_kimai()
    kimai.double.configure(allow_overlapping_records=False)
    connector = kimai.connector()
    connector.create_timesheet(draft(kimai))

    with pytest.raises(ExternalServiceError) as raised:
        connector.create_timesheet(draft(kimai))
    assert raised.value.field_errors == {"__root__": ["You already have an entry for this time."]}


def test_it_updates_with_patch_in_the_records_own_time_zone() -> None:
    kimai = small_kimai()
    begin = datetime(2026, 1, 5, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    sheet_id = kimai.double.add_timesheet(
        kimai.liam, kimai.project, kimai.support, begin, begin + timedelta(minutes=30)
    )

    new_begin = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    entry = kimai.connector().update_timesheet(
        str(sheet_id), draft(kimai, begin=new_begin, duration_seconds=3600, tags=())
    )
    [patch] = kimai.requests("PATCH", f"/api/timesheets/{sheet_id}")
    assert (patch.json["begin"], patch.json["end"]) == (
        "2026-01-05T10:00:00",
        "2026-01-05T11:00:00",
    )
    assert kimai.double.timesheet(sheet_id).begin == new_begin
    assert (entry.booked_at, entry.duration_seconds) == (new_begin, 3600)
    assert kimai.requests("POST", "/api/timesheets") == []


def test_it_remembers_owners_it_has_seen_so_an_update_needs_one_request() -> None:
    kimai = small_kimai()
    connector = kimai.connector()
    created = connector.create_timesheet(draft(kimai))
    before = len(kimai.double.requests)

    connector.update_timesheet(created.external_id, draft(kimai, duration_seconds=600))
    assert [r.method for r in kimai.double.requests[before:]] == ["PATCH"]
    assert kimai.double.timesheet(int(created.external_id)).duration == 600


def test_it_deletes_a_timesheet_and_shrugs_when_it_is_already_gone() -> None:
    kimai = small_kimai()
    connector = kimai.connector()
    created = connector.create_timesheet(draft(kimai))

    assert connector.delete_timesheet(created.external_id) is True
    assert connector.delete_timesheet(created.external_id) is False
    assert kimai.double.all_timesheets() == []


def test_it_names_the_second_of_two_identical_wall_clock_times_with_its_offset() -> None:
    kimai = small_kimai()
    # 01:30 UTC on 25 October 2026 is 02:30 in Berlin for the second time (CET, after the switch).
    second_time = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)

    entry = kimai.connector().create_timesheet(draft(kimai, begin=second_time))
    [post] = kimai.requests("POST", "/api/timesheets")
    assert (post.json["begin"], post.json["end"]) == (
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00",
    )
    assert kimai.double.timesheet(int(entry.external_id)).begin == second_time


def test_it_sends_the_first_of_two_identical_wall_clock_times_as_plain_local_time() -> None:
    kimai = small_kimai()
    first_time = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST, ends 02:30 CEST

    entry = kimai.connector().create_timesheet(draft(kimai, begin=first_time))
    [post] = kimai.requests("POST", "/api/timesheets")
    assert (post.json["begin"], post.json["end"]) == ("2026-10-25T02:00:00", "2026-10-25T02:30:00")
    assert kimai.double.timesheet(int(entry.external_id)).begin == first_time
