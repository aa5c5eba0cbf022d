"""The Jira double searches issues and users, checks connections, limits rates and serves.

Each test names the section of docs/reference/jira-api.md (§n) whose fact it proves.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.conf import settings

from tests.doubles.base import Fault
from tests.doubles.jira import JiraDouble, RateLimit, jira_dataset, seed_from_dataset
from tests.doubles.jira.model import parse_jira_time
from tests.doubles.jira_world import EMMA, SOFIA, SYNC, T0, api, basic
from tests.doubles.zammad import ManualClock

SEARCH = "/rest/api/3/search/jql"


# -- Cloud's enhanced search (§6.1, §6.3) --------------------------------------------------------
def test_it_returns_issue_ids_only_when_no_fields_are_named(cloud: JiraDouble) -> None:
    body = api(cloud).get(SEARCH, params={"jql": "project = AWE"}).json()
    assert body["issues"] == [{"id": "10001"}, {"id": "10002"}, {"id": "10004"}]
    assert body["isLast"] is True and "nextPageToken" not in body


def test_it_returns_exactly_the_fields_asked_for(cloud: JiraDouble) -> None:
    fields = "summary,project,issuetype,labels,components"
    issue = api(cloud).get(SEARCH, params={"jql": "key = AWE-1", "fields": fields}).json()
    found = issue["issues"][0]
    assert (found["key"], sorted(found["fields"])) == ("AWE-1", sorted(fields.split(",")))
    assert found["fields"]["project"]["projectCategory"]["name"] == "Awesome Customer Inc."
    assert found["fields"]["issuetype"] | {"self": ""} == found["fields"]["issuetype"] | {
        "self": "", "name": "Task", "subtask": False, "hierarchyLevel": 0,
    }  # fmt: skip
    assert found["fields"]["labels"] == ["billable", "vip"]
    assert [c["name"] for c in found["fields"]["components"]] == ["Network"]


def test_it_names_the_parent_of_a_sub_task(cloud: JiraDouble) -> None:
    params = {"jql": "issuetype = Sub-task", "fields": "*navigable"}
    fields = api(cloud).get(SEARCH, params=params).json()["issues"][0]["fields"]
    assert (fields["parent"]["key"], fields["issuetype"]["subtask"]) == ("AWE-1", True)


def test_it_pages_with_next_page_token_until_is_last(cloud: JiraDouble) -> None:
    client, seen, token = api(cloud), [], None
    for _ in range(3):
        params = {"jql": "project in (AWE, GLX) ORDER BY key DESC", "maxResults": "2"}
        body = client.get(SEARCH, params=params | ({"nextPageToken": token} if token else {}))
        seen += [i["id"] for i in body.json()["issues"]]
        token = body.json().get("nextPageToken")
        if body.json()["isLast"]:
            break
    assert seen == ["10003", "10004", "10002", "10001"]  # GLX-1, AWE-3, AWE-2, AWE-1
    assert token is None


def test_it_refuses_a_token_from_another_query(cloud: JiraDouble) -> None:
    client = api(cloud)
    token = client.get(SEARCH, params={"jql": "project = AWE", "maxResults": 1}).json()
    other = {"jql": "project = GLX", "nextPageToken": token["nextPageToken"]}
    assert client.get(SEARCH, params=other).status_code == 400


def test_it_refuses_unbounded_jql_on_cloud(cloud: JiraDouble) -> None:
    response = api(cloud).get(SEARCH, params={"jql": "order by key desc"})
    assert response.status_code == 400 and response.json()["errorMessages"]  # §6.1


def test_it_answers_410_on_the_removed_search_on_cloud(cloud: JiraDouble) -> None:
    for path in ("/rest/api/3/search", "/rest/api/2/search"):
        response = api(cloud).get(path, params={"jql": "project = AWE"})
        assert response.status_code == 410
        assert "migrate to the /rest/api/3/search/jql" in response.json()["errorMessages"][0]


def test_it_searches_through_a_post_body(cloud: JiraDouble) -> None:
    body = {"jql": "id in (10002, 10003)", "fields": ["summary"], "maxResults": 10}
    issues = api(cloud).post(SEARCH, json=body).json()["issues"]
    assert [i["fields"]["summary"] for i in issues] == ["VPN drops every hour", "Backup job failed"]


def test_it_hides_a_new_issue_from_search_until_indexed_or_reconciled(
    cloud: JiraDouble, jira_clock: ManualClock
) -> None:
    cloud.index_lag = timedelta(seconds=5)
    fresh = cloud.add_issue("GLX", "Tape drive errors")
    client = api(cloud)
    params: dict[str, str] = {"jql": "project = GLX"}
    assert [i["id"] for i in client.get(SEARCH, params=params).json()["issues"]] == ["10003"]
    reconciled = client.get(SEARCH, params=params | {"reconcileIssues": fresh.id}).json()
    assert [i["id"] for i in reconciled["issues"]] == ["10003", fresh.id]  # §6.1
    jira_clock.advance(seconds=6)
    assert len(client.get(SEARCH, params=params).json()["issues"]) == 2


def test_it_only_finds_issues_of_projects_the_caller_may_browse(cloud: JiraDouble) -> None:
    client = api(cloud, basic(EMMA, "emma-t"))
    response = client.get(SEARCH, params={"jql": "project = GLX"})
    assert response.json()["errorMessages"] == [
        "The value 'GLX' does not exist for the field 'project'."
    ]  # §6.2


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("assignee = currentUser()", "Field 'assignee' does not exist or you do not have "
                                     "permission to view it."),
        ("key in (AWE-1, AWE-99)", "An issue with key 'AWE-99' does not exist for field 'key'."),
        ("project = AWE AND",
         "Error in the JQL Query: Expecting more input at the end of the query."),
    ],
)  # fmt: skip
def test_it_answers_400_with_error_messages_for_bad_jql(
    cloud: JiraDouble, jql: str, message: str
) -> None:
    response = api(cloud).get(SEARCH, params={"jql": jql})
    assert (response.status_code, response.json()) == (
        400,
        {"errorMessages": [message], "errors": {}},
    )  # §6.2, §8


def test_it_can_drop_unknown_keys_silently_instead(cloud: JiraDouble) -> None:
    cloud.strict_jql_values = False
    issues = api(cloud).get(SEARCH, params={"jql": "key in (AWE-1, AWE-99)"}).json()["issues"]
    assert issues == [{"id": "10001"}]


def test_it_combines_labels_components_not_and_or(cloud: JiraDouble) -> None:
    jql = '(labels = vip AND component = "Network") OR (project = GLX AND NOT type = Bug)'
    issues = api(cloud).get(SEARCH, params={"jql": jql}).json()["issues"]
    assert [i["id"] for i in issues] == ["10001", "10003"]


def test_it_treats_bare_words_as_a_text_search(cloud: JiraDouble) -> None:
    client = api(cloud)
    assert client.get(SEARCH, params={"jql": "this is not jql"}).json()["issues"] == []
    assert client.get(SEARCH, params={"jql": "vpn drops"}).json()["issues"] == [{"id": "10002"}]


# -- Data Center's search (§6.4) -----------------------------------------------------------------
def test_it_pages_search_with_start_at_and_total_on_data_center(dc: JiraDouble) -> None:
    params = {"jql": "project = AWE ORDER BY key", "startAt": "1", "maxResults": "1"}
    body = api(dc).get("/rest/api/2/search", params=params).json()
    assert (body["startAt"], body["maxResults"], body["total"]) == (1, 1, 3)
    assert [i["key"] for i in body["issues"]] == ["AWE-2"]
    assert "summary" in body["issues"][0]["fields"]  # *navigable by default


def test_it_has_no_enhanced_search_on_data_center(dc: JiraDouble) -> None:
    assert api(dc).get("/rest/api/2/search/jql", params={"jql": "id = 1"}).status_code == 404


# -- users (§5.3) --------------------------------------------------------------------------------
def test_it_finds_a_user_by_a_visible_email_prefix(cloud: JiraDouble) -> None:
    users = api(cloud).get("/rest/api/3/user/search", params={"query": "emma.sch"}).json()
    assert [(u["displayName"], u["emailAddress"]) for u in users] == [("Emma Schulz", EMMA)]


def test_it_finds_a_hidden_email_only_by_the_exact_address(cloud: JiraDouble) -> None:
    client = api(cloud)
    assert client.get("/rest/api/3/user/search", params={"query": "sofia.ro"}).json() == []
    found = client.get("/rest/api/3/user/search", params={"query": SOFIA}).json()
    assert [u["displayName"] for u in found] == ["Sofia Rossi"]
    assert "emailAddress" not in found[0]


def test_it_returns_no_users_without_browse_users_permission(cloud: JiraDouble) -> None:
    client = api(cloud, basic(EMMA, "emma-t"))
    assert client.get("/rest/api/3/user/search", params={"query": "Sofia"}).json() == []


def test_it_needs_a_query_or_an_account_id(cloud: JiraDouble) -> None:
    assert api(cloud).get("/rest/api/3/user/search").status_code == 400


def test_it_searches_users_by_username_on_data_center(dc: JiraDouble) -> None:
    users = api(dc).get("/rest/api/2/user/search", params={"username": "sofia"}).json()
    assert [(u["name"], u["emailAddress"]) for u in users] == [("sofia", SOFIA)]


def test_it_answers_anonymous_user_search_empty_on_cloud_and_401_on_data_center(
    cloud: JiraDouble, dc: JiraDouble
) -> None:
    assert api(cloud, {}).get("/rest/api/3/user/search", params={"query": "e"}).json() == []
    assert api(dc, {}).get("/rest/api/2/user/search", params={"username": "e"}).status_code == 401


# -- connection check (§7) -----------------------------------------------------------------------
def test_it_tells_cloud_from_data_center_in_server_info(cloud: JiraDouble, dc: JiraDouble) -> None:
    cloud_info = api(cloud, {}).get("/rest/api/3/serverInfo").json()
    dc_info = api(dc, {}).get("/rest/api/2/serverInfo").json()
    assert (cloud_info["deploymentType"], dc_info["deploymentType"]) == ("Cloud", "Server")
    assert cloud_info["serverTimeZone"] == "Europe/Berlin"
    assert parse_jira_time(cloud_info["serverTime"]) == T0


# -- rate limits and faults (§9) -----------------------------------------------------------------
def test_it_answers_an_injected_429_with_retry_after_and_reset(cloud: JiraDouble) -> None:
    cloud.inject(Fault("rate_limit", path_prefix="/rest/api/3/worklog", retry_after=7))
    response = api(cloud).get("/rest/api/3/worklog/updated")
    assert response.status_code == 429
    assert (response.headers["retry-after"], response.headers["x-ratelimit-reset"]) == (
        "7",
        "2026-03-30T08:00Z",  # yyyy-MM-ddTHH:mmZ of now + Retry-After
    )
    assert response.headers["ratelimit-reason"] == "jira-burst-based"


def test_it_limits_bursts_per_endpoint_and_warns_near_the_limit(
    cloud: JiraDouble, jira_clock: ManualClock
) -> None:
    cloud.rate_limit = RateLimit(limit=5, seconds=1)
    client = api(cloud)
    answers = [client.get("/rest/api/3/worklog/updated") for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[4].headers["x-ratelimit-nearlimit"] == "true"
    assert answers[5].headers["retry-after"] == "1"
    assert client.get("/rest/api/3/worklog/deleted").status_code == 200  # another endpoint
    jira_clock.advance(seconds=1)
    assert client.get("/rest/api/3/worklog/updated").headers["x-ratelimit-remaining"] == "4"


def test_it_limits_each_user_with_token_bucket_headers_on_data_center(dc: JiraDouble) -> None:
    dc.rate_limit = RateLimit(limit=2, seconds=60)
    client = api(dc)
    answers = [client.get(path) for path in ("/rest/api/2/myself", "/rest/api/2/serverInfo",
                                             "/rest/api/2/worklog/updated")]  # fmt: skip
    assert [a.status_code for a in answers] == [200, 200, 429]  # one budget across endpoints
    assert answers[2].headers["retry-after"] == "60"
    assert (answers[0].headers["x-ratelimit-fillrate"],
            answers[0].headers["x-ratelimit-interval-seconds"]) == ("2", "60")  # fmt: skip
    assert "ratelimit-reason" not in answers[2].headers
    other = api(dc, {"Authorization": "Bearer emma-pat"})
    assert other.get("/rest/api/2/myself").status_code == 200


def test_it_sends_retry_after_with_an_injected_503(cloud: JiraDouble) -> None:
    cloud.inject(Fault("error_before_commit", status=503, retry_after=3))
    response = api(cloud).get("/rest/api/3/myself")
    assert (response.status_code, response.headers["retry-after"]) == (503, "3")
    assert response.json()["errorMessages"] == ["Internal server error"]


def test_it_times_out_when_told_to(cloud: JiraDouble) -> None:
    cloud.inject(Fault("timeout_after_commit", path_prefix="/rest/api/3/worklog"))
    with pytest.raises(httpx.ReadTimeout):
        api(cloud).get("/rest/api/3/worklog/updated")


# -- serving, control endpoints, data set --------------------------------------------------------
def test_it_serves_over_loopback_and_its_next_page_links_work(cloud: JiraDouble) -> None:
    cloud.log_work("AWE-1", EMMA, T0 - timedelta(hours=2), 1800, at=T0 - timedelta(hours=1))
    with cloud.serve() as url:
        client = httpx.Client(headers=basic(SYNC, "api-token"))
        first = client.get(f"{url}/rest/api/3/worklog/updated").json()
        assert first["nextPage"].startswith(url)
        again = client.get(first["nextPage"]).json()
    assert [v["worklogId"] for v in again["values"]] == [v["worklogId"] for v in first["values"]]


def test_it_changes_worklogs_through_the_control_endpoints(
    cloud: JiraDouble, jira_clock: ManualClock
) -> None:
    client = api(cloud, {})
    body = {"issue": "AWE-2", "author": EMMA, "started": "2026-03-30T09:00:00+02:00",
            "seconds": 1800, "comment": "Remote session"}  # fmt: skip
    created = client.post("/__double__/log", json=body)
    worklog_id = int(created.json()["id"])
    edited = client.post("/__double__/edit", json={"id": worklog_id, "seconds": 2700})
    assert edited.json()["timeSpent"] == "45m"
    assert client.post("/__double__/delete", json={"id": worklog_id}).status_code == 200
    jira_clock.advance(minutes=2)
    deleted = api(cloud).get("/rest/api/3/worklog/deleted").json()["values"]
    assert [v["worklogId"] for v in deleted] == [worklog_id]


def test_it_seeds_a_realistic_dataset_across_daylight_saving_time() -> None:
    now = datetime(2026, 4, 3, 12, tzinfo=UTC)
    dataset = jira_dataset(now=now)
    jira = JiraDouble("cloud", now=ManualClock(now))
    seed_from_dataset(jira, dataset)
    client = api(jira, basic(dataset.sync_email, dataset.api_token))
    values = client.get("/rest/api/3/worklog/updated").json()["values"]
    hidden = [w for w in dataset.live_worklogs() if w.visibility == ("group", "hr-team")]
    assert len(values) == len(dataset.live_worklogs()) - len(hidden) and hidden
    assert len(client.get("/rest/api/3/worklog/deleted").json()["values"]) == sum(
        1 for w in dataset.worklogs if w.deleted_at
    )
    ids = [v["worklogId"] for v in values[:1000]]
    listed = client.post("/rest/api/3/worklog/list", json={"ids": ids}).json()
    offsets = Counter(w["started"][-5:] for w in listed)
    assert set(offsets) == {"+0100", "+0200"}  # the window spans 29 March 2026
    people = {w["author"]["displayName"]: w["author"] for w in listed}
    assert "emailAddress" not in people["Sofia Rossi"]
    assert people["Pat Temp"]["active"] is False
    assert any(w["author"]["accountId"] != w["updateAuthor"]["accountId"] for w in listed)


def test_it_runs_standalone_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.jira", "--port", "0", "--flavour", "datacenter"],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        url = re.search(r"(http://127\.0\.0\.1:\d+)", lines[0]).group(1)  # type: ignore[union-attr]
        bearer = {"Authorization": "Bearer jira-demo-pat"}
        me = httpx.get(f"{url}/rest/api/2/myself", headers=bearer)
        assert me.json()["name"] == "sync-bot"
        assert "jira-demo-pat" in lines[1]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
