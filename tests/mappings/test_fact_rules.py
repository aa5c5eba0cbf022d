"""Rules and the description on normalized facts (apps/connectors/facts.py): a source's project,
several groups per ticket, work types, the worklog comment; a Jira-shaped entry is planned by
the same engine as a Zammad one."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.connectors.entry import ActivityRef, OrganizationRef, TicketRef, TimeEntry
from apps.connectors.facts import TicketFacts
from apps.mappings.engine import plan_timesheet
from apps.mappings.rules import DESCRIPTION_PLACEHOLDERS, Template
from tests.mappings.conftest import entry
from tests.mappings.test_engine import CATCH_ALL, context, kinds

ISSUE = TicketRef("10007", "AWE-7", "Printer broken")
BEGAN = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def jira_entry(description: str | None = None) -> TimeEntry:
    """A Jira worklog as the connector normalizes it: it knows when the work began."""
    base = entry(ticket=ISSUE, organization=OrganizationRef("10000", "Awesome Customer Inc."),
                 activity=ActivityRef("10002", "Support"), booked_at=BEGAN)  # fmt: skip
    return dataclasses.replace(base, source_kind="jira", begin=BEGAN,
                               end=BEGAN + timedelta(minutes=30),
                               description=description)  # fmt: skip


def facts(**values: Any) -> TicketFacts:
    return TicketFacts(ticket_id=ISSUE.id, **values)


def test_a_rule_on_the_source_project_books_its_worklogs_on_the_rule_project() -> None:
    ctx = context({"name": "AWE", "project_ids": ["10001"], "project_id": "3",
                   "activity_id": "5"}, CATCH_ALL)  # fmt: skip
    ctx.remember_tickets([facts(project_id="10001", project_name="AWE Awesome Support")])

    plan = plan_timesheet(jira_entry(), ctx)
    assert plan.draft is not None and plan.draft.project_id == "3"
    assert plan.fields["rule"].reason == (
        "Rule 1 “AWE” is the first rule that matches: project AWE Awesome Support."
    )


def test_a_rule_on_a_project_waits_for_the_ticket_facts_rather_than_booking_elsewhere() -> None:
    ctx = context({"project_ids": ["10001"], "project_id": "3"}, CATCH_ALL)
    plan = plan_timesheet(jira_entry(), ctx)
    assert "missing_ticket_details" in kinds(plan)
    assert ctx.needs_ticket_details


def test_a_group_rule_matches_any_of_the_tickets_groups() -> None:
    ctx = context({"group_ids": ["20002"], "project_id": "3", "activity_id": "5"}, CATCH_ALL)
    ctx.remember_tickets([facts(group_ids=("20001", "20002"), group_names=("Network", "Email"))])

    plan = plan_timesheet(jira_entry(), ctx)
    assert plan.rule_id == 1
    assert plan.fields["rule"].reason.endswith("group Email.")


def test_a_ticket_without_any_group_does_not_match_a_group_rule() -> None:
    ctx = context({"group_ids": ["20002"], "project_id": "3"}, CATCH_ALL)
    ctx.remember_tickets([facts(group_ids=())])
    assert plan_timesheet(jira_entry(), ctx).rule_id == 2


def test_a_worklog_is_booked_from_the_moment_its_work_began() -> None:
    plan = plan_timesheet(jira_entry(), context(CATCH_ALL))
    assert plan.draft is not None
    assert plan.draft.begin == BEGAN
    assert plan.fields["end"].value == BEGAN + timedelta(minutes=30)


def test_the_description_names_normalized_facts_the_same_for_every_source() -> None:
    template = "{ticket_key} {work_type} in {project} ({group}; {tags}): {comment}"
    expected = "AWE-7 Support in AWE Awesome Support (Network; vip, onsite): Replaced the toner"
    ctx = context(CATCH_ALL, description=Template.parse(template, DESCRIPTION_PLACEHOLDERS))
    ctx.remember_tickets([facts(project_id="10001", project_name="AWE Awesome Support",
                                group_ids=("1",), group_names=("Network",),
                                tags=("vip", "onsite"))])  # fmt: skip
    assert ctx.needs_ticket_details and ctx.needs_ticket_tags

    plan = plan_timesheet(jira_entry(description="Replaced the toner"), ctx)
    assert plan.draft is not None
    assert plan.draft.description == f"{expected} · {plan.marker}"


def test_the_names_before_normalized_facts_still_render_the_same() -> None:
    old = Template.parse("#{ticket_number} {activity_type}", DESCRIPTION_PLACEHOLDERS)
    new = Template.parse("#{ticket_key} {work_type}", DESCRIPTION_PLACEHOLDERS)
    zammad = entry()
    first = plan_timesheet(zammad, context(CATCH_ALL, description=old))
    second = plan_timesheet(zammad, context(CATCH_ALL, description=new))
    assert first.draft is not None and second.draft is not None
    assert (
        first.draft.description == second.draft.description == (f"#24001 Support · {first.marker}")
    )
