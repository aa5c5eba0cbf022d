"""Jira worklogs: feeds, bulk lists, issues for rules, times (docs/reference/jira-api.md)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from apps.connectors.entry import ActivityRef, AgentRef, OrganizationRef, TicketRef, TimeEntry
from tests.doubles.base import Fault
from tests.doubles.jira_world import EMMA, PAT, SOFIA, SYNC, TOKEN
from tests.plugins.jira_setup import connector, log, world

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def test_it_signs_in_to_cloud_with_the_email_and_api_token_on_rest_v3() -> None:
    jira, _clock = world("cloud")
    list(connector(jira).fetch_all_entries())

    expected = "Basic " + base64.b64encode(f"{SYNC}:{TOKEN}".encode()).decode()
    assert {r.headers["authorization"] for r in jira.requests} == {expected}
    assert all(r.path.startswith("/rest/api/3/") for r in jira.requests)


def test_it_sends_the_personal_access_token_as_bearer_to_data_center_on_rest_v2() -> None:
    jira, _clock = world("datacenter")
    list(connector(jira).fetch_all_entries())

    assert {r.headers["authorization"] for r in jira.requests} == {f"Bearer {PAT}"}
    assert all(r.path.startswith("/rest/api/2/") for r in jira.requests)


def test_it_normalizes_a_worklog_with_its_issue() -> None:
    jira, _clock = world("cloud")
    worklog_id = log(jira, 30, seconds=5400, comment="Replaced the toner")
    emma = jira.user(EMMA)

    [entry] = connector(jira).fetch_all_entries()
    started = datetime(2026, 3, 30, 6, 30, tzinfo=UTC)
    assert entry == TimeEntry(
        source_kind="jira",
        connection_id=9,
        external_id=str(worklog_id),
        booked_at=started,
        duration_seconds=5400,
        begin=started,
        end=started + timedelta(seconds=5400),
        ticket=TicketRef(jira.issue("AWE-1").id, "AWE-1", "Printer broken"),
        organization=OrganizationRef("10000", "Awesome Customer Inc."),
        agent=AgentRef(emma.account_id, EMMA, "Emma Schulz"),
        activity=ActivityRef(jira.issue_types["10001"].id, "Task"),
        description="Replaced the toner",
        changed_at=datetime(2026, 3, 30, 7, 30, tzinfo=UTC),
    )


def test_it_keeps_the_instant_whatever_offset_the_site_writes() -> None:
    jira, _clock = world("datacenter")
    log(jira, 30)

    [entry] = connector(jira).fetch_all_entries()
    # The double writes "2026-03-30T08:30:00.000+0200" (Europe/Berlin, summer time, §10).
    assert entry.begin == datetime(2026, 3, 30, 6, 30, tzinfo=UTC)
    assert entry.description is None


def test_it_identifies_data_center_authors_by_their_stable_key() -> None:
    jira, _clock = world("datacenter")
    log(jira, 30)

    [entry] = connector(jira).fetch_all_entries()
    assert entry.agent == AgentRef(jira.user(EMMA).key, EMMA, "Emma Schulz")


def test_it_leaves_the_email_of_a_private_cloud_profile_empty() -> None:
    jira, _clock = world("cloud")
    log(jira, 30, author=SOFIA)

    [entry] = connector(jira).fetch_all_entries()
    assert entry.agent is not None and entry.agent.email is None
    assert entry.agent.id == jira.user(SOFIA).account_id


def test_it_reads_changes_since_an_instant_and_leaves_known_ones_out() -> None:
    jira, _clock = world("cloud")
    old = log(jira, 600)
    known = log(jira, 90)
    new = log(jira, 30)
    source = connector(jira, change_overlap_seconds=0)
    updated = {str(known): datetime(2026, 3, 30, 6, 30, tzinfo=UTC)}

    entries = list(source.fetch_entries_changed_since(jira.now() - timedelta(hours=2), updated))
    assert [e.external_id for e in entries] == [str(new)]
    assert old not in {int(e.external_id) for e in entries}


def test_it_reads_worklog_ids_from_the_feed_and_worklogs_in_batches_of_a_thousand() -> None:
    jira, _clock = world("cloud")
    for index in range(1203):
        log(jira, 2000 - index)

    entries = list(connector(jira).fetch_all_entries())
    assert len({e.external_id for e in entries}) == 1203
    batches = [len(r.json["ids"]) for r in jira.requests_to("POST", "/rest/api/3/worklog/list")]
    assert sorted(batches) == [203, 1000]
    assert len(jira.requests_to("GET", "/rest/api/3/worklog/updated")) == 2


def test_it_looks_up_each_issue_once_per_run() -> None:
    jira, _clock = world("cloud")
    for minutes_ago in (300, 200, 100):
        log(jira, minutes_ago, issue="AWE-1")
        log(jira, minutes_ago - 1, issue="GLX-1")
    source = connector(jira)

    list(source.fetch_all_entries())
    list(source.fetch_entries_changed_since(EPOCH))
    [search] = jira.requests_to("POST", "/rest/api/3/search/jql")
    issues = {jira.issue("AWE-1").id, jira.issue("GLX-1").id}
    assert search.json["jql"] == f"id in ({','.join(sorted(issues, key=int))})"


def test_it_gives_rules_the_issue_project_components_and_labels() -> None:
    jira, _clock = world("cloud")
    log(jira, 30)
    source = connector(jira)
    [entry] = source.fetch_all_entries()
    assert entry.ticket is not None

    facts = source.fetch_ticket_facts([entry.ticket.id], with_tags=True)[entry.ticket.id]
    awe = jira.projects["AWE"]
    assert (facts.project_id, facts.project_name) == (awe.id, "AWE Awesome Support")
    assert facts.groups == (awe.components[0].id,)
    assert facts.group_names == ("Network",)
    assert facts.tags == ("billable", "vip")
    assert len(jira.requests_to("POST", "/rest/api/3/search/jql")) == 1


def test_it_reads_ids_of_deleted_worklogs_from_the_deleted_feed() -> None:
    jira, clock = world("cloud")
    gone = log(jira, 120)
    log(jira, 100)
    jira.delete_worklog(gone, at=jira.now() - timedelta(minutes=60))

    assert connector(jira).fetch_deleted_since(jira.now() - timedelta(hours=3)) == [str(gone)]


def test_it_reads_a_window_by_when_the_work_began() -> None:
    jira, _clock = world("cloud")
    inside = log(jira, 300)  # began 6 hours ago
    log(jira, 30)  # began 90 minutes ago
    start, end = jira.now() - timedelta(hours=7), jira.now() - timedelta(hours=3)

    entries = list(connector(jira).fetch_entries_in_window(start, end))
    assert [e.external_id for e in entries] == [str(inside)]


def test_it_reads_all_worklogs_of_one_issue_for_a_ticket_run() -> None:
    jira, _clock = world("datacenter")
    first, second = log(jira, 90), log(jira, 30)
    log(jira, 20, issue="GLX-1")

    entries = connector(jira).fetch_entries_of_ticket(jira.issue("AWE-1").id)
    assert [e.external_id for e in entries] == [str(first), str(second)]


def test_an_issue_gone_from_jira_has_no_worklogs() -> None:
    jira, _clock = world("cloud")
    assert connector(jira).fetch_entries_of_ticket("99999") == []


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_it_waits_as_long_as_jira_says_after_a_429(flavour: str) -> None:
    jira, _clock = world(flavour)  # type: ignore[arg-type]
    log(jira, 30)
    jira.inject(Fault("rate_limit", path_prefix="/rest/api", retry_after=7))
    slept: list[float] = []
    source = connector(jira)
    source.http._sleep = slept.append

    assert len(list(source.fetch_all_entries())) == 1
    assert slept == [7.0]


def test_it_retries_a_503_from_an_exhausted_resource_after_its_retry_after() -> None:
    jira, _clock = world("cloud")
    log(jira, 30)
    busy = Fault("error_before_commit", status=503, retry_after=3, path_prefix="/rest/api/3/work")
    jira.inject(busy)
    slept: list[float] = []
    source = connector(jira)
    source.http._sleep = slept.append

    assert len(list(source.fetch_all_entries())) == 1
    assert slept == [3.0]
