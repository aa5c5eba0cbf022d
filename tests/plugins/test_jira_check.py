"""Testing a Jira connection: credentials, the kind of server, the feeds it may read (§2, §7)."""

from __future__ import annotations

from tests.doubles.jira_world import SYNC
from tests.plugins.jira_setup import connector, world


def test_it_reports_a_working_cloud_connection() -> None:
    jira, _clock = world("cloud")
    report = connector(jira).check()

    assert report.ok, report.problems
    assert report.identity == f"Time Sync ({SYNC})"
    assert report.granted == ("read worklog changes",)
    assert report.facts["API"] == "REST v3 (Cloud)"


def test_it_reports_a_working_data_center_connection() -> None:
    jira, _clock = world("datacenter")
    report = connector(jira).check()

    assert report.ok, report.problems
    assert report.facts["API"] == "REST v2 (Data Center)"


def test_a_wrong_api_token_is_refused_even_though_cloud_answers_anonymous_calls() -> None:
    jira, _clock = world("cloud")
    report = connector(jira, token="wrong").check()

    assert (report.ok, report.reachable, report.token_refused) == (False, True, True)
    assert report.problems[0].startswith("Jira did not accept the token (HTTP 401")


def test_it_says_the_server_is_cloud_when_set_up_as_data_center() -> None:
    jira, _clock = world("cloud")
    report = connector(jira, deployment="datacenter", email="", token="a-pat").check()

    assert not report.ok
    assert report.problems == (
        "This server is Jira Cloud: choose that under “Jira runs on” (Cloud takes an e-mail "
        "and API token, Data Center a personal access token)",
    )


def test_it_says_the_server_is_probably_data_center_when_set_up_as_cloud() -> None:
    jira, _clock = world("datacenter")
    report = connector(jira, deployment="cloud", email=SYNC, token="x").check()

    assert (report.ok, report.reachable) == (False, True)
    assert "probably Jira Data Center" in report.problems[0]
