"""The Kimai double's timesheet index never changes what the double answers.

A record is found once, under its current user and begin, however it changed: through the API,
set or deleted in ``double.timesheets``, or assigned in place. The window read the sync uses is
answered from the index; it must match the full scan, time zones and DST folds included.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.doubles.kimai import (
    MSG_OVERLAPPING,
    ROLE_SUPER_ADMIN,
    KimaiDouble,
    Timesheet,
    _matches_term,
)
from tests.doubles.kimai_index import TimesheetStore

NOW = datetime(2024, 5, 8, 10, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def kimai() -> Iterator[KimaiDouble]:
    """boss (Super-Admin, Berlin), anna (Berlin) and tom (New York)."""
    double = KimaiDouble(clock=lambda: NOW)
    double.add_user("boss", role=ROLE_SUPER_ADMIN, token="boss-token")
    double.add_user("anna", token="anna-token")
    double.add_user("tom", timezone="America/New_York", token="tom-token")
    double.add_customer("ACME")
    double.add_project("Web", "ACME")
    double.add_activity("Support")
    yield double
    assert double.internal_errors == []


def api(double: KimaiDouble, token: str = "boss-token") -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(transport=double.transport(), base_url="http://kimai.test", headers=headers)


def seed(double: KimaiDouble, user: str, begin: str, minutes: int = 60) -> int:
    start = datetime.fromisoformat(begin)
    return double.add_timesheet(user, "Web", "Support", start, start + timedelta(minutes=minutes))


def listed(double: KimaiDouble, **params: Any) -> list[int]:
    query = {"user": "all", "orderBy": "begin", "order": "ASC", "size": 500, **params}
    response = api(double).get("/api/timesheets", params=query)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


def day(date: str) -> dict[str, str]:
    return {"begin": f"{date}T00:00:00", "end": f"{date}T23:59:59"}


def test_it_lists_a_record_moved_by_patch_under_its_new_begin_only(kimai: KimaiDouble) -> None:
    moved = seed(kimai, "anna", "2024-05-06T09:00:00")
    body = {"begin": "2024-05-20T09:00:00", "end": "2024-05-20T10:00:00"}
    assert api(kimai).patch(f"/api/timesheets/{moved}", json=body).status_code == 200
    assert (listed(kimai, **day("2024-05-06")), listed(kimai, **day("2024-05-20"))) == ([], [moved])


def test_it_lists_a_record_given_to_another_user_under_that_user_only(kimai: KimaiDouble) -> None:
    moved = seed(kimai, "anna", "2024-05-06T09:00:00")
    tom = kimai.user_id("tom")
    assert api(kimai).patch(f"/api/timesheets/{moved}", json={"user": tom}).status_code == 200
    anna = kimai.user_id("anna")
    assert (listed(kimai, user=anna), listed(kimai, user=tom)) == ([], [moved])


def test_it_forgets_a_record_deleted_through_the_api_or_the_dict(kimai: KimaiDouble) -> None:
    first, second, kept = (seed(kimai, "anna", f"2024-05-06T0{h}:00:00") for h in (7, 8, 9))
    assert api(kimai).delete(f"/api/timesheets/{first}").status_code == 204
    del kimai.timesheets[second]
    assert listed(kimai, **day("2024-05-06")) == [kept]


def test_it_reindexes_a_stored_record_assigned_in_place(kimai: KimaiDouble) -> None:
    moved = seed(kimai, "anna", "2024-05-06T09:00:00")
    stored = kimai.timesheets[moved]
    stored.begin = datetime(2024, 5, 21, 9, tzinfo=BERLIN)
    stored.end = stored.begin + timedelta(hours=1)
    stored.user_id = kimai.user_id("tom")
    assert listed(kimai, **day("2024-05-06")) == []
    assert listed(kimai, **day("2024-05-21"), user=kimai.user_id("tom")) == [moved]


def test_a_replaced_record_no_longer_moves_the_index(kimai: KimaiDouble) -> None:
    key = seed(kimai, "anna", "2024-05-06T09:00:00")
    old = kimai.timesheets[key]
    kimai.timesheets[key] = kimai.timesheet(key)  # a copy takes its place
    old.begin = datetime(2024, 5, 22, 9, tzinfo=BERLIN)  # the stale object is not stored
    assert (listed(kimai, **day("2024-05-06")), listed(kimai, **day("2024-05-22"))) == ([key], [])


def test_it_finds_a_record_stopped_through_the_api_no_longer_running(kimai: KimaiDouble) -> None:
    running = api(kimai, "anna-token").post(
        "/api/timesheets", json={"begin": "2024-05-08T11:00:00", "project": 1, "activity": 1}
    )
    record = running.json()["id"]
    active = api(kimai, "anna-token").get("/api/timesheets/active")
    assert [row["id"] for row in active.json()] == [record]
    assert api(kimai, "anna-token").patch(f"/api/timesheets/{record}/stop").status_code == 200
    assert api(kimai, "anna-token").get("/api/timesheets/active").json() == []


def test_it_sees_an_overlap_with_a_long_record_that_began_days_earlier(kimai: KimaiDouble) -> None:
    kimai.configure(allow_overlapping_records=False)
    seed(kimai, "anna", "2024-04-20T09:00:00", minutes=20 * 24 * 60)  # until 10 May
    body = {"begin": "2024-05-08T08:00:00", "end": "2024-05-08T09:00:00"}
    response = api(kimai, "anna-token").post(
        "/api/timesheets", json={**body, "project": 1, "activity": 1}
    )
    assert response.json()["errors"]["errors"] == [MSG_OVERLAPPING]


def test_it_answers_the_window_read_at_its_exact_edges_in_the_callers_zone(
    kimai: KimaiDouble,
) -> None:
    # boss reads in Berlin: 2024-05-06T09:00:00 is 07:00 UTC, tom's 03:00 in New York.
    edge = seed(kimai, "tom", "2024-05-06T03:00:00")
    seed(kimai, "tom", "2024-05-06T02:59:00")
    far = [seed(kimai, "anna", f"2024-05-{d:02}T09:00:00") for d in range(7, 28)]
    last = seed(kimai, "anna", "2024-05-28T09:00:00")
    seed(kimai, "anna", "2024-05-28T09:01:00")
    window = {"begin": "2024-05-06T09:00:00", "end": "2024-05-28T09:00:00"}
    assert listed(kimai, **window) == [edge, *far, last]
    assert listed(kimai, **window, order="DESC", size=5, page=2) == far[::-1][4:9]


def test_the_window_read_matches_the_full_scan_across_dst_changes() -> None:
    rng = random.Random(5)
    zones = [BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Pacific/Apia"), UTC]
    store = TimesheetStore()
    start = datetime(2024, 10, 20, tzinfo=UTC)
    for key in range(1, 3000):
        begin = (start + timedelta(minutes=rng.randrange(0, 20 * 24 * 60))).astimezone(
            rng.choice(zones)
        )
        store[key] = _sheet(key, rng.randrange(1, 4), begin)
    for _ in range(300):
        zone = rng.choice(zones)
        low = (start + timedelta(minutes=rng.randrange(-600, 20 * 24 * 60))).astimezone(zone)
        high = low + timedelta(minutes=rng.choice([0, 1, 59, 60, 61, 600, 3000, 9000, 40000]))
        low, high = low.replace(fold=rng.randrange(2)), high.replace(fold=rng.randrange(2))
        expected = sorted(
            (s for s in store.values() if not s.begin < low and not s.begin > high),
            key=lambda s: (s.begin.timestamp(), s.id),
        )
        window = store.window_by_begin(low, high)
        assert len(window) == len(expected)
        for offset, size in ((0, 50), (37, 500), (len(expected) - 3, 10)):
            want = [s.id for s in expected[max(offset, 0) :][:size]]
            assert window.page(max(offset, 0), size, descending=False) == want
            want_desc = [s.id for s in expected[::-1][max(offset, 0) :][:size]]
            assert window.page(max(offset, 0), size, descending=True) == want_desc


def _sheet(key: int, user: int, begin: datetime) -> Timesheet:
    end = begin + timedelta(minutes=30)
    return Timesheet(key, user, 1, 1, begin, end, str(begin.tzinfo))


def test_a_term_search_finds_what_the_full_scan_finds(kimai: KimaiDouble) -> None:
    rng = random.Random(8)
    words = ["zk-12", "ZK-123", "zk-1234", "ſtatus", "status", "Printer", "50%", "a_b", "b\\c"]
    words += ["KELVIN", "Kelvin", "on", "fire", "ünïcode", "x"]
    for n in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 4)))
        seed(kimai, "anna", f"2024-05-{1 + n % 28:02}T{8 + n % 10:02}:00:00")
        kimai.timesheets[n + 1].description = text if n % 17 else None
    for key in rng.sample(sorted(kimai.timesheets), 40):
        kimai.timesheets[key].description = rng.choice(words)  # edited in place
    for key in rng.sample(sorted(kimai.timesheets), 30):
        del kimai.timesheets[key]
    terms = ["zk-12", "zk-123", "ZK-12 fire", "status", "STATUS", "tat", "50%", "a_b", "zk%34"]
    terms += ["k-1_3", "b\\c", "b\\\\c", "kelvin", "!zk-12", "printer !fire", "ünï", "ab", "%"]
    for term in terms:
        expected = sorted(
            key
            for key, sheet in kimai.timesheets.items()
            if _matches_term(term, [sheet.description], sheet.meta)
        )
        assert listed(kimai, term=term, orderBy="id") == expected, term


def test_the_description_index_still_finds_records_after_it_is_rebuilt() -> None:
    store = TimesheetStore()
    begin = datetime(2024, 5, 6, 9, tzinfo=BERLIN)
    for key in range(1, 51):
        store[key] = _sheet(key, 1, begin)
    for edit in range(5000):  # stale trigrams pile up until the lists are rebuilt
        store[edit % 50 + 1].description = f"printer on fire zk-{edit}"
        store.with_text(["fire"])  # a search indexes what changed since the last one
    found = store.with_text(["zk-4999"]) or []
    assert [sheet.id for sheet in found] == [50]
    assert [sheet.id for sheet in store.with_text(["zk-49"]) or []] == list(range(1, 51))
