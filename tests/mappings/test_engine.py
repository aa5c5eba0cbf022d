"""Every mapping decision of plan_timesheet, on plain data (no database, no network)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from apps.connectors.base import ReferenceCustomer, ReferenceData, ReferenceProject, ReferenceUser
from apps.connectors.entry import ActivityRef, AgentRef, OrganizationRef, TicketRef
from apps.mappings.catalog import Catalog
from apps.mappings.engine import (
    CompiledRule,
    MappingContext,
    TicketFacts,
    TimesheetPlan,
    marker_for,
    parse_marker,
    plan_timesheet,
)
from apps.mappings.rules import DESCRIPTION_PLACEHOLDERS, RuleSpec, Template
from apps.mappings.timebox import TimeSettings
from tests.mappings.conftest import ACTIVITIES, CUSTOMERS, KIMAI_USERS, PROJECTS, entry

REFERENCE = ReferenceData(
    users=tuple(
        ReferenceUser(i, username, email, username.capitalize(), zone)
        for i, username, email, zone in KIMAI_USERS
    ),
    customers=tuple(CUSTOMERS),
    projects=tuple(PROJECTS),
    activities=tuple(ACTIVITIES),
)
INITECH = OrganizationRef("3", "Initech")
UMBRELLA = OrganizationRef("4", "Umbrella Health")


def context(*rules: dict[str, Any], **options: Any) -> MappingContext:
    compiled = tuple(
        CompiledRule.build(i, i, RuleSpec(**fields)) for i, fields in enumerate(rules, start=1)
    )
    options.setdefault(
        "description", Template.parse("#{ticket_number} {ticket_title}", DESCRIPTION_PLACEHOLDERS)
    )
    reference = options.pop("reference", REFERENCE)
    return MappingContext(
        source_id=1, target_id=2, catalog=Catalog.build(reference), rules=compiled, **options
    )


def kinds(plan: TimesheetPlan) -> list[str]:
    return [p.kind for p in plan.problems]


CATCH_ALL = {"name": "Everything else", "project_id": "1"}


# -- rules: first match wins, each condition ------------------------------------------------------
def test_it_books_on_the_project_of_the_first_matching_rule() -> None:
    ctx = context({"name": "Initech", "organization_ids": ["3"], "project_id": "3",
                   "activity_id": "5"}, CATCH_ALL)  # fmt: skip
    plan = plan_timesheet(entry(organization=INITECH), ctx)
    assert plan.draft is not None
    assert plan.draft.project_id == "3"
    assert plan.rule_id == 1
    assert plan.fields["project"].decided_by == "Rule 1 “Initech”"
    assert plan.fields["rule"].reason == (
        "Rule 1 “Initech” is the first rule that matches: organization “Initech”."
    )


def test_a_later_rule_books_what_the_first_does_not_match() -> None:
    ctx = context({"organization_ids": ["3"], "project_id": "3"}, CATCH_ALL)
    plan = plan_timesheet(entry(), ctx)
    assert plan.draft is not None and plan.draft.project_id == "1"
    assert plan.fields["rule"].reason == (
        "Rule 2 “Everything else” has no conditions, so it takes every entry that reaches it."
    )


def test_the_first_of_two_matching_rules_wins() -> None:
    ctx = context({"project_id": "2"}, {"organization_ids": ["1"], "project_id": "1"})
    assert plan_timesheet(entry(), ctx).draft.project_id == "2"  # type: ignore[union-attr]


VPN = TicketRef("51", "24002", "VPN drops")


@pytest.mark.parametrize(
    ("condition", "matching", "other"),
    [
        ({"organization_ids": ["none"]}, {"organization": None}, {}),
        ({"organization_ids": ["3", "1"]}, {}, {"organization": UMBRELLA}),
        ({"activity_type_ids": ["2"]}, {"activity": ActivityRef("2", "Consulting")}, {}),
        ({"activity_type_ids": ["none"]}, {"activity": None}, {}),
        ({"title_pattern": "print"}, {}, {"ticket": VPN}),
        ({"title_pattern": "^vpn|wifi$"}, {"ticket": VPN}, {}),
    ],
)
def test_each_entry_condition_selects_its_entries(
    condition: dict[str, Any], matching: dict[str, Any], other: dict[str, Any]
) -> None:
    ctx = context({"project_id": "2", "activity_id": "1", **condition}, CATCH_ALL)
    assert plan_timesheet(entry(**matching), ctx).rule_id == 1
    assert plan_timesheet(entry(**other), ctx).rule_id == 2


@pytest.mark.parametrize(
    ("condition", "facts", "other_facts"),
    [
        ({"group_ids": ["2"]}, TicketFacts("50", group_id="2"), TicketFacts("50", group_id="1")),
        ({"customer_ids": ["100"]}, TicketFacts("50", customer_id="100"),
         TicketFacts("50", customer_id="101")),
        ({"tag_pattern": "^vip$"}, TicketFacts("50", tags=("VIP", "printer")),
         TicketFacts("50", tags=("vipers",))),
    ],
)  # fmt: skip
def test_each_ticket_condition_selects_its_tickets(
    condition: dict[str, Any], facts: TicketFacts, other_facts: TicketFacts
) -> None:
    ctx = context({"project_id": "2", **condition}, CATCH_ALL)
    ctx.remember_tickets([facts])
    assert plan_timesheet(entry(), ctx).rule_id == 1
    ctx.remember_tickets([other_facts])
    assert plan_timesheet(entry(), ctx).rule_id == 2


def test_all_conditions_of_a_rule_must_hold() -> None:
    ctx = context({"organization_ids": ["3"], "activity_type_ids": ["4"], "project_id": "3"},
                  CATCH_ALL)  # fmt: skip
    assert plan_timesheet(entry(organization=INITECH), ctx).rule_id == 2
    onsite = ActivityRef("4", "Onsite")
    assert plan_timesheet(entry(organization=INITECH, activity=onsite), ctx).rule_id == 1


def test_a_rule_needing_ticket_details_holds_the_entry_back() -> None:
    ctx = context({"group_ids": ["2"], "project_id": "2"}, CATCH_ALL)
    plan = plan_timesheet(entry(), ctx)
    assert plan.draft is None and plan.rule_id is None
    assert kinds(plan) == ["missing_ticket_details"]
    assert "asks for the ticket's group" in plan.problems[0].message


def test_no_matching_rule_is_a_problem() -> None:
    plan = plan_timesheet(entry(), context({"organization_ids": ["3"], "project_id": "3"}))
    assert plan.draft is None
    assert kinds(plan) == ["no_matching_rule"]
    assert plan.problems[0].message.startswith(
        "No rule matches this entry (organization “Awesome Customer Inc.”, activity type "
        "“Support” (#1))"
    )


# -- billable and tags ----------------------------------------------------------------------------
@pytest.mark.parametrize(("billable", "value", "tag"), [("yes", True, "billable"),
                                                       ("no", False, "not billable")])  # fmt: skip
def test_the_rule_sets_billable_and_the_billable_tag(billable: str, value: bool, tag: str) -> None:
    plan = plan_timesheet(entry(), context({"project_id": "1", "billable": billable}))
    assert plan.draft is not None
    assert plan.draft.billable is value
    assert plan.draft.tags == (tag,)
    assert plan.fields["billable"].reason == f"Rule 1 says {tag}."


def test_by_default_kimai_decides_billable_and_the_tag_predicts_it() -> None:
    plan = plan_timesheet(entry(), context({"project_id": "4", "activity_id": "1"}))
    assert plan.draft is not None
    assert plan.draft.billable is None
    assert plan.draft.tags == ("not billable",)
    assert plan.fields["billable"].display == "not billable (Kimai decides)"
    assert "project “Internal Helpdesk” is not billable" in plan.fields["billable"].reason


def test_fixed_extra_and_billable_tags_are_combined_once_each() -> None:
    ctx = context({"project_id": "1", "billable": "yes", "extra_tags": ["support", "Zammad"]},
                  fixed_tags=("zammad",))  # fmt: skip
    plan = plan_timesheet(entry(), ctx)
    assert plan.draft is not None
    assert plan.draft.tags == ("zammad", "support", "billable")
    assert plan.fields["tags"].reason == (
        "From the fixed tags in the settings, the extra tags of rule 1, the billable status as a "
        "tag (settings)."
    )


def test_the_billable_tag_can_be_turned_off() -> None:
    plan = plan_timesheet(entry(), context({"project_id": "1"}, billable_tags=None))
    assert plan.draft is not None and plan.draft.tags == ()


# -- one project per organization or ticket -------------------------------------------------------
def test_one_project_per_organization_creates_it_below_the_customer_of_the_same_name() -> None:
    ctx = context({"project_mode": "per_organization", "activity_id": "1"})
    plan = plan_timesheet(entry(organization=INITECH), ctx)
    assert plan.draft is None and plan.bookable
    assert plan.customer_to_create is None
    assert plan.project_to_create is not None
    assert dataclasses.asdict(plan.project_to_create) == {
        "name": "Initech", "customer_id": "3", "link_scope": "organization_project",
        "link_key": "3@own", "global_activities": True,
    }  # fmt: skip
    draft = plan.draft_for_project("99")
    assert draft.project_id == "99" and draft.activity_id == "1" and draft.user_id == "2"


def test_one_project_per_organization_creates_the_customer_too_when_kimai_has_none() -> None:
    ctx = context({"project_mode": "per_organization", "activity_id": "1"})
    plan = plan_timesheet(entry(organization=UMBRELLA), ctx)
    assert plan.customer_to_create is not None
    assert (plan.customer_to_create.name, plan.customer_to_create.link_key) == (
        "Umbrella Health", "4",
    )  # fmt: skip
    assert plan.project_to_create is not None and plan.project_to_create.customer_id is None
    assert plan.fields["customer"].display == "Umbrella Health (new)"


def test_one_project_per_organization_reuses_the_project_made_before() -> None:
    ctx = context({"project_mode": "per_organization", "activity_id": "1"},
                  links={("organization_project", "1@own"): "1"})  # fmt: skip
    plan = plan_timesheet(entry(), ctx)
    assert plan.draft is not None and plan.draft.project_id == "1"
    assert plan.project_to_create is None
    assert "this is the one the sync made for organization" in plan.fields["project"].reason


def test_one_project_per_ticket_below_a_chosen_customer() -> None:
    rule = {"project_mode": "per_ticket", "customer_id": "4", "activity_id": "6"}
    plan = plan_timesheet(entry(), context(rule))
    assert plan.project_to_create is not None
    assert (plan.project_to_create.name, plan.project_to_create.customer_id) == (
        "#24001 Printer broken", "4",
    )  # fmt: skip
    assert plan.project_to_create.link_key == "50@4"


def test_one_project_per_ticket_needs_a_customer_when_the_ticket_has_no_organization() -> None:
    plan = plan_timesheet(entry(organization=None), context({"project_mode": "per_ticket"}))
    assert kinds(plan) == ["no_customer"]
    assert "has no organization: name a customer in the rule" in plan.problems[0].message


def test_a_new_project_cannot_take_an_activity_of_another_project() -> None:
    rule = {"project_mode": "per_ticket", "customer_id": "1", "activity_id": "4"}
    plan = plan_timesheet(entry(), context(rule))
    assert kinds(plan) == ["invalid_activity"]
    assert "Choose a global activity" in plan.problems[0].message


# -- broken rules and Kimai's activity rule -------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "kind", "words"),
    [
        ({"project_id": "5"}, "hidden_record", "Kimai project “Old project” is hidden"),
        ({"project_id": "77"}, "broken_rule", "Kimai project #77 no longer exists"),
        ({"project_id": "1", "activity_id": "7"}, "hidden_record",
         "Kimai activity “Retired” is hidden"),
        ({"project_mode": "per_ticket", "customer_id": "5"}, "hidden_record",
         "Kimai customer “Gone Ltd” is hidden"),
    ],
)  # fmt: skip
def test_a_rule_pointing_at_a_deleted_or_hidden_record_is_a_problem(
    rule: dict[str, Any], kind: str, words: str
) -> None:
    plan = plan_timesheet(entry(), context(rule))
    assert plan.draft is None
    assert kind in kinds(plan)
    assert any(words in p.message for p in plan.problems)


def test_a_hidden_customer_named_like_the_organization_is_never_created_twice() -> None:
    hidden = ReferenceCustomer("9", "Umbrella Health", visible=False)
    reference = dataclasses.replace(REFERENCE, customers=(*CUSTOMERS, hidden))
    rule = {"project_mode": "per_organization", "activity_id": "1"}
    plan = plan_timesheet(entry(organization=UMBRELLA), context(rule, reference=reference))
    assert (plan.customer_to_create, plan.project_to_create, plan.draft) == (None, None, None)
    assert kinds(plan) == ["hidden_record"]
    message = plan.problems[0].message
    assert "Kimai customer “Umbrella Health” (#9), which is hidden in Kimai" in message
    assert "open Customers, edit “Umbrella Health” and tick “Visible”" in message


def test_a_hidden_project_named_like_the_one_to_make_is_never_created_twice() -> None:
    hidden = ReferenceProject("9", "Initech support", "3", visible=False)
    reference = dataclasses.replace(REFERENCE, projects=(*PROJECTS, hidden))
    rule = {"project_mode": "per_organization", "project_name_template": "{organization} support",
            "activity_id": "5"}  # fmt: skip
    plan = plan_timesheet(entry(organization=INITECH), context(rule, reference=reference))
    assert plan.project_to_create is None
    assert kinds(plan) == ["hidden_record"]
    assert "Kimai has “Initech support” for organization “Initech” (project #9)" in (
        plan.problems[0].message
    )


def test_a_hidden_activity_of_the_types_name_is_pointed_out() -> None:
    plan = plan_timesheet(entry(activity=ActivityRef("8", "Retired")), context(CATCH_ALL))
    assert kinds(plan) == ["hidden_record"]
    assert "“Retired” (#7), is hidden in Kimai" in plan.problems[0].message


def test_a_global_activity_on_a_project_without_global_activities_is_explained() -> None:
    plan = plan_timesheet(entry(), context({"project_id": "3"}))  # Support is global
    assert kinds(plan) == ["invalid_activity"]
    assert plan.problems[0].message == (
        "“Support” is a global activity and project “Retainer” does not allow global activities. "
        "Kimai books an activity on a project only if the activity belongs to that project, or is "
        "global and the project allows global activities. Choose one of the project's own "
        "activities, or allow global activities on the project in Kimai."
    )


def test_an_activity_of_another_project_is_explained() -> None:
    plan = plan_timesheet(entry(), context({"project_id": "1", "activity_id": "4"}))
    assert kinds(plan) == ["invalid_activity"]
    assert "“Onsite” belongs to project “Initech / Retainer”, not to “Support 2026”" in (
        plan.problems[0].message
    )


def test_a_project_activity_of_the_same_name_wins_over_a_global_one() -> None:
    plan = plan_timesheet(entry(activity=ActivityRef("4", "Onsite")), context({"project_id": "3"}))
    assert plan.draft is not None and plan.draft.activity_id == "4"
    assert plan.fields["activity"].decided_by == "activity mapping (automatic)"


# -- users ----------------------------------------------------------------------------------------
def test_it_matches_the_kimai_user_by_e_mail_ignoring_case() -> None:
    sofia = AgentRef("7", "sofia.rossi@example.com", "Sofia Rossi")
    plan = plan_timesheet(entry(agent=sofia), context(CATCH_ALL))
    assert plan.draft is not None and plan.draft.user_id == "5"
    assert plan.fields["user"].reason == (
        "No mapping saved for Zammad agent #7; Kimai user #5 has the same e-mail address "
        "(compared ignoring case)."
    )


def test_a_mapping_made_by_hand_wins_over_the_e_mail() -> None:
    plan = plan_timesheet(entry(), context(CATCH_ALL, user_mappings={"4": ("1", "manual")}))
    assert plan.draft is not None and plan.draft.user_id == "1"
    assert plan.fields["user"].reason == "Zammad agent #4 → Kimai user #1, chosen by hand."


def test_an_unmapped_agent_is_a_conflict_by_default_never_the_token_owner() -> None:
    temp = AgentRef("8", "pat.temp@example.com", "Pat Temp")
    plan = plan_timesheet(entry(agent=temp), context(CATCH_ALL))
    assert plan.draft is None
    assert kinds(plan) == ["unmapped_user"]
    assert "Pat" not in plan.problems[0].message  # names stay in the people table
    assert plan.problems[0].message.startswith("Zammad agent #8 has no Kimai user")


def test_an_unmapped_agent_goes_to_the_fallback_user_when_the_policy_says_so() -> None:
    temp = AgentRef("8", "pat.temp@example.com", "Pat Temp")
    plan = plan_timesheet(entry(agent=temp), context(CATCH_ALL, fallback_user_id="1"))
    assert plan.draft is not None and plan.draft.user_id == "1"
    assert plan.fields["user"].decided_by == "unmapped-user policy"


def test_a_mapping_to_a_user_kimai_no_longer_lists_is_a_conflict() -> None:
    plan = plan_timesheet(entry(), context(CATCH_ALL, user_mappings={"4": ("9", "manual")}))
    assert kinds(plan) == ["unmapped_user"]
    assert "Kimai user #9, whom Kimai no longer lists" in plan.problems[0].message


def test_every_draft_names_its_user() -> None:
    plan = plan_timesheet(entry(), context(CATCH_ALL))
    assert plan.draft is not None and plan.draft.user_id == "2"


# -- activities -----------------------------------------------------------------------------------
def test_the_activity_mapping_decides_when_the_rule_names_no_activity() -> None:
    plan = plan_timesheet(entry(), context(CATCH_ALL, activity_mappings={"1": "2"}))
    assert plan.draft is not None and plan.draft.activity_id == "2"
    assert plan.fields["activity"].reason == (
        "Zammad activity type “Support” (#1) → this activity (activity mapping)."
    )


def test_entries_without_a_type_use_the_no_type_mapping() -> None:
    plan = plan_timesheet(entry(activity=None), context(CATCH_ALL, activity_mappings={"": "3"}))
    assert plan.draft is not None and plan.draft.activity_id == "3"


def test_an_unmapped_activity_type_is_a_problem() -> None:
    travel = ActivityRef("5", "Travel")
    plan = plan_timesheet(entry(activity=travel), context(CATCH_ALL))
    assert kinds(plan) == ["unmapped_activity"]
    assert plan.problems[0].message.startswith(
        "Zammad activity type “Travel” (#5): not mapped to a Kimai activity"
    )


def test_an_activity_that_exists_only_on_another_project_is_named_where_it_is() -> None:
    onsite = ActivityRef("4", "Onsite")  # Kimai has “Onsite” on Initech / Retainer only
    plan = plan_timesheet(entry(activity=onsite), context(CATCH_ALL))
    assert kinds(plan) == ["unmapped_activity"]
    assert (
        "not mapped to a Kimai activity, and no Kimai activity of that name on project "
        "Awesome Customer Inc. / Support 2026 (only on Initech / Retainer)."
    ) in plan.problems[0].message


def test_entries_without_a_type_and_without_a_mapping_are_a_problem() -> None:
    plan = plan_timesheet(entry(activity=None), context(CATCH_ALL))
    assert kinds(plan) == ["unmapped_activity"]


def test_an_activity_mapping_to_a_deleted_activity_is_broken() -> None:
    plan = plan_timesheet(entry(), context(CATCH_ALL, activity_mappings={"1": "77"}))
    assert kinds(plan) == ["broken_mapping"]


# -- time, description, marker --------------------------------------------------------------------
def test_begin_and_end_are_in_the_kimai_users_time_zone() -> None:
    liam = AgentRef("5", "liam.johnson@example.com", "Liam Johnson")
    plan = plan_timesheet(entry(agent=liam), context(CATCH_ALL))
    assert plan.draft is not None
    assert plan.draft.begin.isoformat() == "2026-03-02T09:30:00-05:00"
    assert plan.fields["end"].display == "2026-03-02 10:00 America/New_York"


def test_settings_decide_the_booking_instant() -> None:
    ctx = context(CATCH_ALL, time=TimeSettings(instant="start", rounding_minutes=15))
    plan = plan_timesheet(entry(seconds=600), ctx)
    assert plan.draft is not None
    assert plan.draft.begin.isoformat() == "2026-03-02T16:00:00+01:00"
    assert plan.draft.duration_seconds == 900


def test_a_zero_entry_is_skipped_with_a_reason() -> None:
    plan = plan_timesheet(entry(seconds=0), context(CATCH_ALL))
    assert plan.draft is None and not plan.bookable
    assert plan.skipped_reason is not None and "Zammad booked no time" in plan.skipped_reason


def test_the_description_is_the_template_then_the_marker() -> None:
    plan = plan_timesheet(entry(), context(CATCH_ALL))
    assert plan.draft is not None
    assert plan.draft.description == "#24001 Printer broken · zks-1-42-z"


def test_the_marker_is_found_again_in_a_description() -> None:
    marker = marker_for(entry(external_id="421"))
    assert marker == "zks-1-421-z"
    assert parse_marker(f"#24001 Printer broken · {marker}") == (1, "421")
    assert parse_marker("no marker here") is None


def test_no_marker_is_part_of_another() -> None:
    markers = [marker_for(entry(external_id=i, connection_id=c))
               for c in (1, 11) for i in ("4", "42", "421", "x1", "a-b")]  # fmt: skip
    for a in markers:
        assert all(a == b or a not in b for b in markers), a


def test_odd_ids_are_encoded_so_the_marker_stays_letters_digits_and_hyphens() -> None:
    marker = marker_for(entry(external_id="a:b%"))
    assert marker == "zks-1-x613a6225-z"
    assert parse_marker(marker) == (1, "a:b%")
    assert parse_marker(marker_for(entry(external_id="x1"))) == (1, "x1")


def test_a_plan_is_the_same_when_the_context_reuses_its_decisions() -> None:
    ctx = context({"project_mode": "per_ticket", "customer_id": "1", "activity_id": "1"})
    first = plan_timesheet(entry(), ctx)
    second_ticket = entry(external_id="43", ticket=TicketRef("51", "24002", "VPN drops"))
    second = plan_timesheet(second_ticket, ctx)
    again = plan_timesheet(entry(), ctx)
    assert first.project_to_create is not None and second.project_to_create is not None
    assert second.project_to_create.name == "#24002 VPN drops"
    assert again.project_to_create == first.project_to_create
    assert again.fields == first.fields
