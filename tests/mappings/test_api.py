"""/api/v1/mappings: status codes, exact JSON, and nothing written on bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.connectors.models import Connection
from apps.mappings.models import ActivityMapping, MappingProfile, Rule, UserMapping
from tests.mappings.conftest import add_agent, add_rule

pytestmark = pytest.mark.django_db

RULE_DEFAULTS: dict[str, Any] = {
    "name": "", "organization_ids": [], "customer_ids": [], "group_ids": [], "project_ids": [],
    "activity_type_ids": [], "title_pattern": "", "tag_pattern": "", "project_mode": "fixed",
    "customer_id": "", "project_id": "", "project_name_template": "", "activity_id": "",
    "billable": "default", "extra_tags": [],
}  # fmt: skip


def call(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    response = client.generic(
        method, f"/api/v1/mappings{path}", json.dumps(body) if body is not None else "",
        content_type="application/json",
    )  # fmt: skip
    return response.status_code, response.json() if response.content else None


def test_it_creates_a_rule_at_the_end_and_answers_it(
    api_client: Client, profile: MappingProfile
) -> None:
    add_rule(profile, project_id="1")
    status, body = call(api_client, "POST", "/rules", {
        "name": "Initech", "organization_ids": ["3"], "project_id": "3", "activity_id": "5",
        "billable": "yes", "extra_tags": ["retainer"],
    })  # fmt: skip
    assert status == 201
    rule = Rule.objects.get(name="Initech")
    assert body == {
        **RULE_DEFAULTS, "id": rule.pk, "position": 2, "name": "Initech",
        "organization_ids": ["3"], "project_id": "3", "activity_id": "5", "billable": "yes",
        "extra_tags": ["retainer"],
        "findings": [{"kind": "unreachable", "message":
                      "Never used: rule 1 above wins, as it has no conditions, so it matches "
                      "every entry."}],
    }  # fmt: skip


def test_it_lists_the_rules_in_order_with_what_is_wrong_with_them(
    api_client: Client, profile: MappingProfile
) -> None:
    add_rule(profile, name="Old", project_id="5")
    add_rule(profile, name="Initech", organization_ids=["3"], project_id="3")
    status, body = call(api_client, "GET", "/rules")
    assert status == 200
    assert [r["name"] for r in body] == ["Old", "Initech"]
    assert body[0]["findings"] == [{
        "kind": "broken",
        "message": "Kimai project “Old project” is hidden; Kimai books nothing on hidden projects. "
        "The sync does not create a second one of the same name: in Kimai, open Projects, edit "
        "“Old project” and tick “Visible” (then check again), or choose another one in the rule "
        "or the mapping.",
    }]  # fmt: skip
    assert body[1]["findings"] == [{
        "kind": "unreachable",
        "message": "Never used: rule 1 (“Old”) above wins, as it has no conditions, so it "
                   "matches every entry.",
    }]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"project_id": "77"}, "project_id", "Kimai project #77 no longer exists"),
        ({"project_id": "3", "activity_id": "1"}, "activity_id",
         "“Support” is a global activity and project “Retainer” does not allow"),
        ({"project_id": "1", "customer_id": "2"}, "project_id",
         "Project “Support 2026” belongs to Awesome Customer Inc., not to Globex Corporation."),
    ],
)  # fmt: skip
def test_it_refuses_a_rule_kimai_would_refuse_and_saves_nothing(
    api_client: Client, profile: MappingProfile, body: dict[str, Any], field: str, message: str
) -> None:
    status, answer = call(api_client, "POST", "/rules", body)
    assert status == 422
    assert message in answer["errors"][field][0]
    assert answer["detail"].startswith("Nothing was saved")
    assert not Rule.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"project_id": "1", "colour": "red"},
        {"project_id": "1", "title_pattern": "(unclosed"},
        {"project_id": "1", "extra_tags": ["a,b"]},
        {"project_mode": "fixed"},
        {"project_id": "1", "billable": "maybe"},
        {"project_id": "1", "organization_ids": ["1 OR 1=1"]},
    ],
)
def test_it_answers_422_to_malformed_rules(
    api_client: Client, profile: MappingProfile, body: dict[str, Any]
) -> None:
    status, answer = call(api_client, "POST", "/rules", body)
    assert status == 422, answer
    assert answer["detail"] == "Invalid request."
    assert not Rule.objects.exists()


def test_it_gets_replaces_patches_and_deletes_one_rule(
    api_client: Client, profile: MappingProfile
) -> None:
    first = add_rule(profile, name="A", project_id="1")
    second = add_rule(profile, name="B", organization_ids=["2"], project_id="2")
    assert call(api_client, "GET", f"/rules/{first.pk}")[1]["name"] == "A"
    status, body = call(api_client, "PUT", f"/rules/{second.pk}", {"project_id": "4"})
    assert status == 200
    assert (body["name"], body["organization_ids"], body["project_id"]) == ("", [], "4")
    status, body = call(api_client, "PATCH", f"/rules/{second.pk}", {"name": "Internal"})
    assert (status, body["name"], body["project_id"]) == (200, "Internal", "4")
    assert call(api_client, "DELETE", f"/rules/{first.pk}") == (204, None)
    second.refresh_from_db()
    assert (second.position, Rule.objects.count()) == (1, 1)


def test_a_bad_patch_changes_nothing(api_client: Client, profile: MappingProfile) -> None:
    rule = add_rule(profile, name="A", project_id="1")
    status, body = call(api_client, "PATCH", f"/rules/{rule.pk}",
                        {"name": "B", "activity_id": "4"})  # fmt: skip
    assert status == 422
    assert "belongs to project “Initech / Retainer”" in body["errors"]["activity_id"][0]
    rule.refresh_from_db()
    assert (rule.name, rule.activity_id) == ("A", "")


def test_unknown_rules_are_404(api_client: Client, profile: MappingProfile) -> None:
    assert call(api_client, "GET", "/rules/999")[0] == 404
    assert call(api_client, "PATCH", "/rules/999", {"name": "x"})[0] == 404
    assert call(api_client, "DELETE", "/rules/999")[0] == 404


def test_it_reorders_the_rules(api_client: Client, profile: MappingProfile) -> None:
    a, b, c = (add_rule(profile, name=n, title_pattern=n, project_id="1") for n in "abc")
    status, body = call(api_client, "POST", "/rules/reorder", {"ids": [c.pk, a.pk, b.pk]})
    assert status == 200
    assert [(r["name"], r["position"]) for r in body] == [("c", 1), ("a", 2), ("b", 3)]


@pytest.mark.parametrize("ids", [[1], [1, 1, 2, 3], [10**9]])
def test_a_reorder_that_does_not_name_every_rule_once_changes_nothing(
    api_client: Client, profile: MappingProfile, ids: list[int]
) -> None:
    rules = [add_rule(profile, name=n, title_pattern=n, project_id="1") for n in "abc"]
    status, body = call(api_client, "POST", "/rules/reorder", {"ids": ids})
    assert status == 422
    assert "Send every rule id exactly once" in body["errors"]["ids"][0]
    assert list(Rule.objects.values_list("pk", flat=True)) == [r.pk for r in rules]


def test_without_connections_the_rules_answer_409_in_plain_words(api_client: Client) -> None:
    status, body = call(api_client, "GET", "/rules")
    assert status == 409
    assert body == {
        "detail": "Add a Zammad and a Kimai connection on the Connectors page first: mappings "
        "connect the two."
    }


def test_it_lists_and_sets_user_mappings(
    api_client: Client, zammad: Connection, kimai: Connection, profile: MappingProfile
) -> None:
    add_agent(zammad, "4", "emma.schulz@example.com", "Emma Schulz")
    add_agent(zammad, "8", "pat.temp@example.com", "Pat Temp")
    status, body = call(api_client, "PATCH", "/users", {
        "mappings": [{"zammad_user": "8", "kimai_user": "1"}],
        "unmapped_policy": "fallback", "fallback_kimai_user": "1",
    })  # fmt: skip
    assert status == 200
    assert body == {
        "unmapped_policy": "fallback",
        "fallback_kimai_user": "1",
        "kimai_users_listed": True,
        "agents": [
            {"zammad_user": "4", "name": "Emma Schulz", "email": "emma.schulz@example.com",
             "kimai_user": None, "kimai_user_name": None, "method": ""},
            {"zammad_user": "8", "name": "Pat Temp", "email": "pat.temp@example.com",
             "kimai_user": "1", "kimai_user_name": "Chris", "method": "manual"},
        ],
    }  # fmt: skip


def test_setting_users_is_all_or_nothing(
    api_client: Client, zammad: Connection, profile: MappingProfile
) -> None:
    add_agent(zammad, "4", "emma.schulz@example.com")
    status, body = call(api_client, "PUT", "/users", {"mappings": [
        {"zammad_user": "4", "kimai_user": "1"}, {"zammad_user": "4", "kimai_user": "99"},
    ]})  # fmt: skip
    assert status == 422
    assert body["errors"] == {"kimai_user": ["There is no Kimai user #99."]}
    assert not UserMapping.objects.exists()


def test_the_fallback_policy_needs_a_user(api_client: Client, profile: MappingProfile) -> None:
    status, body = call(api_client, "PATCH", "/users", {"unmapped_policy": "fallback"})
    assert status == 422
    assert list(body["errors"]) == ["fallback_user"]
    profile.refresh_from_db()
    assert profile.unmapped_policy == "conflict"


def test_it_lists_and_sets_activity_mappings(
    api_client: Client, profile: MappingProfile, zammad_reference: object
) -> None:
    status, body = call(api_client, "PUT", "/activities", {"mappings": [
        {"zammad_type": "", "kimai_activity": "6"}, {"zammad_type": "4", "kimai_activity": "4"},
    ]})  # fmt: skip
    assert status == 200
    assert body["mappings"] == [
        {"zammad_type": "", "zammad_type_name": "no activity type", "kimai_activity": "6",
         "kimai_activity_name": "Internal work (global)", "decided": "by hand"},
        {"zammad_type": "2", "zammad_type_name": "Consulting", "kimai_activity": "2",
         "kimai_activity_name": "Consulting (global)", "decided": "same name"},
        {"zammad_type": "3", "zammad_type_name": "Development", "kimai_activity": "3",
         "kimai_activity_name": "Development (global)", "decided": "same name"},
        {"zammad_type": "4", "zammad_type_name": "Onsite", "kimai_activity": "4",
         "kimai_activity_name": "Onsite (Initech / Retainer)", "decided": "by hand"},
        {"zammad_type": "1", "zammad_type_name": "Support", "kimai_activity": "1",
         "kimai_activity_name": "Support (global)", "decided": "same name"},
    ]  # fmt: skip


def test_setting_activities_is_all_or_nothing(api_client: Client, profile: MappingProfile) -> None:
    status, body = call(api_client, "PATCH", "/activities", {"mappings": [
        {"zammad_type": "1", "kimai_activity": "2"}, {"zammad_type": "2", "kimai_activity": "7"},
    ]})  # fmt: skip
    assert status == 422
    assert body["errors"] == {"kimai_activity": [
        "Kimai activity “Retired” is hidden; Kimai books nothing on it. The sync does not create "
        "a second one of the same name: in Kimai, open Activities, edit “Retired” and tick "
        "“Visible” (then check again), or choose another one in the rule or the mapping."
    ]}  # fmt: skip
    assert not ActivityMapping.objects.exists()


PREVIEW_ENTRY = {
    "external_id": "42", "booked_at": "2026-03-02T15:00:00Z", "duration_seconds": 1800,
    "ticket": {"id": "50", "number": "24001", "title": "Printer broken"},
    "organization": {"id": "3", "name": "Initech"},
    "agent": {"id": "5", "email": "liam.johnson@example.com"},
    "activity": {"id": "4", "name": "Onsite"},
    "ticket_details": {"group_id": "2", "tags": ["vip"]},
}  # fmt: skip


def test_the_preview_answers_the_timesheet_field_by_field(
    api_client: Client, zammad: Connection, profile: MappingProfile
) -> None:
    rule = add_rule(profile, name="VIP", tag_pattern="vip", group_ids=["2"], project_id="3")
    status, body = call(api_client, "POST", "/preview", {"entry": PREVIEW_ENTRY})
    assert status == 200
    [plan] = body["plans"]
    marker = f"zks-{zammad.pk}-42-z"
    assert plan["draft"] == {
        "begin": "2026-03-02T09:30:00-05:00", "end": "2026-03-02T10:00:00-05:00",
        "duration_seconds": 1800, "user_id": "3", "project_id": "3", "activity_id": "4",
        "description": f"#24001 Printer broken · {marker}", "tags": ["billable"],
        "billable": None,
    }  # fmt: skip
    assert (plan["status"], plan["marker"], plan["rule_id"]) == ("ready", marker, rule.pk)
    assert plan["fields"]["activity"] == {
        "value": "4", "display": "Onsite (Initech / Retainer)",
        "decided_by": "activity mapping (automatic)",
        "reason": "Zammad activity type “Onsite” (#4) has no saved mapping; this Kimai activity "
                  "has the same name.",
    }  # fmt: skip
    assert plan["fields"]["begin"]["decided_by"] == (
        "time synthesis (America/New_York, the Kimai user's time zone)"
    )
    assert plan["problems"] == [] and plan["project_to_create"] is None


def test_the_preview_explains_why_an_entry_cannot_be_booked(
    api_client: Client, profile: MappingProfile
) -> None:
    add_rule(profile, project_id="3")
    support = {**PREVIEW_ENTRY, "activity": {"id": "1", "name": "Support"}}
    status, body = call(api_client, "POST", "/preview", {"entry": support})
    assert status == 200
    [plan] = body["plans"]
    assert (plan["status"], plan["draft"]) == ("conflict", None)
    assert [p["kind"] for p in plan["problems"]] == ["invalid_activity"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ticket_number": "24001", "time_accounting_id": "1"},
        {"entry": {**PREVIEW_ENTRY, "booked_at": "2026-03-02T15:00:00"}},
        {"entry": {**PREVIEW_ENTRY, "duration_seconds": "lots"}},
    ],
)
def test_the_preview_answers_422_to_bad_input(
    api_client: Client, profile: MappingProfile, body: dict[str, Any]
) -> None:
    status, answer = call(api_client, "POST", "/preview", body)
    assert status == 422, answer


def test_the_preview_from_zammad_says_when_zammad_cannot_be_reached(
    api_client: Client, profile: MappingProfile
) -> None:
    status, body = call(api_client, "POST", "/preview", {"ticket_number": "24001"})
    assert status == 502
    assert body["detail"].startswith("Zammad did not answer as expected:")
