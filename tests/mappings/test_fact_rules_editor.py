"""The rule editor offers the conditions the pair's source provides, in its words: a Jira pair
has projects, components and labels but no ticket customer; a Zammad pair is as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from apps.mappings.models import Rule
from tests.sync.jira_world import JiraWorld, jira_world

HTMX = {"HX-Request": "true"}


@pytest.fixture
def jworld(db: None) -> Iterator[JiraWorld]:
    with jira_world(weeks=1) as built:
        yield built


def _new_rule_form(client: Client, world: JiraWorld) -> str:
    query = f"source={world.zammad.pk}&target={world.kimai.pk}"
    return client.get(f"/mappings/rules/new/?{query}", headers=HTMX).content.decode()


@pytest.mark.django_db
def test_a_jira_pair_offers_jira_projects_components_issue_types_and_labels(
    admin_client: Client, jworld: JiraWorld
) -> None:
    html = _new_rule_form(admin_client, jworld)
    awe = jworld.jira.projects["AWE"]
    assert "<legend>Jira project</legend>" in html
    assert f'name="project_ids" value="{awe.id}"> AWE Awesome Support</label>' in html
    assert "<legend>Jira component</legend>" in html
    assert "<legend>Jira issue type</legend>" in html
    assert "<legend>Jira project category</legend>" in html
    assert "An issue label matches" in html and "Issue summary matches" in html
    assert "Ticket customer" not in html


@pytest.mark.django_db
def test_a_rule_on_a_jira_project_is_saved_from_the_editor(
    admin_client: Client, jworld: JiraWorld
) -> None:
    glx = jworld.jira.projects["GLX"]
    project = next(
        p for p in jworld.kimai_double.projects.values() if p.name == "Internal Helpdesk"
    )
    query = f"source={jworld.zammad.pk}&target={jworld.kimai.pk}"
    response = admin_client.post(
        f"/mappings/rules/new/?{query}",
        {"name": "Globex", "project_ids": [glx.id], "project_mode": "fixed",
         "project_id": str(project.id), "billable": "default"},
        headers=HTMX,
    )  # fmt: skip
    assert response.status_code == 200, response.content.decode()[:500]
    rule = Rule.objects.get(profile=jworld.profile, name="Globex")
    assert rule.project_ids == [glx.id]
    assert "project is GLX Globex Managed Service" in response.content.decode()
