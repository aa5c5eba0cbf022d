"""The mapping pages: full pages for browsers, fragments for HTMX, messages where they belong."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.connectors.models import Connection
from apps.mappings.models import ActivityMapping, MappingProfile, Rule, UserMapping
from tests.mappings.conftest import add_agent, add_rule

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def htmx_post(client: Client, url: str, data: dict[str, Any], **headers: str) -> Any:
    return client.post(url, data, headers={**HTMX, **headers})


def test_the_rules_page_lists_the_rules_with_their_findings(
    admin_client: Client, profile: MappingProfile, zammad_reference: object
) -> None:
    add_rule(profile, name="Everything", project_id="1")
    add_rule(profile, name="Initech", organization_ids=["3"], project_id="3", activity_id="5")
    add_rule(profile, name="Old", title_pattern="legacy", project_id="5")
    page = admin_client.get("/mappings/").content.decode()
    assert "<h1>Mappings</h1>" in page
    assert "organization is Initech" in page
    assert "project Initech / Retainer; activity Retainer support (Initech / Retainer)" in page
    assert "Never used: rule 1 (“Everything”) above wins, as it has no conditions" in page
    assert "Kimai project “Old project” is hidden" in page
    assert 'id="preview"' in page


def test_without_connections_the_page_says_what_to_do(admin_client: Client) -> None:
    page = admin_client.get("/mappings/").content.decode()
    assert "Add a Zammad and a Kimai connection on the Connectors page first" in page
    assert 'href="/connectors/"' in page


def test_the_new_rule_form_comes_as_a_fragment_with_kimai_choices(
    admin_client: Client, profile: MappingProfile, zammad_reference: object
) -> None:
    response = admin_client.get("/mappings/rules/new/", headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith("<form")
    assert '<optgroup label="Initech"><option value="3">Retainer</option>' in html
    assert 'name="organization_ids" value="3"> Initech</label>' in html  # Zammad organization
    assert "Old project" not in html  # hidden projects are not offered


def test_adding_a_rule_answers_the_new_table_and_nudges_the_preview(
    admin_client: Client, profile: MappingProfile
) -> None:
    response = htmx_post(admin_client, "/mappings/rules/new/", {
        "name": "Initech", "organization_ids": ["3"], "project_mode": "fixed",
        "project_id": "3", "activity_id": "5", "billable": "yes", "extra_tags": "retainer, vip",
    })  # fmt: skip
    assert response.status_code == 200
    assert response["HX-Trigger"] == "rules-changed"
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="rule-list">')
    rule = Rule.objects.get()
    assert (rule.name, rule.organization_ids, rule.extra_tags) == (
        "Initech", ["3"], ["retainer", "vip"],
    )  # fmt: skip


def test_an_invalid_combination_is_explained_next_to_the_field(
    admin_client: Client, profile: MappingProfile
) -> None:
    response = htmx_post(admin_client, "/mappings/rules/new/", {
        "project_mode": "fixed", "project_id": "3", "activity_id": "1", "billable": "default",
    })  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200  # htmx swaps only 2xx answers
    assert (response["HX-Retarget"], response["HX-Reswap"]) == ("#rule-form-new", "outerHTML")
    assert "Nothing was saved" in html
    assert "“Support” is a global activity and project “Retainer” does not allow global" in html
    assert not Rule.objects.exists()


def test_without_javascript_a_bad_rule_gets_the_whole_page_and_400(
    admin_client: Client, profile: MappingProfile
) -> None:
    response = admin_client.post("/mappings/rules/new/", {"project_mode": "fixed"})
    assert response.status_code == 400
    assert "<h1>Mappings</h1>" in response.content.decode()
    assert "choose the Kimai project" in response.content.decode()


def test_the_editor_checks_a_combination_while_people_choose(
    admin_client: Client, profile: MappingProfile
) -> None:
    data = {"project_mode": "fixed", "project_id": "1", "activity_id": "4"}
    html = htmx_post(admin_client, "/mappings/rules/check/", data).content.decode()
    assert "“Onsite” belongs to project “Initech / Retainer”, not to “Support 2026”" in html
    data["activity_id"] = "1"
    html = htmx_post(admin_client, "/mappings/rules/check/", data).content.decode()
    assert "Kimai accepts this combination." in html


def test_editing_a_rule_saves_it(admin_client: Client, profile: MappingProfile) -> None:
    rule = add_rule(profile, name="A", project_id="1")
    form = admin_client.get(f"/mappings/rules/{rule.pk}/", headers=HTMX).content.decode()
    assert 'value="A"' in form
    htmx_post(admin_client, f"/mappings/rules/{rule.pk}/", {
        "name": "B", "project_mode": "per_organization", "project_id": "1",
        "activity_id": "1", "billable": "no",
    })  # fmt: skip
    rule.refresh_from_db()
    assert (rule.name, rule.project_mode, rule.project_id, rule.billable) == (
        "B", "per_organization", "", "no",
    )  # fmt: skip


def test_moving_a_rule_up_changes_the_order(admin_client: Client, profile: MappingProfile) -> None:
    a = add_rule(profile, name="a", title_pattern="a", project_id="1")
    b = add_rule(profile, name="b", title_pattern="b", project_id="1")
    response = htmx_post(admin_client, f"/mappings/rules/{b.pk}/move/up/", {})
    assert response["HX-Trigger"] == "rules-changed"
    assert list(Rule.objects.values_list("name", flat=True)) == ["b", "a"]
    htmx_post(admin_client, f"/mappings/rules/{b.pk}/move/up/", {})  # already first
    htmx_post(admin_client, f"/mappings/rules/{a.pk}/move/sideways/", {})
    assert list(Rule.objects.values_list("name", "position")) == [("b", 1), ("a", 2)]


def test_deleting_a_rule_closes_the_gap(admin_client: Client, profile: MappingProfile) -> None:
    a, b, c = (add_rule(profile, name=n, title_pattern=n, project_id="1") for n in "abc")
    response = admin_client.post(f"/mappings/rules/{b.pk}/delete/")
    assert response.status_code == 302
    assert list(Rule.objects.values_list("name", "position")) == [("a", 1), ("c", 2)]


def test_rules_of_another_pair_are_not_found(
    admin_client: Client, profile: MappingProfile, kimai: Connection
) -> None:
    other_source = Connection.objects.create(kind="zammad", name="Other", base_url="http://x.test",
                                             token="t", enabled=False)  # fmt: skip
    other = MappingProfile.objects.create(source=other_source, target=kimai)
    rule = add_rule(other, project_id="1")
    assert admin_client.post(f"/mappings/rules/{rule.pk}/delete/").status_code == 404
    assert Rule.objects.filter(pk=rule.pk).exists()


def test_the_preview_says_plainly_when_zammad_cannot_be_asked(
    admin_client: Client, profile: MappingProfile
) -> None:
    html = htmx_post(admin_client, "/mappings/preview/", {"kind": "ticket", "value": "24001"})
    text = html.content.decode()
    assert text.lstrip().startswith('<div id="preview"')
    assert "Zammad did not answer as expected" in text


def test_an_empty_preview_is_empty_not_an_error(
    admin_client: Client, profile: MappingProfile
) -> None:
    response = htmx_post(admin_client, "/mappings/preview/", {"kind": "ticket", "value": ""})
    assert response.content.decode().split() == ['<div', 'id="preview"', 'aria-live="polite">',
                                                 "</div>"]  # fmt: skip


def test_the_users_page_lists_unmatched_agents_first(
    admin_client: Client, zammad: Connection, kimai: Connection, profile: MappingProfile
) -> None:
    add_agent(zammad, "4", "emma.schulz@example.com", "Emma Schulz")
    add_agent(zammad, "8", "pat.temp@example.com", "Pat Temp")
    from apps.mappings.reference import match_users_by_email

    match_users_by_email(zammad, kimai)
    page = admin_client.get("/mappings/users/").content.decode()
    assert page.index("Pat Temp") < page.index("Emma Schulz")
    assert "no Kimai user" in page and "matched by e-mail" in page


def test_choosing_a_kimai_user_by_hand_answers_the_table(
    admin_client: Client, zammad: Connection, kimai: Connection, profile: MappingProfile
) -> None:
    add_agent(zammad, "8", "pat.temp@example.com", "Pat Temp")
    response = htmx_post(admin_client, "/mappings/users/8/", {"kimai_user": "1"})
    assert response.content.decode().lstrip().startswith('<div id="agents">')
    assert "chosen by hand" in response.content.decode()
    assert UserMapping.objects.get().method == "manual"


def test_the_fallback_policy_needs_a_user_and_says_so(
    admin_client: Client, profile: MappingProfile
) -> None:
    html = htmx_post(admin_client, "/mappings/users/policy/", {"unmapped_policy": "fallback"})
    assert "Choose the Kimai user who gets the entries of unmapped agents." in (
        html.content.decode()
    )
    htmx_post(admin_client, "/mappings/users/policy/",
              {"unmapped_policy": "fallback", "fallback_user": "2"})  # fmt: skip
    profile.refresh_from_db()
    assert (profile.unmapped_policy, profile.fallback_user.username) == ("fallback", "emma")  # type: ignore[union-attr]


def test_the_activity_page_maps_a_type(
    admin_client: Client, profile: MappingProfile, zammad_reference: object
) -> None:
    page = admin_client.get("/mappings/activities/").content.decode()
    assert "same name" in page and "no activity type" in page
    response = htmx_post(admin_client, "/mappings/activities/set/",
                         {"zammad_type": "4", "kimai_activity": "4"})  # fmt: skip
    assert response.content.decode().lstrip().startswith('<div id="activity-table">')
    assert ActivityMapping.objects.get().kimai_activity_id == "4"


def test_the_settings_panel_shows_on_the_settings_page_and_saves(
    admin_client: Client, profile: MappingProfile
) -> None:
    page = admin_client.get("/settings/").content.decode()
    assert "Mappings: time, description and tags" in page
    response = htmx_post(admin_client, "/mappings/settings/", {
        "booking_instant": "start", "rounding_minutes": "15", "minimum_minutes": "15",
        "default_time_zone": "Europe/Berlin", "description_template": "{ticket_title}",
        "fixed_tags": "zammad, support", "billable_tags": "on", "billable_tag": "billable",
        "not_billable_tag": "internal",
    })  # fmt: skip
    assert "Saved." in response.content.decode()
    profile.refresh_from_db()
    assert (profile.booking_instant, profile.rounding_minutes, profile.fixed_tags) == (
        "start", 15, ["zammad", "support"],
    )  # fmt: skip


def test_bad_settings_are_refused_field_by_field(
    admin_client: Client, profile: MappingProfile
) -> None:
    response = htmx_post(admin_client, "/mappings/settings/", {
        "booking_instant": "end", "rounding_minutes": "-5", "default_time_zone": "Mars/Olympus",
        "description_template": "{customer_email}", "billable_tags": "on",
        "billable_tag": "billable", "not_billable_tag": "not billable",
    })  # fmt: skip
    html = response.content.decode()
    assert "Nothing was saved" in html
    assert "is not a time zone" in html and "unknown placeholder {customer_email}" in html
    profile.refresh_from_db()
    assert profile.default_time_zone == "UTC"
