"""The Kimai double rejects what Kimai rejects and accepts what it accepts.

Each test names one behaviour of the real server (see ``docs/reference/kimai-api.md``) and
drives the double over HTTP, in-process through ``double.transport()`` or over loopback.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.doubles.base import Fault
from tests.doubles.dataset import demo_dataset
from tests.doubles.kimai import (
    ROLE_ADMIN,
    ROLE_SUPER_ADMIN,
    ROLE_TEAMLEAD,
    KimaiDouble,
    seed_from_dataset,
)
from tests.support.processes import stop_process_tree

NOW = datetime(2024, 5, 8, 10, 0, tzinfo=UTC)  # 12:00 in Berlin, 06:00 in New York
ADMIN, LEAD, ANNA, TOM = "admin-token", "lead-token", "anna-token", "tom-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def kimai() -> Iterator[KimaiDouble]:
    """admin (ROLE_ADMIN), lead (teamlead of anna), anna and tom (ROLE_USER; tom in New York)."""
    double = KimaiDouble(clock=lambda: NOW)
    double.add_user("admin", role=ROLE_ADMIN, token=ADMIN)
    double.add_user("lead", role=ROLE_TEAMLEAD, token=LEAD)
    double.add_user("anna", token=ANNA)
    double.add_user("tom", timezone="America/New_York", token=TOM)
    double.add_team("Support", members=["anna"], leads=["lead"])
    double.add_team("Elsewhere", members=["tom"])
    double.add_customer("ACME")
    double.add_project("Web", "ACME")
    double.add_activity("Support")  # global
    double.add_activity("Design", "Web")
    double.add_tag("synced")
    yield double
    assert double.internal_errors == []


def api(double: KimaiDouble, token: str | None = ADMIN, **headers: str) -> httpx.Client:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(transport=double.transport(), base_url="http://kimai.test", headers=headers)


def sheet(**overrides: Any) -> dict[str, Any]:
    body = {"begin": "2024-05-06T08:00:00", "end": "2024-05-06T12:30:00", "project": 1}
    return {**body, "activity": 1, **overrides}


def seed(double: KimaiDouble, user: str, begin: str, minutes: int = 60, **kw: Any) -> int:
    start = datetime.fromisoformat(begin)
    end = start + timedelta(minutes=minutes)
    return double.add_timesheet(user, "Web", "Support", start, end, **kw)


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


# -- authentication (§2) -----------------------------------------------------------------------
def test_it_answers_401_json_without_credentials(kimai: KimaiDouble) -> None:
    response = api(kimai, token=None).get("/api/timesheets")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized"}


def test_it_answers_an_unknown_bearer_token_with_an_empty_401(kimai: KimaiDouble) -> None:
    response = api(kimai, token="nope").get("/api/timesheets")
    assert (response.status_code, response.content) == (401, b"")
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token",error_description="Invalid credentials."'
    )


def test_it_rejects_an_expired_token(kimai: KimaiDouble) -> None:
    kimai.add_token("anna", "old", expires_at=NOW - timedelta(seconds=1))
    assert api(kimai, token="old").get("/api/ping").status_code == 401


def test_it_answers_bad_x_auth_credentials_with_403(kimai: KimaiDouble) -> None:
    client = api(kimai, token=None, **{"X-AUTH-USER": "anna", "X-AUTH-TOKEN": "wrong"})
    response = client.get("/api/ping")
    assert (response.status_code, response.json()) == (403, {"message": "Invalid credentials"})


def test_it_accepts_the_deprecated_x_auth_headers(kimai: KimaiDouble) -> None:
    kimai.add_user("old", api_password="secret-api-pass")
    client = api(kimai, token=None, **{"X-AUTH-USER": "old", "X-AUTH-TOKEN": "secret-api-pass"})
    assert client.get("/api/users/me").json()["username"] == "old"


def test_it_answers_404_for_unknown_routes_before_checking_credentials(kimai: KimaiDouble) -> None:
    response = api(kimai, token=None).get("/api/nothing-here")
    assert (response.status_code, response.json()) == (404, {"code": 404, "message": "Not Found"})


def test_it_ignores_bearer_tokens_before_2_14(kimai: KimaiDouble) -> None:
    kimai.version = "2.13.0"
    response = api(kimai).get("/api/ping")
    assert (response.status_code, response.json()["message"]) == (401, "Unauthorized")


# -- simple endpoints ----------------------------------------------------------------------------
def test_it_answers_ping(kimai: KimaiDouble) -> None:
    assert api(kimai, ANNA).get("/api/ping").json() == {"message": "pong"}


def test_it_reports_the_simulated_version(kimai: KimaiDouble) -> None:
    kimai.version = "2.40.1"
    body = api(kimai).get("/api/version").json()
    assert body == {
        "version": "2.40.1",
        "versionId": 24001,
        "copyright": "Kimai 2.40.1 by Kevin Papst.",
    }


def test_it_returns_the_callers_profile_with_timezone_roles_and_teams(kimai: KimaiDouble) -> None:
    me = api(kimai, LEAD).get("/api/users/me").json()
    assert (me["username"], me["timezone"], me["roles"]) == (
        "lead",
        "Europe/Berlin",
        [ROLE_TEAMLEAD],
    )
    assert me["memberships"] == [{"team": me["teams"][0], "teamlead": True}]


def test_it_lists_users_only_for_super_admins_by_default(kimai: KimaiDouble) -> None:
    kimai.add_user("root", role=ROLE_SUPER_ADMIN, token="root-token")
    assert api(kimai, ADMIN).get("/api/users").status_code == 403
    usernames = [u["username"] for u in api(kimai, "root-token").get("/api/users").json()]
    assert usernames == ["admin", "anna", "lead", "root", "tom"]


def test_it_lists_users_for_a_role_granted_view_user(kimai: KimaiDouble) -> None:
    kimai.grant(ROLE_TEAMLEAD, "view_user")
    usernames = [u["username"] for u in api(kimai, LEAD).get("/api/users").json()]
    assert usernames == ["anna", "lead"]


def test_it_reports_the_timesheet_configuration(kimai: KimaiDouble) -> None:
    kimai.configure(allow_overlapping_records=False)
    config = api(kimai, ANNA).get("/api/config/timesheet").json()
    assert config == {
        "trackingMode": "default",
        "defaultBeginTime": "now",
        "activeEntriesHardLimit": 1,
        "isAllowFutureTimes": True,
        "isAllowOverlapping": False,
    }


# -- customers, projects, activities, tags (§8, §11) ---------------------------------------------
def test_it_lists_only_projects_running_today_by_default(kimai: KimaiDouble) -> None:
    kimai.add_project("Old", "ACME", end=date(2024, 5, 7))
    kimai.add_project("Later", "ACME", start=date(2024, 5, 9))
    assert [p["name"] for p in api(kimai).get("/api/projects").json()] == ["Web"]
    listed = api(kimai).get("/api/projects", params={"ignoreDates": 1}).json()
    assert [p["name"] for p in listed] == ["Later", "Old", "Web"]


def test_it_filters_projects_by_visibility(kimai: KimaiDouble) -> None:
    kimai.add_project("Retired", "ACME", visible=False)
    assert [p["name"] for p in api(kimai).get("/api/projects?visible=2").json()] == ["Retired"]
    assert len(api(kimai).get("/api/projects?visible=3").json()) == 2


def test_it_hides_projects_of_a_hidden_customer_unless_visible_3(kimai: KimaiDouble) -> None:
    kimai.add_project("Secret", kimai.add_customer("Gone", visible=False))
    assert [p["name"] for p in api(kimai).get("/api/projects").json()] == ["Web"]
    assert len(api(kimai).get("/api/projects", params={"visible": 3}).json()) == 2


def test_it_filters_projects_by_customer(kimai: KimaiDouble) -> None:
    other = kimai.add_customer("Other")
    kimai.add_project("Theirs", other)
    names = [p["name"] for p in api(kimai).get("/api/projects", params={"customer": other}).json()]
    assert names == ["Theirs"]


def test_it_lists_a_projects_activities_plus_globals(kimai: KimaiDouble) -> None:
    other = kimai.add_project("Other", "ACME")
    kimai.add_activity("Elsewhere", other)
    names = [a["name"] for a in api(kimai).get("/api/activities?project=1").json()]
    assert names == ["Design", "Support"]


def test_it_lists_only_global_activities_with_globals_1(kimai: KimaiDouble) -> None:
    activities = api(kimai).get("/api/activities", params={"globals": 1}).json()
    assert [(a["name"], a["project"]) for a in activities] == [("Support", None)]


def test_it_leaves_out_globals_for_a_project_without_global_activities(kimai: KimaiDouble) -> None:
    closed = kimai.add_project("Closed", "ACME", global_activities=False)
    kimai.add_activity("Own", closed)
    activities = api(kimai).get("/api/activities", params={"project": closed}).json()
    assert [a["name"] for a in activities] == ["Own"]


def test_it_returns_lists_without_pagination_headers(kimai: KimaiDouble) -> None:
    response = api(kimai).get("/api/customers")
    assert [c["name"] for c in response.json()] == ["ACME"]
    assert not [h for h in response.headers if h.lower().startswith("x-")]


def test_it_finds_visible_tags_by_name_part(kimai: KimaiDouble) -> None:
    kimai.add_tag("unsynced-hidden", visible=False)
    found = api(kimai, ANNA).get("/api/tags/find", params={"name": "sync"}).json()
    assert found == [
        {
            "id": 1,
            "name": "synced",
            "color": None,
            "color-safe": found[0]["color-safe"],
            "visible": True,
        }
    ]


def test_it_finds_no_tags_without_a_name(kimai: KimaiDouble) -> None:
    assert api(kimai, ANNA).get("/api/tags/find").json() == []


def test_it_creates_a_tag_with_status_200(kimai: KimaiDouble) -> None:
    response = api(kimai, ANNA).post("/api/tags", json={"name": "billed", "visible": True})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["visible"]) == ("billed", True)


def test_it_saves_a_tag_hidden_when_visible_is_missing(kimai: KimaiDouble) -> None:
    response = api(kimai, ANNA).post("/api/tags", json={"name": "billed"})
    assert response.json()["visible"] is False


def test_it_rejects_a_duplicate_tag_name(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/tags", json={"name": "Synced", "visible": True})
    assert response.status_code == 400
    assert response.json()["errors"]["children"]["name"] == {
        "errors": ["This value is already used."]
    }


def test_it_rejects_a_tag_name_with_a_comma(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/tags", json={"name": "a,b", "visible": True})
    assert response.json()["errors"]["children"]["name"] == {
        "errors": ["Tag name cannot contain comma"]
    }


def test_it_rejects_a_one_character_tag_name(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/tags", json={"name": " x ", "visible": True})
    assert response.json()["errors"]["children"]["name"] == {
        "errors": ["This value is too short. It should have 2 characters or more."]
    }


def test_it_creates_a_customer_with_2_63_defaults(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/customers", json={"name": "Awesome Customer Inc."})
    body = response.json()
    assert response.status_code == 200
    assert (body["number"], body["country"], body["currency"]) == ("0002", "DE", "EUR")
    assert (body["visible"], body["billable"], body["language"]) == (True, True, "en")


def test_it_clears_left_out_checkboxes_before_2_63(kimai: KimaiDouble) -> None:
    kimai.version = "2.62.0"
    body = {"name": "Ticket 1", "customer": 1}
    project = api(kimai).post("/api/projects", json=body).json()
    assert (project["visible"], project["billable"], project["globalActivities"]) == (False,) * 3


def test_it_forbids_customer_creation_for_a_teamlead(kimai: KimaiDouble) -> None:
    response = api(kimai, LEAD).post("/api/customers", json={"name": "Nope Inc."})
    assert (response.status_code, response.json()) == (403, {"code": 403, "message": "Forbidden"})


def test_it_lets_a_teamlead_create_a_global_activity(kimai: KimaiDouble) -> None:
    response = api(kimai, LEAD).post("/api/activities", json={"name": "Onsite"})
    assert (response.status_code, response.json()["project"]) == (200, None)


def test_it_requires_a_customer_for_a_project(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/projects", json={"name": "Orphan", "visible": True})
    assert response.status_code == 400
    assert response.json()["errors"]["children"]["customer"] == {
        "errors": ["This value should not be null."]
    }


def test_it_rejects_fields_the_project_form_does_not_have(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/projects", json={"name": "X1", "customer": 1, "budgetX": 1})
    assert response.json()["errors"]["errors"] == ["This form should not contain extra fields."]


def test_it_rejects_an_invalid_country(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/customers", json={"name": "Cust", "country": "XX"})
    assert response.json()["errors"]["children"]["country"] == {
        "errors": ["Please select a valid country."]
    }


def test_it_rejects_a_number_that_is_taken(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/activities", json={"name": "Copy", "number": "0001"})
    assert response.json()["errors"]["children"]["number"] == {
        "errors": ["The number 0001 is already used."]
    }


def test_it_rejects_a_project_that_ends_before_it_starts(kimai: KimaiDouble) -> None:
    body = {"name": "Backwards", "customer": 1, "start": "2024-05-02", "end": "2024-05-01"}
    response = api(kimai).post("/api/projects", json=body)
    assert response.json()["errors"]["children"]["end"] == {
        "errors": ["The end date must not be earlier than the start date."]
    }


def test_it_fails_with_500_when_a_patch_empties_a_project_name(kimai: KimaiDouble) -> None:
    response = api(kimai).patch("/api/projects/1", json={"name": ""})
    assert (response.status_code, kimai.projects[1].name) == (500, "Web")


def test_it_has_no_tag_search_before_2_18(kimai: KimaiDouble) -> None:
    kimai.version = "2.17.0"
    assert api(kimai).get("/api/tags/find", params={"name": "sync"}).status_code == 404
    assert api(kimai).get("/api/tags", params={"name": "sync"}).json() == ["synced"]


def test_it_hides_a_project_with_patch_visible_false(kimai: KimaiDouble) -> None:
    response = api(kimai).patch("/api/projects/1", json={"visible": False})
    assert (response.status_code, response.json()["visible"]) == (200, False)
    assert api(kimai).get("/api/projects").json() == []


# -- GET /api/timesheets (§5) -------------------------------------------------------------------
def test_it_returns_only_the_callers_own_records_even_for_admins(kimai: KimaiDouble) -> None:
    mine = seed(kimai, "admin", "2024-05-06T08:00:00")
    seed(kimai, "anna", "2024-05-06T09:00:00")
    assert ids(api(kimai).get("/api/timesheets")) == [mine]


def test_it_ignores_the_user_filter_without_view_other_permission(kimai: KimaiDouble) -> None:
    own = seed(kimai, "anna", "2024-05-06T08:00:00")
    seed(kimai, "tom", "2024-05-06T09:00:00")
    response = api(kimai, ANNA).get("/api/timesheets", params={"user": kimai.user_id("tom")})
    assert ids(response) == [own]


def test_it_shows_a_teamlead_their_team_with_user_all(kimai: KimaiDouble) -> None:
    team = [seed(kimai, "lead", "2024-05-06T08:00:00"), seed(kimai, "anna", "2024-05-06T09:00:00")]
    seed(kimai, "tom", "2024-05-06T10:00:00")
    assert sorted(ids(api(kimai, LEAD).get("/api/timesheets?user=all"))) == team


def test_it_shows_an_admin_everyone_with_user_all(kimai: KimaiDouble) -> None:
    everyone = [seed(kimai, name, "2024-05-06T08:00:00") for name in ("anna", "tom", "lead")]
    assert sorted(ids(api(kimai).get("/api/timesheets?user=all"))) == everyone


def test_it_merges_user_and_users_filters(kimai: KimaiDouble) -> None:
    both = [seed(kimai, "anna", "2024-05-06T08:00:00"), seed(kimai, "tom", "2024-05-06T09:00:00")]
    seed(kimai, "lead", "2024-05-06T10:00:00")
    query = "user=3&users[]=4&users[]=999"
    assert sorted(ids(api(kimai).get(f"/api/timesheets?{query}"))) == both


def test_it_forbids_a_teamlead_to_filter_on_a_user_outside_their_teams(kimai: KimaiDouble) -> None:
    response = api(kimai, LEAD).get("/api/timesheets", params={"users[]": kimai.user_id("tom")})
    assert (response.status_code, response.json()["message"]) == (403, "Forbidden")


@pytest.mark.parametrize(
    "query",
    [
        "begin=2024-05-06T08:00",
        "begin=2024-05-06",
        "end=2024-05-06T08:00:00%2B02:00",
        "modified_after=2024-02-30T00:00:00",
        "billable=true",
        "exported=false",
        "active=2",
        "page=first",
        "size=-1",
        "orderBy=duration",
        "order=asc",
        "user=me",
        "users[]=x",
        "full=yes",
    ],
)
def test_it_rejects_query_params_that_break_a_requirement(kimai: KimaiDouble, query: str) -> None:
    response = api(kimai).get(f"/api/timesheets?{query}")
    assert (response.status_code, response.json()) == (400, {"code": 400, "message": "Bad Request"})


def test_it_reads_begin_and_end_filters_in_the_callers_timezone(kimai: KimaiDouble) -> None:
    early = seed(kimai, "tom", "2024-05-06T07:30:00-04:00")
    late = seed(kimai, "tom", "2024-05-06T08:00:00-04:00")
    query = {"begin": "2024-05-06T08:00:00"}
    assert ids(api(kimai, TOM).get("/api/timesheets", params=query)) == [late]
    assert ids(api(kimai, TOM).get("/api/timesheets?end=2024-05-06T07:59:59")) == [early]


def test_it_filters_end_on_the_begin_time(kimai: KimaiDouble) -> None:
    long_one = seed(kimai, "admin", "2024-05-06T08:00:00+02:00", minutes=600)
    response = api(kimai).get("/api/timesheets", params={"end": "2024-05-06T09:00:00"})
    assert ids(response) == [long_one]


def test_it_filters_modified_after_in_utc(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    query = {"modified_after": "2024-05-08T10:00:00"}
    assert len(ids(api(kimai).get("/api/timesheets", params=query))) == 1
    query = {"modified_after": "2024-05-08T10:00:01"}
    assert ids(api(kimai).get("/api/timesheets", params=query)) == []


def test_it_filters_running_records_with_active_1(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    running = kimai.add_timesheet("admin", "Web", "Support", NOW - timedelta(hours=1))
    assert ids(api(kimai).get("/api/timesheets?active=1")) == [running]


def test_it_filters_billable_and_exported_flags(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    free = seed(kimai, "admin", "2024-05-06T10:00:00+02:00", billable=False, exported=True)
    assert ids(api(kimai).get("/api/timesheets?billable=0&exported=1")) == [free]


def test_it_answers_400_when_no_filter_tag_exists(kimai: KimaiDouble) -> None:
    kimai.add_tag("hidden", visible=False)
    response = api(kimai).get("/api/timesheets", params={"tags[]": ["nope", "hidden"]})
    assert (response.status_code, response.json()["message"]) == (400, "Bad Request")


def test_it_filters_by_tags_ignoring_unknown_names(kimai: KimaiDouble) -> None:
    tagged = seed(kimai, "admin", "2024-05-06T08:00:00+02:00", tags=["synced"])
    seed(kimai, "admin", "2024-05-06T10:00:00+02:00")
    response = api(kimai).get("/api/timesheets", params={"tags[]": ["synced", "nope"]})
    assert ids(response) == [tagged]


def test_it_requires_every_term_word_in_the_description(kimai: KimaiDouble) -> None:
    both = seed(kimai, "admin", "2024-05-06T08:00:00+02:00", description="Printer [zks-7f3a]")
    seed(kimai, "admin", "2024-05-06T10:00:00+02:00", description="Printer [zks-0000]")
    response = api(kimai).get("/api/timesheets", params={"term": "printer zks-7f3a"})
    assert ids(response) == [both]


def test_it_treats_percent_and_underscore_in_term_as_wildcards(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00+02:00", description="ab")
    seed(kimai, "admin", "2024-05-06T10:00:00+02:00", description="axb")
    assert len(ids(api(kimai).get("/api/timesheets", params={"term": "a_b"}))) == 1
    assert len(ids(api(kimai).get("/api/timesheets", params={"term": "a%b"}))) == 2


def test_it_searches_meta_fields_with_name_colon_value(kimai: KimaiDouble) -> None:
    kimai.register_meta_field("externalid", visible=False)
    hit = seed(kimai, "admin", "2024-05-06T08:00:00+02:00", meta={"externalID": "X-17"})
    seed(kimai, "admin", "2024-05-06T10:00:00+02:00", description="externalid:X-17")
    assert ids(api(kimai).get("/api/timesheets", params={"term": "externalid:X-1"})) == [hit]


def test_it_finds_records_without_a_meta_field_with_tilde(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00+02:00", meta={"externalid": "X-17"})
    bare = seed(kimai, "admin", "2024-05-06T10:00:00+02:00")
    assert ids(api(kimai).get("/api/timesheets", params={"term": "externalid:~"})) == [bare]


def test_it_negates_a_term_word_with_an_exclamation_mark(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00+02:00", description="synced once")
    other = seed(kimai, "admin", "2024-05-06T10:00:00+02:00", description="manual")
    assert ids(api(kimai).get("/api/timesheets", params={"term": "!synced"})) == [other]


def test_it_paginates_with_the_x_headers(kimai: KimaiDouble) -> None:
    for hour in range(22):
        seed(kimai, "admin", f"2024-05-0{1 + hour // 8}T{8 + hour % 8:02d}:00:00+02:00")
    response = api(kimai).get("/api/timesheets?page=2&size=4")
    assert len(response.json()) == 4
    headers = [
        response.headers[h] for h in ("X-Page", "X-Total-Count", "X-Total-Pages", "X-Per-Page")
    ]
    assert headers == ["2", "22", "6", "4"]


def test_it_returns_404_past_the_last_page(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    response = api(kimai).get("/api/timesheets?page=2")
    assert (response.status_code, response.json()) == (404, {"code": 404, "message": "Not Found"})


def test_it_returns_an_empty_first_page_with_one_total_page(kimai: KimaiDouble) -> None:
    response = api(kimai).get("/api/timesheets")
    assert (response.status_code, response.json(), response.headers["X-Total-Pages"]) == (
        200,
        [],
        "1",
    )


@pytest.mark.parametrize(("size", "per_page"), [("0", "50"), ("501", "500"), ("", "50")])
def test_it_normalises_the_page_size(kimai: KimaiDouble, size: str, per_page: str) -> None:
    response = api(kimai).get(f"/api/timesheets?size={size}")
    assert response.headers["X-Per-Page"] == per_page


def test_it_orders_by_begin_descending_with_the_id_as_tie_breaker(kimai: KimaiDouble) -> None:
    first = seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    second = seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    earlier = seed(kimai, "admin", "2024-05-05T08:00:00+02:00")
    assert ids(api(kimai).get("/api/timesheets")) == [second, first, earlier]
    assert ids(api(kimai).get("/api/timesheets?order=ASC")) == [earlier, first, second]


def test_it_expands_user_project_customer_and_activity_with_full(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    item = api(kimai).get("/api/timesheets?full=true").json()[0]
    assert (item["user"]["username"], item["project"]["customer"]["name"]) == ("admin", "ACME")
    assert (item["activity"]["name"], item["activity"]["project"]) == ("Support", None)


def test_it_skips_empty_entries_of_array_filters(kimai: KimaiDouble) -> None:
    mine = seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    assert ids(api(kimai).get("/api/timesheets?users[]=&projects[]=")) == [mine]


def test_it_drops_unknown_project_ids_from_the_filter(kimai: KimaiDouble) -> None:
    mine = seed(kimai, "admin", "2024-05-06T08:00:00+02:00")
    assert ids(api(kimai).get("/api/timesheets?project=999")) == [mine]


# -- GET /api/timesheets/{id} -------------------------------------------------------------------
def test_it_returns_404_for_an_unknown_timesheet(kimai: KimaiDouble) -> None:
    assert api(kimai).get("/api/timesheets/99").json() == {"code": 404, "message": "Not Found"}


def test_it_returns_403_for_another_users_timesheet(kimai: KimaiDouble) -> None:
    theirs = seed(kimai, "tom", "2024-05-06T08:00:00")
    response = api(kimai, ANNA).get(f"/api/timesheets/{theirs}")
    assert (response.status_code, response.json()) == (403, {"code": 403, "message": "Forbidden"})


# -- POST /api/timesheets (§6, §7) --------------------------------------------------------------
def test_it_creates_a_timesheet_with_status_200(kimai: KimaiDouble) -> None:
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(description="Work [zks-1]"))
    assert response.status_code == 200
    assert response.json()["description"] == "Work [zks-1]"
    assert [t.description for t in kimai.timesheets_of("anna")] == ["Work [zks-1]"]


def test_it_rejects_tags_sent_as_a_json_array(kimai: KimaiDouble) -> None:
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(tags=["synced"]))
    assert response.status_code == 400
    assert response.json()["errors"]["children"]["tags"] == {"errors": ["This value is not valid."]}


def test_it_trims_deduplicates_and_drops_unknown_tag_names(kimai: KimaiDouble) -> None:
    kimai.add_tag("backend")
    body = sheet(tags=" synced , backend,synced, brand-new ")
    assert api(kimai, ANNA).post("/api/timesheets", json=body).json()["tags"] == [
        "synced",
        "backend",
    ]
    assert kimai.tag_id("synced") == 1 and "brand-new" not in [t.name for t in kimai.tags.values()]


@pytest.mark.parametrize(
    "name", ["duration", "customer", "metaFields", "internalRate", "rate", "id"]
)
def test_it_rejects_fields_the_timesheet_form_never_accepts(kimai: KimaiDouble, name: str) -> None:
    response = api(kimai).post("/api/timesheets", json=sheet(**{name: 1}))
    assert response.status_code == 400
    assert response.json()["errors"]["errors"] == ["This form should not contain extra fields."]


@pytest.mark.parametrize("name", ["billable", "exported", "user", "fixedRate", "hourlyRate"])
def test_it_rejects_privileged_fields_from_a_plain_user(kimai: KimaiDouble, name: str) -> None:
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(**{name: 1}))
    assert response.json()["errors"]["errors"] == ["This form should not contain extra fields."]
    assert kimai.all_timesheets() == []


def test_it_rejects_rate_fields_from_a_teamlead(kimai: KimaiDouble) -> None:
    response = api(kimai, LEAD).post("/api/timesheets", json=sheet(hourlyRate=80, billable=True))
    assert response.json()["errors"]["errors"] == ["This form should not contain extra fields."]


def test_it_lists_every_field_of_the_callers_form_in_children(kimai: KimaiDouble) -> None:
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(activity=999))
    assert response.json()["errors"]["children"] == {
        "begin": {},
        "end": {},
        "project": {},
        "activity": {"errors": ["The selected choice is invalid."]},
        "description": {},
        "tags": {},
    }


def test_it_parses_post_times_in_the_callers_timezone(kimai: KimaiDouble) -> None:
    response = api(kimai, TOM).post("/api/timesheets", json=sheet())
    assert response.json()["begin"] == "2024-05-06T08:00:00-0400"
    assert kimai.timesheets_of("tom")[0].begin == datetime(2024, 5, 6, 12, 0, tzinfo=UTC)


def test_it_stores_a_record_for_another_user_in_the_owners_timezone(kimai: KimaiDouble) -> None:
    created = api(kimai).post("/api/timesheets", json=sheet(user=kimai.user_id("tom"))).json()
    assert created["begin"] == "2024-05-06T08:00:00+0200"  # parsed in the caller's zone
    fetched = api(kimai).get(f"/api/timesheets/{created['id']}").json()
    assert fetched["begin"] == "2024-05-06T02:00:00-0400"  # same instant, the owner's offset


def test_it_floors_begin_and_ceils_end_to_the_minute(kimai: KimaiDouble) -> None:
    body = sheet(begin="2024-05-06T14:35:59", end="2024-05-07T03:29:04")
    created = api(kimai, ANNA).post("/api/timesheets", json=body).json()
    assert (created["begin"], created["end"]) == (
        "2024-05-06T14:35:00+0200",
        "2024-05-07T03:30:00+0200",
    )
    assert created["duration"] == 46500


def test_it_orders_begin_and_end_by_instant_across_a_dst_fall_back(kimai: KimaiDouble) -> None:
    # 02:30 CEST (00:30 UTC) to 02:00 CET (01:00 UTC) is 30 minutes, although 02:00 < 02:30.
    body = sheet(begin="2026-10-25T02:30:00", end="2026-10-25T02:00:00+01:00")
    response = api(kimai, ANNA).post("/api/timesheets", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["duration"] == 1800


def test_it_accepts_a_space_separated_time_without_seconds(kimai: KimaiDouble) -> None:
    body = sheet(begin="2024-05-06 08:15", end="2024-05-06 09:00")
    assert api(kimai, ANNA).post("/api/timesheets", json=body).json()["duration"] == 2700


def test_it_rejects_an_unparsable_begin(kimai: KimaiDouble) -> None:
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(begin="06.05.2024 08:00"))
    assert response.json()["errors"]["children"]["begin"] == {
        "errors": ["Please enter a valid date and time."]
    }


def test_it_reads_the_string_false_as_billable(kimai: KimaiDouble) -> None:
    created = api(kimai, LEAD).post("/api/timesheets", json=sheet(billable="false")).json()
    assert created["billable"] is True


@pytest.mark.parametrize("value", [False, None, "", "0", 0])
def test_it_reads_falsy_billable_values_as_not_billable(kimai: KimaiDouble, value: Any) -> None:
    created = api(kimai, LEAD).post("/api/timesheets", json=sheet(billable=value)).json()
    assert created["billable"] is False


def test_it_derives_billable_from_activity_project_and_customer(kimai: KimaiDouble) -> None:
    kimai.add_activity("Internal", billable=False)
    assert api(kimai, ANNA).post("/api/timesheets", json=sheet()).json()["billable"] is True
    body = sheet(activity=kimai.activity_id("Internal"), begin="2024-05-06T13:00:00", end=None)
    assert api(kimai, ANNA).post("/api/timesheets", json=body).json()["billable"] is False


def test_it_reads_any_exported_value_but_false_as_exported(kimai: KimaiDouble) -> None:
    created = api(kimai, LEAD).post("/api/timesheets", json=sheet(exported="0")).json()
    assert created["exported"] is True


def test_it_stops_the_users_running_record_when_starting_another(kimai: KimaiDouble) -> None:
    first = kimai.add_timesheet("anna", "Web", "Support", NOW - timedelta(hours=2))
    body = sheet(begin="2024-05-08T11:30:00", end=None)
    started = api(kimai, ANNA).post("/api/timesheets", json=body).json()
    assert (started["end"], started["duration"]) == (None, 0)
    assert kimai.timesheet(first).end == NOW


def test_it_puts_end_before_begin_into_the_root_errors(kimai: KimaiDouble) -> None:
    body = sheet(begin="2024-05-06T12:00:00", end="2024-05-06T11:00:00")
    errors = api(kimai, ANNA).post("/api/timesheets", json=body).json()["errors"]
    assert "The end date must not be earlier than the start date." in errors["errors"]
    assert errors["children"]["end"] == {}


def test_it_rejects_a_project_that_has_ended_by_today(kimai: KimaiDouble) -> None:
    old = kimai.add_project("Old", "ACME", end=date(2024, 5, 7))
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(project=old))
    assert response.json()["errors"]["children"]["project"] == {
        "errors": ["The selected choice is invalid."]
    }


def test_it_rejects_a_record_before_the_project_start(kimai: KimaiDouble) -> None:
    fresh = kimai.add_project("Fresh", "ACME", start=date(2024, 5, 7))
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(project=fresh))
    assert response.json()["errors"]["errors"] == ["The project has not started at that time."]


def test_it_rejects_a_project_of_a_hidden_customer(kimai: KimaiDouble) -> None:
    hidden = kimai.add_project("Hidden", kimai.add_customer("Gone", visible=False))
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(project=hidden))
    assert response.json()["errors"]["children"]["project"]["errors"] == [
        "The selected choice is invalid."
    ]


def test_it_rejects_an_activity_of_another_project(kimai: KimaiDouble) -> None:
    other = kimai.add_project("Other", "ACME")
    foreign = kimai.add_activity("Foreign", other)
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(activity=foreign))
    assert response.json()["errors"]["children"]["activity"]["errors"] == [
        "The selected choice is invalid."
    ]


def test_it_rejects_a_global_activity_on_a_project_without_globals(kimai: KimaiDouble) -> None:
    closed = kimai.add_project("Closed", "ACME", global_activities=False)
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(project=closed, activity=1))
    assert response.status_code == 400
    assert "errors" in response.json()["errors"]["children"]["activity"]


def test_it_requires_a_project(kimai: KimaiDouble) -> None:
    body = {"begin": "2024-05-06T08:00:00", "end": "2024-05-06T09:00:00", "activity": 1}
    response = api(kimai, ANNA).post("/api/timesheets", json=body)
    assert (
        "A project needs to be selected."
        in response.json()["errors"]["children"]["project"]["errors"]
    )


def test_it_rejects_overlapping_records_when_configured(kimai: KimaiDouble) -> None:
    kimai.configure(allow_overlapping_records=False)
    seed(kimai, "anna", "2024-05-06T09:00:00")
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet())
    assert response.json()["errors"]["errors"] == ["You already have an entry for this time."]


def test_it_allows_back_to_back_records_when_overlapping_is_off(kimai: KimaiDouble) -> None:
    kimai.configure(allow_overlapping_records=False)
    seed(kimai, "anna", "2024-05-06T12:30:00")
    assert api(kimai, ANNA).post("/api/timesheets", json=sheet()).status_code == 200


def test_it_allows_overlapping_records_by_default(kimai: KimaiDouble) -> None:
    seed(kimai, "anna", "2024-05-06T09:00:00")
    assert api(kimai, ANNA).post("/api/timesheets", json=sheet()).status_code == 200


def test_it_rejects_future_times_when_configured(kimai: KimaiDouble) -> None:
    kimai.configure(allow_future_times=False)
    body = sheet(begin="2024-05-08T13:00:00", end="2024-05-08T14:00:00")
    response = api(kimai, ANNA).post("/api/timesheets", json=body)
    assert response.json()["errors"]["errors"] == [
        "The begin date cannot be in the future.",
        "The end date cannot be in the future.",
    ]


def test_it_rejects_a_zero_duration_when_configured(kimai: KimaiDouble) -> None:
    kimai.configure(allow_zero_duration=False)
    body = sheet(end="2024-05-06T08:00:00")
    response = api(kimai, ANNA).post("/api/timesheets", json=body)
    assert response.json()["errors"]["errors"] == ["An empty duration is not allowed."]


def test_it_rejects_a_record_in_a_locked_period(kimai: KimaiDouble) -> None:
    kimai.set_lockdown(datetime(2024, 4, 1), datetime(2024, 4, 30, 23, 59, 59))
    body = sheet(begin="2024-04-29T08:00:00", end="2024-04-29T09:00:00")
    response = api(kimai, ANNA).post("/api/timesheets", json=body)
    assert response.json()["errors"]["errors"] == [
        "This period is locked. Please choose a later date."
    ]


def test_it_lets_an_admin_book_into_a_locked_period(kimai: KimaiDouble) -> None:
    kimai.set_lockdown(datetime(2024, 4, 1), datetime(2024, 4, 30, 23, 59, 59))
    body = sheet(begin="2024-04-29T08:00:00", end="2024-04-29T09:00:00")
    assert api(kimai).post("/api/timesheets", json=body).status_code == 200


def test_it_answers_malformed_json_with_bad_request(kimai: KimaiDouble) -> None:
    headers = {"Content-Type": "application/json"}
    response = api(kimai).post("/api/timesheets", content=b"{nope", headers=headers)
    assert (response.status_code, response.json()) == (400, {"code": 400, "message": "Bad Request"})


def test_it_turns_snake_case_keys_into_camel_case(kimai: KimaiDouble) -> None:
    created = api(kimai).post("/api/timesheets", json=sheet(fixed_rate=120)).json()
    assert (created["fixedRate"], created["rate"]) == (120.0, 120.0)


def test_it_rejects_both_spellings_of_one_key(kimai: KimaiDouble) -> None:
    response = api(kimai).post("/api/timesheets", json=sheet(fixed_rate=1, fixedRate=2))
    assert (response.status_code, response.json()["message"]) == (400, "Bad Request")


def test_it_expands_the_created_record_with_full(kimai: KimaiDouble) -> None:
    created = api(kimai, ANNA).post("/api/timesheets?full=true", json=sheet()).json()
    assert created["project"]["customer"]["name"] == "ACME"


@pytest.mark.parametrize(
    ("begin", "stored_utc"),
    [
        ("2024-05-06T08:00:00", "06:00"),
        ("2024-05-06 08:00", "06:00"),
        ("2024-05-06T08:00:00+00:00", "08:00"),  # PHP honours a trailing offset
        ("2024-05-06T08:00:00Z", "08:00"),
    ],
)
def test_it_accepts_the_html5_date_shapes(kimai: KimaiDouble, begin: str, stored_utc: str) -> None:
    body = sheet(begin=begin, end="2024-05-06T12:30:00")
    assert api(kimai, ANNA).post("/api/timesheets", json=body).status_code == 200
    assert kimai.timesheets_of("anna")[0].begin.astimezone(UTC).strftime("%H:%M") == stored_utc


@pytest.mark.parametrize("begin", ["2024-05-06t08:00", "2024-05-06", "2024-02-30T08:00", 20240506])
def test_it_rejects_other_date_shapes(kimai: KimaiDouble, begin: Any) -> None:
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(begin=begin))
    assert response.json()["errors"]["children"]["begin"] == {
        "errors": ["Please enter a valid date and time."]
    }


def test_it_adds_billable_mode_to_the_children_when_billable_is_sent(kimai: KimaiDouble) -> None:
    response = api(kimai, LEAD).post("/api/timesheets", json=sheet(billable=True, activity=9))
    children = response.json()["errors"]["children"]
    assert list(children)[-3:] == ["exported", "billable", "billableMode"]


def test_it_lets_a_teamlead_book_for_a_team_member(kimai: KimaiDouble) -> None:
    body = sheet(user=kimai.user_id("anna"))
    assert api(kimai, LEAD).post("/api/timesheets", json=body).json()["user"] == 3


def test_it_refuses_a_teamlead_booking_for_a_user_outside_their_teams(kimai: KimaiDouble) -> None:
    body = sheet(user=kimai.user_id("tom"))
    response = api(kimai, LEAD).post("/api/timesheets", json=body)
    assert response.json()["errors"]["children"]["user"] == {
        "errors": ["The selected choice is invalid."]
    }


def test_it_drops_begin_and_end_for_a_plain_user_in_punch_mode(kimai: KimaiDouble) -> None:
    kimai.configure(tracking_mode="punch")
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet())
    assert response.json()["errors"]["errors"] == ["This form should not contain extra fields."]
    assert "begin" not in response.json()["errors"]["children"]


def test_it_rejects_a_record_longer_than_the_configured_maximum(kimai: KimaiDouble) -> None:
    kimai.configure(long_running_duration=750)
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(end="2024-05-06T21:00:00"))
    assert response.json()["errors"]["errors"] == ["Maximum 12:30 hours allowed."]


def test_it_reads_a_body_without_content_type_as_json(kimai: KimaiDouble) -> None:
    response = api(kimai, ANNA).post("/api/timesheets", content=json.dumps(sheet()).encode())
    assert response.status_code == 200


def test_it_ignores_a_body_with_a_foreign_content_type(kimai: KimaiDouble) -> None:
    headers = {"Content-Type": "text/plain"}
    body = json.dumps(sheet()).encode()
    response = api(kimai, ANNA).post("/api/timesheets", content=body, headers=headers)
    assert "A project needs to be selected." in str(response.json())


def test_it_reads_form_encoded_bodies(kimai: KimaiDouble) -> None:
    form = {key: str(value) for key, value in sheet(description="form").items()}
    created = api(kimai, ANNA).post("/api/timesheets", data=form).json()
    assert (created["description"], created["duration"]) == ("form", 16200)


# -- PATCH and DELETE ----------------------------------------------------------------------------
def test_it_patches_only_the_fields_sent(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00", description="before", tags=["synced"])
    response = api(kimai, ANNA).patch(f"/api/timesheets/{record}", json={"description": "after"})
    assert (response.json()["description"], response.json()["tags"]) == ("after", ["synced"])
    assert kimai.timesheet(record).begin == datetime(2024, 5, 6, 6, 0, tzinfo=UTC)


def test_it_parses_patch_times_in_the_records_timezone(kimai: KimaiDouble) -> None:
    record = seed(kimai, "tom", "2024-05-06T08:00:00")
    body = {"end": "2024-05-06T10:00:00"}
    patched = api(kimai).patch(f"/api/timesheets/{record}", json=body).json()
    assert (patched["end"], patched["duration"]) == ("2024-05-06T10:00:00-0400", 7200)


def test_it_answers_an_invalid_patch_with_400(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    body = {"end": "2024-05-05T08:00:00", "activity": 999}
    response = api(kimai, ANNA).patch(f"/api/timesheets/{record}", json=body)
    assert response.status_code == 400
    assert response.json()["errors"]["children"]["user"] == {}  # PATCH always has `user`


def test_it_forbids_a_teamlead_to_edit_an_exported_record(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    kimai.mark_exported(record)
    response = api(kimai, LEAD).patch(f"/api/timesheets/{record}", json={"description": "x"})
    assert (response.status_code, response.json()["message"]) == (403, "Forbidden")


def test_it_lets_an_admin_edit_an_exported_record(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00", exported=True)
    response = api(kimai).patch(f"/api/timesheets/{record}", json={"description": "fixed"})
    assert (response.status_code, response.json()["exported"]) == (200, True)


def test_it_forbids_deleting_an_exported_record_without_edit_exported(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00", exported=True)
    assert api(kimai, ANNA).delete(f"/api/timesheets/{record}").status_code == 403


def test_it_forbids_deleting_a_record_in_a_locked_period(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-04-29T08:00:00")
    kimai.set_lockdown(datetime(2024, 4, 1), datetime(2024, 4, 30, 23, 59, 59))
    assert api(kimai, ANNA).delete(f"/api/timesheets/{record}").status_code == 403
    kimai.clear_lockdown()
    assert api(kimai, ANNA).delete(f"/api/timesheets/{record}").status_code == 204


def test_it_keeps_locked_records_editable_during_the_grace_period(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-04-29T08:00:00")
    kimai.set_lockdown(datetime(2024, 4, 1), datetime(2024, 4, 30, 23, 59, 59), timedelta(days=10))
    response = api(kimai, ANNA).patch(f"/api/timesheets/{record}", json={"description": "late"})
    assert response.status_code == 200


def test_it_deletes_with_204_and_an_empty_body(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    response = api(kimai, ANNA).delete(f"/api/timesheets/{record}")
    assert (response.status_code, response.content, kimai.all_timesheets()) == (204, b"", [])


def test_it_resets_rates_when_the_project_changes(kimai: KimaiDouble) -> None:
    other = kimai.add_project("Premium", "ACME", hourly_rate=200)
    record = seed(kimai, "admin", "2024-05-06T08:00:00", hourly_rate=50)
    patched = api(kimai).patch(f"/api/timesheets/{record}", json={"project": other}).json()
    assert (patched["hourlyRate"], patched["rate"]) == (200.0, 200.0)


def test_it_lets_a_teamlead_edit_a_team_members_record(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    response = api(kimai, LEAD).patch(f"/api/timesheets/{record}", json={"billable": False})
    assert (response.status_code, response.json()["billable"]) == (200, False)


def test_it_restarts_a_record_for_the_caller(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00", description="again", tags=["synced"])
    body = {"copy": "all", "begin": "2024-05-08T11:00:00"}
    restarted = api(kimai, LEAD).patch(f"/api/timesheets/{record}/restart", json=body).json()
    assert (restarted["user"], restarted["end"], restarted["tags"]) == (2, None, ["synced"])


def test_it_duplicates_a_record_without_the_export_flag(kimai: KimaiDouble) -> None:
    record = seed(kimai, "admin", "2024-05-06T08:00:00", exported=True)
    copy = api(kimai).patch(f"/api/timesheets/{record}/duplicate").json()
    assert (copy["id"], copy["exported"], copy["begin"]) == (
        record + 1,
        False,
        "2024-05-06T08:00:00+0200",
    )


def test_it_reports_a_failed_stop_in_the_service_error_shape(kimai: KimaiDouble) -> None:
    running = kimai.add_timesheet("anna", "Web", "Support", NOW - timedelta(hours=2))
    kimai.configure(long_running_duration=60)
    response = api(kimai, ANNA).patch(f"/api/timesheets/{running}/stop")
    assert response.json() == {
        "code": "400",
        "message": "There was a problem saving.",
        "errors": {"children": {"duration": {"errors": ["Maximum 1:00 hours allowed."]}}},
    }


def test_it_refuses_an_overlapping_duplicate_in_the_service_error_shape(
    kimai: KimaiDouble,
) -> None:
    kimai.configure(allow_overlapping_records=False)
    record = seed(kimai, "admin", "2024-05-06T08:00:00")
    response = api(kimai).patch(f"/api/timesheets/{record}/duplicate")
    assert response.json()["errors"] == {
        "children": {"begin_date": {"errors": ["You already have an entry for this time."]}}
    }


def test_it_updates_a_customer_partially(kimai: KimaiDouble) -> None:
    response = api(kimai).patch("/api/customers/1", json={"company": "ACME GmbH"})
    assert (response.json()["name"], response.json()["company"]) == ("ACME", "ACME GmbH")


def test_it_answers_404_before_403_on_patch_of_an_unknown_activity(kimai: KimaiDouble) -> None:
    assert api(kimai, ANNA).patch("/api/activities/99", json={}).status_code == 404
    assert api(kimai, ANNA).patch("/api/activities/1", json={}).status_code == 403


def test_it_deletes_a_tag_and_detaches_it(kimai: KimaiDouble) -> None:
    record = seed(kimai, "admin", "2024-05-06T08:00:00", tags=["synced"])
    assert api(kimai).delete("/api/tags/1").status_code == 204
    assert kimai.tag_names(record) == []


# -- response shapes (§8) ------------------------------------------------------------------------
def test_it_omits_rate_fields_for_a_plain_user(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    body = api(kimai, ANNA).get(f"/api/timesheets/{record}").json()
    assert not {"rate", "internalRate", "fixedRate", "hourlyRate"} & set(body)


def test_it_shows_rates_to_everyone_before_2_66(kimai: KimaiDouble) -> None:
    kimai.version = "2.65.0"
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    body = api(kimai, ANNA).get(f"/api/timesheets/{record}").json()
    assert {"rate", "internalRate", "fixedRate", "hourlyRate"} <= set(body)


def test_it_leaves_fixed_and_hourly_rate_out_of_collections(kimai: KimaiDouble) -> None:
    seed(kimai, "admin", "2024-05-06T08:00:00", fixed_rate=10)
    item = api(kimai).get("/api/timesheets").json()[0]
    assert (item["rate"], "fixedRate" in item, "hourlyRate" in item) == (10.0, False, False)


def test_it_renders_the_timesheet_entity_exactly(kimai: KimaiDouble) -> None:
    record = seed(kimai, "admin", "2024-05-06T08:00:00", description="x", hourly_rate=137.21)
    body = api(kimai).get(f"/api/timesheets/{record}").json()
    assert body == {
        "activity": 1, "project": 1, "user": 1, "tags": [], "id": record,
        "begin": "2024-05-06T08:00:00+0200", "end": "2024-05-06T09:00:00+0200",
        "duration": 3600, "break": 0, "description": "x", "rate": 137.21,
        "internalRate": 137.21, "fixedRate": None, "hourlyRate": 137.21,
        "exported": False, "billable": True, "metaFields": [],
    }  # fmt: skip


def test_it_starts_a_record_without_begin_at_the_current_minute(kimai: KimaiDouble) -> None:
    kimai.set_now(datetime(2024, 5, 8, 10, 17, 42, tzinfo=UTC))
    created = api(kimai, TOM).post("/api/timesheets", json={"project": 1, "activity": 1}).json()
    assert (created["begin"], created["end"]) == ("2024-05-08T06:17:00-0400", None)


def test_it_forbids_creating_timesheets_once_the_role_loses_the_permission(
    kimai: KimaiDouble,
) -> None:
    kimai.revoke("ROLE_USER", "create_own_timesheet")
    assert api(kimai, ANNA).post("/api/timesheets", json=sheet()).status_code == 403


def test_it_shows_meta_values_set_after_seeding(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    kimai.set_meta(record, "ExternalId", "X-2")
    body = api(kimai, ANNA).get(f"/api/timesheets/{record}").json()
    assert body["metaFields"] == [{"name": "externalid", "value": "X-2"}]


def test_it_shows_visible_meta_fields_with_lower_cased_names(kimai: KimaiDouble) -> None:
    kimai.register_meta_field("internal", visible=False)
    record = seed(kimai, "anna", "2024-05-06T08:00:00", meta={"ExternalId": "X-1", "internal": "y"})
    body = api(kimai, ANNA).get(f"/api/timesheets/{record}").json()
    assert body["metaFields"] == [{"name": "externalid", "value": "X-1"}]


def test_it_answers_404_for_an_unregistered_meta_field(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    body = {"name": "externalid", "value": "X-1"}
    response = api(kimai, ANNA).patch(f"/api/timesheets/{record}/meta", json=body)
    assert (response.status_code, response.json()["message"]) == (404, "Not Found")


def test_it_sets_a_registered_meta_field(kimai: KimaiDouble) -> None:
    kimai.register_meta_field("externalId")
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    body = {"name": "EXTERNALID", "value": "X-1"}
    response = api(kimai, ANNA).patch(f"/api/timesheets/{record}/meta", json=body)
    assert response.json()["metaFields"] == [{"name": "externalid", "value": "X-1"}]


def test_it_answers_400_for_a_meta_update_without_a_name(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    response = api(kimai, ANNA).patch(f"/api/timesheets/{record}/meta", json={"value": "X"})
    assert response.status_code == 400


def test_it_toggles_the_export_flag_for_a_teamlead(kimai: KimaiDouble) -> None:
    record = seed(kimai, "anna", "2024-05-06T08:00:00")
    assert api(kimai, LEAD).patch(f"/api/timesheets/{record}/export").json()["exported"] is True
    assert api(kimai, LEAD).patch(f"/api/timesheets/{record}/export").status_code == 403


def test_it_stops_a_running_record_at_now(kimai: KimaiDouble) -> None:
    running = kimai.add_timesheet("anna", "Web", "Support", NOW - timedelta(minutes=30))
    stopped = api(kimai, ANNA).patch(f"/api/timesheets/{running}/stop").json()
    assert (stopped["end"], stopped["duration"]) == ("2024-05-08T12:00:00+0200", 1800)


def test_it_lists_the_callers_running_records_as_active(kimai: KimaiDouble) -> None:
    running = kimai.add_timesheet("anna", "Web", "Support", NOW - timedelta(minutes=30))
    active = api(kimai, ANNA).get("/api/timesheets/active").json()
    assert [(a["id"], a["user"]["username"]) for a in active] == [(running, "anna")]


# -- transports, faults and seeding --------------------------------------------------------------
def test_it_serves_over_real_http_on_loopback(kimai: KimaiDouble) -> None:
    with kimai.serve() as base_url, httpx.Client(base_url=base_url) as client:
        assert base_url.startswith("http://127.0.0.1:")
        response = client.post(
            "/api/timesheets", json=sheet(), headers={"Authorization": f"Bearer {ANNA}"}
        )
        listed = client.get("/api/timesheets", headers={"Authorization": f"Bearer {ANNA}"})
    assert (response.status_code, listed.headers["X-Total-Count"]) == (200, "1")


def test_it_commits_before_an_injected_server_error(kimai: KimaiDouble) -> None:
    kimai.inject(Fault("error_after_commit", method="POST", path_prefix="/api/timesheets"))
    response = api(kimai, ANNA).post("/api/timesheets", json=sheet(description="[zks-9]"))
    assert response.status_code == 500
    assert [t.user_id for t in kimai.find_timesheets("zks-9")] == [kimai.user_id("anna")]


def test_it_seeds_the_demo_dataset() -> None:
    dataset = demo_dataset(now=NOW)
    double = KimaiDouble(clock=lambda: NOW)
    seed_from_dataset(double, dataset)
    client = api(double, dataset.kimai_token)
    assert client.get("/api/users/me").json()["username"] == dataset.kimai_sync_username
    manual = client.get("/api/timesheets", params={"user": "all"}).json()
    assert len(manual) == len(dataset.kimai_manual_timesheets) == 2


def _pump(stream: IO[str] | None, sink: queue.Queue[str]) -> None:
    for line in stream or ():
        sink.put(line)


def test_it_runs_standalone_and_prints_its_url_and_tokens() -> None:
    command = [sys.executable, "-m", "tests.doubles.kimai", "--port", "0", "--seed", "demo"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    try:
        banner, token_line = lines.get(timeout=10), lines.get(timeout=10)
        base_url = banner.split(" on ")[1].split()[0]
        headers = {"Authorization": "Bearer kimai-demo-token"}
        assert httpx.get(f"{base_url}/api/ping", headers=headers).json() == {"message": "pong"}
        assert "sync-bot: kimai-demo-token" in token_line
    finally:
        stop_process_tree(process)
