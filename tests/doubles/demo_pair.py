"""The demo's Zammad → Kimai pair: connections to the doubles, reference data, rules, mappings.

Shared by the sync tests' world (tests/sync/world.py) and the demo (`make demo`, the Compose
``demo`` profile), so a visitor sees the setup the tests prove. Rules and mappings are found by
the names in the demo data set (tests/doubles/dataset.py), never by ids.

The pair is left where a new admin would be after an hour: both connections tested, data
refreshed, rules in place; one Zammad activity type (“Onsite”) and the temp agent without a
match, a plan to make and confirm, and the schedule as new pairs start.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.connectors.models import Connection
from apps.mappings.catalog import Catalog
from apps.mappings.models import ActivityMapping, MappingProfile, Rule
from apps.mappings.rules import RuleSpec


@dataclass(frozen=True)
class DemoRule:
    name: str
    organization_ids: tuple[str, ...] = ()
    project: str = ""  # a Kimai project by name; empty: one per organization
    activity: tuple[str, str | None] | None = None  # (Kimai activity, its project or None)


DEMO_RULES = [
    DemoRule("Awesome", ("1",), "Support 2026"),
    DemoRule("Globex", ("2",), "Managed Service"),
    DemoRule("Initech", ("3",), "Retainer", ("Retainer support", "Retainer")),
    DemoRule("Umbrella", ("4",)),
    DemoRule("Everything else", (), "Internal Helpdesk", ("Internal work", None)),
]
# Zammad activity type id ("" for none) → Kimai activity name; "Onsite" (4) is left to map.
DEMO_ACTIVITY_MAPPINGS = {"1": "Support", "2": "Consulting", "3": "Development", "": "Support"}


def _project_id(catalog: Catalog, name: str) -> str:
    return next(p.id for p in catalog.projects.values() if p.name == name)


def _activity_id(catalog: Catalog, name: str, project: str | None) -> str:
    project_id = _project_id(catalog, project) if project else None
    found = catalog.activity_named(name, project_id)
    if found is None:
        raise LookupError(f"the demo Kimai has no activity {name!r}")
    return found.id


def add_demo_rules(profile: MappingProfile, catalog: Catalog) -> None:
    """The demo's rules and activity mappings, looked up by name in the cached Kimai data."""
    for position, rule in enumerate(DEMO_RULES, start=1):
        if rule.project:
            spec = RuleSpec(
                name=rule.name, organization_ids=list(rule.organization_ids),
                project_id=_project_id(catalog, rule.project),
                activity_id=_activity_id(catalog, *rule.activity) if rule.activity else "",
            )  # fmt: skip
        else:
            spec = RuleSpec(
                name=rule.name, organization_ids=list(rule.organization_ids),
                project_mode="per_organization", project_name_template="{organization} support",
            )  # fmt: skip
        Rule.objects.create(profile=profile, position=position, **spec.model_dump())
    for type_id, name in DEMO_ACTIVITY_MAPPINGS.items():
        ActivityMapping.objects.create(
            profile=profile, zammad_type_id=type_id,
            kimai_activity_id=_activity_id(catalog, name, None),
        )  # fmt: skip


def configure_demo_pair(
    zammad_url: str, kimai_url: str, zammad_token: str, kimai_token: str
) -> MappingProfile:
    """Create (once) the demo pair against the doubles at these addresses, as the pages would:
    connections saved only after their test passed, reference data refreshed, agents found."""
    from apps.connectors.services import ConnectionInput, save_connection
    from apps.mappings.reference import kimai_reference
    from apps.mappings.services import profile_for, refresh_pair

    existing = MappingProfile.objects.filter(
        source__name="Demo Zammad", target__name="Demo Kimai"
    ).first()
    if existing is not None:
        return existing
    zammad = Connection.objects.filter(name="Demo Zammad").first()
    if zammad is None:
        zammad, _ = save_connection(
            ConnectionInput(
                "zammad", "Demo Zammad", zammad_url, zammad_token, {"time_unit": "minute"}
            )
        )
    kimai = Connection.objects.filter(name="Demo Kimai").first()
    if kimai is None:
        kimai, _ = save_connection(ConnectionInput("kimai", "Demo Kimai", kimai_url, kimai_token))
    profile = profile_for(zammad, kimai)
    refresh_pair(zammad, kimai)
    reference, _snapshot = kimai_reference(kimai)
    add_demo_rules(profile, Catalog.build(reference))
    return profile
