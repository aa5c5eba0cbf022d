"""The Jira double authenticates and serves worklogs as docs/reference/jira-api.md describes.

Each test names the section (§n) whose fact it proves. Search, users, limits and serving are in
test_jira_search.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.doubles.jira import JiraDouble
from tests.doubles.jira.model import epoch_ms, parse_jira_time
from tests.doubles.jira_world import (
    CHRIS,
    EMMA,
    PAT,
    SOFIA,
    SYNC,
    api,
    at,
    basic,
    rest,
)
from tests.doubles.zammad import ManualClock

JIRA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$")


def log(
    jira: JiraDouble,
    minutes_ago: float,
    *,
    issue: str = "AWE-1",
    author: str = EMMA,
    seconds: int = 1800,
    comment: str | None = None,
    visibility: tuple[str, str] | None = None,
) -> int:
    """``author`` logs work on ``issue``, saved ``minutes_ago`` before the clock."""
    moment = jira.now() - timedelta(minutes=minutes_ago)
    started = moment - timedelta(minutes=30)
    worklog = jira.log_work(issue, author, started, seconds, comment=comment,
                            visibility=visibility, at=moment)  # fmt: skip
    return worklog.id


# -- authentication (§2) -------------------------------------------------------------------------
def test_it_accepts_basic_auth_with_email_and_api_token_on_cloud(cloud: JiraDouble) -> None:
    response = api(cloud).get("/rest/api/3/myself")
    assert response.json()["emailAddress"] == SYNC
    assert response.headers["x-aaccountid"] == response.json()["accountId"]  # §2.1


def test_it_answers_401_in_plain_text_to_a_wrong_api_token(cloud: JiraDouble) -> None:
    response = api(cloud, basic(SYNC, "wrong")).get("/rest/api/3/myself")
    assert (response.status_code, response.text) == (
        401,
        "Client must be authenticated to access this resource.",
    )  # §2.4


def test_it_answers_server_info_to_bad_credentials_on_cloud(cloud: JiraDouble) -> None:
    # An anonymous operation treats bad credentials as anonymous on Cloud (§2.3, JRACLOUD-93811).
    response = api(cloud, basic(SYNC, "wrong")).get("/rest/api/3/serverInfo")
    assert (response.status_code, response.json()["deploymentType"]) == (200, "Cloud")


def test_it_refuses_bad_credentials_even_for_server_info_on_data_center(dc: JiraDouble) -> None:
    response = api(dc, {"Authorization": "Bearer nope"}).get("/rest/api/2/serverInfo")
    assert response.status_code == 401  # §2.3: Data Center is not affected


def test_it_accepts_a_personal_access_token_as_bearer_on_data_center(dc: JiraDouble) -> None:
    me = api(dc, {"Authorization": f"Bearer {PAT}"}).get("/rest/api/2/myself").json()
    assert (me["name"], me["key"], "accountId" in me) == ("sync-bot", "JIRAUSER10001", False)


def test_it_refuses_an_api_token_sent_as_bearer_on_cloud(cloud: JiraDouble) -> None:
    response = api(cloud, {"Authorization": "Bearer api-token"}).get("/rest/api/3/myself")
    assert response.status_code == 401  # Cloud API tokens go in Basic auth (§2.1)


def test_it_refuses_an_anonymous_call_to_the_worklog_feed(cloud: JiraDouble) -> None:
    assert api(cloud, {}).get("/rest/api/3/worklog/updated").status_code == 401  # §3.1


def test_it_refuses_a_deactivated_user(cloud: JiraDouble) -> None:
    cloud.user(EMMA).active = False
    assert api(cloud, basic(EMMA, "emma-t")).get("/rest/api/3/myself").status_code == 401


def test_it_forbids_the_feeds_to_a_user_without_jira_access(cloud: JiraDouble) -> None:
    cloud.user(SYNC).jira_access = False
    client = api(cloud)
    assert client.get("/rest/api/3/worklog/updated").status_code == 403  # §2.5
    assert client.get("/rest/api/3/myself").status_code == 200


def test_it_serves_v2_and_v3_on_cloud_but_only_v2_on_data_center(
    cloud: JiraDouble, dc: JiraDouble
) -> None:
    assert api(cloud).get("/rest/api/2/myself").status_code == 200  # §1.1
    assert api(dc).get("/rest/api/3/myself").status_code == 404  # §1.2


# -- the updated and deleted feeds (§3.1, §3.3) --------------------------------------------------
def test_it_lists_updated_worklog_ids_oldest_first_with_until(cloud: JiraDouble) -> None:
    later, earlier = log(cloud, 5), log(cloud, 90)
    body = api(cloud).get("/rest/api/3/worklog/updated", params={"since": 0}).json()
    assert [v["worklogId"] for v in body["values"]] == [earlier, later]
    assert body["until"] == body["values"][-1]["updatedTime"]
    assert body["since"] == body["values"][0]["updatedTime"]
    assert body["values"][0]["properties"] == []


def test_it_leaves_out_worklogs_updated_in_the_last_minute(
    cloud: JiraDouble, jira_clock: ManualClock
) -> None:
    fresh = log(cloud, 0.5)
    client = api(cloud)
    assert client.get("/rest/api/3/worklog/updated").json()["values"] == []
    jira_clock.advance(seconds=31)
    assert [v["worklogId"] for v in client.get("/rest/api/3/worklog/updated").json()["values"]] == [
        fresh
    ]


def test_it_counts_since_inclusively(cloud: JiraDouble) -> None:
    worklog = log(cloud, 10)
    moment = epoch_ms(cloud.worklogs[worklog].updated)
    body = api(cloud).get("/rest/api/3/worklog/updated", params={"since": moment}).json()
    assert [v["worklogId"] for v in body["values"]] == [worklog]  # §3.1: since == updatedTime


def test_it_pages_1000_ids_and_repeats_the_boundary_on_the_next_page(cloud: JiraDouble) -> None:
    ids = [log(cloud, 2000 - i) for i in range(1500)]
    client = api(cloud)
    first = client.get("/rest/api/3/worklog/updated", params={"since": 0}).json()
    assert (len(first["values"]), first["lastPage"]) == (1000, False)
    assert (
        first["nextPage"] == f"http://jira.test{rest(cloud)}/worklog/updated?since={first['until']}"
    )
    second = client.get(first["nextPage"]).json()
    assert second["values"][0]["worklogId"] == ids[999]  # the boundary item comes again
    assert (len(second["values"]), second["lastPage"]) == (501, True)


def test_it_sends_next_page_on_the_last_page_too(cloud: JiraDouble) -> None:
    log(cloud, 10)
    body = api(cloud).get("/rest/api/3/worklog/updated").json()
    assert body["lastPage"] is True
    assert body["nextPage"].endswith(f"since={body['until']}")  # §3.1: read lastPage, not this


def test_it_moves_an_edited_worklog_to_its_new_update_time(
    cloud: JiraDouble, jira_clock: ManualClock
) -> None:
    edited, other = log(cloud, 60), log(cloud, 30)
    cloud.edit_worklog(edited, by=CHRIS, seconds=2700)
    jira_clock.advance(minutes=2)
    values = api(cloud).get("/rest/api/3/worklog/updated").json()["values"]
    assert [v["worklogId"] for v in values] == [other, edited]


def test_it_lists_deletions_with_their_time_and_drops_them_from_updated(
    cloud: JiraDouble, jira_clock: ManualClock
) -> None:
    gone = log(cloud, 60)
    deletion = cloud.delete_worklog(gone)
    jira_clock.advance(minutes=2)
    client = api(cloud)
    deleted = client.get("/rest/api/3/worklog/deleted", params={"since": 0}).json()
    assert deleted["values"] == [
        {"worklogId": gone, "updatedTime": epoch_ms(deletion.at), "properties": []}
    ]
    assert client.get("/rest/api/3/worklog/updated").json()["values"] == []


def test_it_hides_worklogs_restricted_to_a_group_the_caller_is_not_in(cloud: JiraDouble) -> None:
    hidden = log(cloud, 10, author=CHRIS, visibility=("group", "hr-team"))
    client = api(cloud)
    assert client.get("/rest/api/3/worklog/updated").json()["values"] == []
    assert client.post("/rest/api/3/worklog/list", json={"ids": [hidden]}).json() == []


def test_it_hides_worklogs_of_projects_the_caller_cannot_browse(cloud: JiraDouble) -> None:
    log(cloud, 10, issue="GLX-1")
    client = api(cloud, basic(EMMA, "emma-t"))
    assert client.get("/rest/api/3/worklog/updated").json()["values"] == []


def test_it_sends_both_last_page_flags_on_data_center(dc: JiraDouble) -> None:
    body = api(dc).get("/rest/api/2/worklog/updated").json()
    assert (body["lastPage"], body["isLastPage"]) == (True, True)  # §3.1, unverified which


def test_it_answers_404_to_a_since_that_is_not_a_number(cloud: JiraDouble) -> None:
    response = api(cloud).get("/rest/api/3/worklog/updated", params={"since": "yesterday"})
    assert response.status_code == 404  # §3.4 (inferred for the feeds, §11)


# -- worklog/list (§3.2) -------------------------------------------------------------------------
def test_it_returns_worklogs_for_ids_and_skips_unknown_and_deleted(cloud: JiraDouble) -> None:
    kept, gone = log(cloud, 20), log(cloud, 10)
    cloud.delete_worklog(gone)
    body = api(cloud).post("/rest/api/3/worklog/list", json={"ids": [gone, 99999, kept]}).json()
    assert [w["id"] for w in body] == [str(kept)]


@pytest.mark.parametrize("ids", [[], list(range(1, 1002))])
def test_it_refuses_no_ids_or_more_than_1000(cloud: JiraDouble, ids: list[int]) -> None:
    response = api(cloud).post("/rest/api/3/worklog/list", json={"ids": ids})
    assert response.status_code == 400
    assert response.json()["errorMessages"]  # §8


def test_it_writes_ids_as_strings_in_worklogs_and_numbers_in_feeds(cloud: JiraDouble) -> None:
    worklog = log(cloud, 10)
    client = api(cloud)
    feed = client.get("/rest/api/3/worklog/updated").json()["values"][0]
    full = client.post("/rest/api/3/worklog/list", json={"ids": [feed["worklogId"]]}).json()[0]
    assert (feed["worklogId"], full["id"], full["issueId"]) == (worklog, str(worklog), "10001")


# -- the worklog object (§4, §5, §10) ------------------------------------------------------------
def test_it_writes_the_comment_as_adf_on_v3_and_as_text_on_v2(cloud: JiraDouble) -> None:
    worklog = log(cloud, 10, comment="Remote session\nRebooted the router")
    client = api(cloud)
    v3 = client.post("/rest/api/3/worklog/list", json={"ids": [worklog]}).json()[0]
    v2 = client.post("/rest/api/2/worklog/list", json={"ids": [worklog]}).json()[0]
    assert v3["comment"]["type"] == "doc"
    assert v3["comment"]["content"][1]["content"][0]["text"] == "Rebooted the router"
    assert v2["comment"] == "Remote session\nRebooted the router"


def test_it_leaves_out_a_missing_comment(cloud: JiraDouble) -> None:
    worklog = api(cloud).post("/rest/api/3/worklog/list", json={"ids": [log(cloud, 10)]}).json()
    assert "comment" not in worklog[0]


def test_it_writes_timestamps_in_the_site_zone_with_a_numeric_offset(cloud: JiraDouble) -> None:
    worklog = cloud.log_work("AWE-1", SOFIA, at("2026-03-27T09:00:00+01:00"), 3600,
                             at=at("2026-03-27T08:30:00+00:00"))  # fmt: skip
    body = api(cloud).post("/rest/api/3/worklog/list", json={"ids": [worklog.id]}).json()[0]
    assert all(JIRA_TIME.match(body[name]) for name in ("started", "created", "updated"))
    assert body["started"] == "2026-03-27T09:00:00.000+0100"  # Berlin, though Sofia is in Rome


def test_it_changes_the_offset_across_daylight_saving_time(cloud: JiraDouble) -> None:
    # Berlin moved from +0100 to +0200 on 29 March 2026; the instants stay what they were (§10).
    before = cloud.log_work("AWE-1", EMMA, at("2026-03-27T09:00:00+01:00"), 1800)
    after = cloud.log_work("AWE-1", EMMA, at("2026-03-30T09:00:00+02:00"), 1800)
    body = api(cloud).post("/rest/api/3/worklog/list", json={"ids": [before.id, after.id]}).json()
    assert [w["started"][-5:] for w in body] == ["+0100", "+0200"]
    assert [parse_jira_time(w["started"]).astimezone(UTC) for w in body] == [
        datetime(2026, 3, 27, 8, tzinfo=UTC),
        datetime(2026, 3, 30, 7, tzinfo=UTC),
    ]


def test_it_shows_time_spent_in_working_days_and_seconds_exactly(cloud: JiraDouble) -> None:
    ids = [log(cloud, 10, seconds=12000), log(cloud, 5, seconds=28800)]
    body = api(cloud).post("/rest/api/3/worklog/list", json={"ids": ids}).json()
    assert [(w["timeSpent"], w["timeSpentSeconds"]) for w in body] == [
        ("3h 20m", 12000),
        ("1d", 28800),  # 8 working hours are a day (§4)
    ]


def test_it_leaves_out_what_profile_visibility_hides_on_cloud(cloud: JiraDouble) -> None:
    worklog = log(cloud, 10, author=SOFIA)
    author = api(cloud).post("/rest/api/3/worklog/list", json={"ids": [worklog]}).json()[0]
    assert ("emailAddress" in author["author"], "timeZone" in author["author"]) == (False, False)
    assert author["author"]["displayName"] == "Sofia Rossi"  # §5.1


def test_it_names_authors_by_name_and_key_on_data_center(dc: JiraDouble) -> None:
    worklog = log(dc, 10)
    author = api(dc).post("/rest/api/2/worklog/list", json={"ids": [worklog]}).json()[0]["author"]
    assert (author["name"], author["key"], author["emailAddress"]) == ("emma", "JIRAUSER10002",
                                                                       EMMA)  # fmt: skip
    assert "accountId" not in author  # §5.2


def test_it_shows_a_role_restriction_and_an_edit_by_someone_else(cloud: JiraDouble) -> None:
    worklog = log(cloud, 10, visibility=("role", "Developers"))
    cloud.edit_worklog(worklog, by=SYNC, seconds=900)
    body = api(cloud).post("/rest/api/3/worklog/list", json={"ids": [worklog]}).json()[0]
    assert body["visibility"] == {"identifier": "Developers", "type": "role", "value": "Developers"}
    assert (body["author"]["displayName"], body["updateAuthor"]["displayName"]) == (
        "Emma Schulz",
        "Time Sync",
    )
    assert body["created"] != body["updated"]


# -- an issue's worklogs (§3.4) ------------------------------------------------------------------
def test_it_pages_an_issues_worklogs_on_cloud(cloud: JiraDouble) -> None:
    ids = [log(cloud, 30 - i) for i in range(3)]
    body = api(cloud).get("/rest/api/3/issue/AWE-1/worklog", params={"startAt": 1, "maxResults": 1})
    page = body.json()
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 1, 3)
    assert [w["id"] for w in page["worklogs"]] == [str(ids[1])]


def test_it_filters_an_issues_worklogs_by_start(cloud: JiraDouble) -> None:
    log(cloud, 300)
    late = log(cloud, 10)
    cutoff = epoch_ms(cloud.worklogs[late].started)  # "started on or after"
    page = api(cloud).get("/rest/api/3/issue/AWE-1/worklog", params={"startedAfter": cutoff})
    assert [w["id"] for w in page.json()["worklogs"]] == [str(late)]


def test_it_returns_all_of_an_issues_worklogs_on_data_center(dc: JiraDouble) -> None:
    for minutes in (30, 20, 10):
        log(dc, minutes)
    page = api(dc).get("/rest/api/2/issue/AWE-1/worklog", params={"maxResults": 1}).json()
    assert (page["total"], page["maxResults"], len(page["worklogs"])) == (3, 3, 3)


@pytest.mark.parametrize("issue", ["GLX-1", "AWE-999"])
def test_it_answers_404_alike_for_a_hidden_or_missing_issue(cloud: JiraDouble, issue: str) -> None:
    response = api(cloud, basic(EMMA, "emma-t")).get(f"/rest/api/3/issue/{issue}/worklog")
    assert (response.status_code, response.json()["errorMessages"]) == (
        404,
        ["Issue does not exist or you do not have permission to see it."],
    )  # §2.5


def test_it_treats_bad_credentials_on_issue_worklogs_as_anonymous(cloud: JiraDouble) -> None:
    response = api(cloud, basic(SYNC, "wrong")).get("/rest/api/3/issue/AWE-1/worklog")
    assert response.status_code == 404  # not 401: anonymous may not browse AWE (§2.3)


def test_it_reads_one_worklog_of_an_issue(cloud: JiraDouble) -> None:
    worklog = log(cloud, 10)
    client = api(cloud)
    assert client.get(f"{rest(cloud)}/issue/AWE-1/worklog/{worklog}").json()["id"] == str(worklog)
    assert client.get(f"{rest(cloud)}/issue/AWE-2/worklog/{worklog}").status_code == 404
