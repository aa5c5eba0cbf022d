"""Refreshing the reference data of a large pair costs the same few queries as a small one:
150 agents, 200 organizations, 1,000 Kimai users and 1,000 projects, all upserted in bulk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import timezone

from apps.connectors.models import Connection
from apps.gdpr.models import Person
from apps.mappings.models import MappingProfile, ReferenceSnapshot, UserMapping
from apps.mappings.services import refresh_pair
from tests.doubles.reference_scale import Sizes, add_large_reference
from tests.support.servers import Served, served_doubles

AGENTS, KIMAI_USERS, KIMAI_PROJECTS = Sizes.agents, Sizes.kimai_users, Sizes.kimai_projects


@pytest.fixture
def large_pair(db: None) -> Iterator[tuple[Served, Connection, Connection]]:
    with served_doubles() as served:
        ticket = served.dataset.entries[0].ticket_id
        add_large_reference(served.zammad, served.kimai, ticket, timezone.now())
        zammad = Connection.objects.create(
            kind="zammad", name="Zammad", base_url=served.zammad_url,
            token=served.dataset.zammad_token,
        )  # fmt: skip
        kimai = Connection.objects.create(
            kind="kimai", name="Kimai", base_url=served.kimai_url, token=served.dataset.kimai_token
        )
        MappingProfile.objects.create(source=zammad, target=kimai)
        yield served, zammad, kimai


def test_it_refreshes_a_large_pair_in_a_bounded_number_of_queries(
    large_pair: tuple[Served, Connection, Connection],
    django_assert_max_num_queries: pytest.FixtureRequest,
) -> None:
    _served, zammad, kimai = large_pair
    # 30 measured: none per agent, organization, user or project.
    with django_assert_max_num_queries(30):  # type: ignore[operator]
        found, errors = refresh_pair(zammad, kimai)
    assert errors == []
    assert found >= AGENTS
    snapshot = ReferenceSnapshot.objects.get(connection=kimai)
    assert len(snapshot.projects) >= KIMAI_PROJECTS
    assert Person.objects.filter(connection=kimai).count() >= KIMAI_USERS
    mapped = UserMapping.objects.filter(agent__connection=zammad, agent__email__startswith="agent")
    assert mapped.count() == AGENTS  # each new agent matched to the Kimai user of its e-mail
