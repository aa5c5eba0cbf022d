"""A configured Jira → Kimai pair against the Jira and Kimai doubles, for sync tests.

The Jira double holds the demo team's worklogs (tests/doubles/jira/dataset.py: the same people
as the Kimai double's users, Sofia's e-mail hidden, Pat's account gone); Kimai holds the demo
customers, projects and activities and no timesheets. Rules are found by name: each customer's
Jira project category books on its Kimai project, Umbrella Health gets a project made for it,
everything else goes to Internal Helpdesk; issue types map to Kimai activities.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from apps.connectors.models import Connection
from apps.mappings.catalog import Catalog
from apps.mappings.models import ActivityMapping, MappingProfile, Rule
from apps.mappings.reference import kimai_reference, refresh_reference, snapshot_of
from apps.mappings.rules import RuleSpec
from tests.doubles.dataset import demo_dataset
from tests.doubles.jira import JiraDataset, JiraDouble, jira_dataset
from tests.doubles.jira import seed_from_dataset as seed_jira
from tests.doubles.jira.model import Flavour
from tests.doubles.zammad import ManualClock
from tests.support.servers import served_doubles
from tests.sync.world import NOW, World

# Jira project category → Kimai project (and activity); None: a project per organization.
CATEGORY_RULES: list[tuple[str, str | None, tuple[str, str | None] | None]] = [
    ("Awesome Customer Inc.", "Support 2026", None),
    ("Globex Corporation", "Managed Service", None),
    ("Initech", "Retainer", ("Retainer support", "Retainer")),
    ("Umbrella Health", None, None),
]
# Jira issue type → Kimai activity ("" for worklogs without a known type).
ISSUE_TYPE_ACTIVITIES = {
    "Task": "Support", "Bug": "Development", "Story": "Development", "Support Request": "Support",
    "Sub-task": "Support", "": "Support",
}  # fmt: skip


@dataclass
class JiraWorld(World):
    jira: JiraDouble
    jira_data: JiraDataset
    clock: ManualClock

    def window(self) -> tuple[datetime, datetime]:
        first = min(w.started for w in self.jira_data.worklogs)
        return first - timedelta(days=1), NOW + timedelta(days=1)

    def live_worklog_ids(self) -> set[str]:
        return {str(w) for w in self.jira.worklogs}

    def busiest_ticket(self) -> str:
        """The issue (id) with the most visible worklogs of people who have a Kimai user."""
        booked = [w.issue_key for w in self.jira_data.live_worklogs() if w.visibility is None
                  and not w.author_email.startswith(("pat.", "sofia."))]  # fmt: skip
        return self.jira.issue(Counter(booked).most_common(1)[0][0]).id


def configure_jira_pair(source: Connection, kimai: Connection) -> MappingProfile:
    """Rules by category name and activity mappings by issue-type name, as a person would set
    them up after refreshing both sides."""
    profile = MappingProfile.objects.create(source=source, target=kimai)
    refresh_reference(kimai)
    refresh_reference(source)
    reference, _snapshot = kimai_reference(kimai)
    catalog = Catalog.build(reference)
    jira = snapshot_of(source)
    assert jira is not None and not jira.last_error, jira and jira.last_error
    categories = {row["name"]: row["id"] for row in jira.customers}
    types = {row["name"]: row["id"] for row in jira.activities}

    def project(name: str) -> str:
        return next(p.id for p in catalog.projects.values() if p.name == name)

    def activity(name: str, on: str | None) -> str:
        found = catalog.activity_named(name, project(on) if on else None)
        assert found is not None, name
        return found.id

    specs = []
    for category, kimai_project, kimai_activity in CATEGORY_RULES:
        if kimai_project is None:
            specs.append(RuleSpec(
                name=category, organization_ids=[categories[category]],
                project_mode="per_organization", project_name_template="{organization} support",
            ))  # fmt: skip
            continue
        specs.append(RuleSpec(
            name=category, organization_ids=[categories[category]],
            project_id=project(kimai_project),
            activity_id=activity(*kimai_activity) if kimai_activity else "",
        ))  # fmt: skip
    specs.append(RuleSpec(name="Everything else", project_id=project("Internal Helpdesk"),
                          activity_id=activity("Internal work", None)))  # fmt: skip
    for position, spec in enumerate(specs, start=1):
        Rule.objects.create(profile=profile, position=position, **spec.model_dump())
    for type_name, activity_name in ISSUE_TYPE_ACTIVITIES.items():
        type_id = types.get(type_name, "") if type_name else ""
        if type_name and not type_id:
            continue  # no worklog on an issue of this type in the reference window
        ActivityMapping.objects.create(
            profile=profile, zammad_type_id=type_id,
            kimai_activity_id=activity(activity_name, None),
        )  # fmt: skip
    return profile


@contextmanager
def jira_world(weeks: int = 1, flavour: Flavour = "cloud") -> Iterator[JiraWorld]:
    """The Jira double (``flavour``) and the Kimai double served on loopback, and the pair."""
    kimai_data = demo_dataset(weeks=weeks, now=NOW)
    kimai_data.entries = []
    kimai_data.kimai_manual_timesheets = []
    data = jira_dataset(weeks=weeks, now=NOW)
    clock = ManualClock(NOW)
    jira = JiraDouble(flavour, now=clock)
    seed_jira(jira, data)
    with served_doubles(kimai_data) as served, jira.serve() as jira_url:
        served.kimai.set_now(NOW)
        if flavour == "cloud":
            token, settings = data.api_token, {"deployment": "cloud", "email": data.sync_email}
        else:
            token, settings = data.personal_access_token, {"deployment": "datacenter"}
        source = Connection.objects.create(
            kind="jira", name="Jira", base_url=jira_url, token=token, settings=settings
        )
        kimai = Connection.objects.create(
            kind="kimai", name="Kimai", base_url=served.kimai_url, token=kimai_data.kimai_token
        )
        profile = configure_jira_pair(source, kimai)
        yield JiraWorld(served, source, kimai, profile, jira, data, clock)
