"""The "try it" preview reading real entries from the Zammad double on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.connectors.models import Connection
from apps.gdpr.models import Person
from apps.mappings.lookups import PreviewUnavailable
from apps.mappings.models import MappingProfile, ReferenceSnapshot
from apps.mappings.reference import refresh_reference
from apps.mappings.services import preview_from_zammad
from tests.mappings.conftest import add_rule
from tests.support.servers import Served, served_doubles


@pytest.fixture
def served(db: None) -> Iterator[tuple[Served, MappingProfile]]:
    with served_doubles() as servers:
        zammad = Connection.objects.create(
            kind="zammad", name="Zammad", base_url=servers.zammad_url,
            token=servers.dataset.zammad_token,
        )  # fmt: skip
        kimai = Connection.objects.create(
            kind="kimai", name="Kimai", base_url=servers.kimai_url,
            token=servers.dataset.kimai_token,
        )  # fmt: skip
        refresh_reference(kimai)
        yield servers, MappingProfile.objects.create(source=zammad, target=kimai)


def _project(name: str, profile: MappingProfile) -> str:
    snapshot = ReferenceSnapshot.objects.get(connection=profile.target)
    return next(str(p["id"]) for p in snapshot.projects if p["name"] == name)


def test_it_previews_every_entry_of_a_ticket_by_its_number(
    served: tuple[Served, MappingProfile],
) -> None:
    servers, profile = served
    add_rule(profile, project_id=_project("Support 2026", profile))
    ticket = servers.dataset.tickets[0]
    preview = preview_from_zammad(profile.source, profile.target, ticket_number=ticket.number)
    booked = sorted(str(e.zammad_id) for e in servers.dataset.entries
                    if e.ticket_id == ticket.zammad_id)  # fmt: skip
    assert sorted(entry.external_id for entry, _ in preview.plans) == booked
    assert all(entry.ticket and entry.ticket.number == ticket.number for entry, _ in preview.plans)
    agents = Person.objects.filter(connection=profile.source, kind=Person.Kind.AGENT)
    assert agents.exists()  # the preview remembers the agents it saw


def test_it_previews_one_time_accounting_by_its_id(
    served: tuple[Served, MappingProfile],
) -> None:
    servers, profile = served
    add_rule(profile, project_id=_project("Support 2026", profile))
    wanted = servers.dataset.entries[5]
    preview = preview_from_zammad(
        profile.source, profile.target, accounting_id=str(wanted.zammad_id)
    )
    [(entry, plan)] = preview.plans
    assert entry.external_id == str(wanted.zammad_id)
    assert plan.marker == f"zks-{profile.source_id}-{wanted.zammad_id}-z"


def test_group_conditions_see_the_ticket_group(served: tuple[Served, MappingProfile]) -> None:
    servers, profile = served
    ticket = servers.dataset.tickets[1]
    add_rule(profile, name="Group", group_ids=[str(ticket.group_id)],
             project_id=_project("Managed Service", profile))  # fmt: skip
    preview = preview_from_zammad(profile.source, profile.target, ticket_number=ticket.number)
    assert {plan.rule_id for _, plan in preview.plans} == {profile.rules.get().pk}
    groups = ReferenceSnapshot.objects.get(connection=profile.source).groups
    assert {"id": str(ticket.group_id), "name": "2nd Level"} in groups


def test_tag_conditions_see_the_ticket_tags(served: tuple[Served, MappingProfile]) -> None:
    servers, profile = served
    rule = add_rule(profile, tag_pattern="^vip$", project_id=_project("Support 2026", profile))
    vip, plain = servers.dataset.tickets[0], servers.dataset.tickets[1]
    assert vip.tags == ("vip",) and plain.tags == ()
    preview = preview_from_zammad(profile.source, profile.target, ticket_number=vip.number)
    assert {plan.rule_id for _, plan in preview.plans} == {rule.pk}
    preview = preview_from_zammad(profile.source, profile.target, ticket_number=plain.number)
    assert {plan.rule_id for _, plan in preview.plans} == {None}
    assert all("no_matching_rule" in {p.kind for p in plan.problems} for _, plan in preview.plans)


@pytest.mark.parametrize(
    ("lookup", "words"),
    [
        ({"ticket_number": "99999"}, "Zammad has no ticket #99999"),
        ({"accounting_id": "999999"}, "Zammad has no time accounting 999999"),
        ({"accounting_id": "abc"}, "A time accounting id is a number"),
    ],
)
def test_it_says_plainly_what_it_could_not_find(
    served: tuple[Served, MappingProfile], lookup: dict[str, str], words: str
) -> None:
    _, profile = served
    with pytest.raises(PreviewUnavailable, match=words):
        preview_from_zammad(profile.source, profile.target, **lookup)
