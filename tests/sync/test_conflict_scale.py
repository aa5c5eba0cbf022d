"""10,000 open conflicts: every conflict page and API list costs the same few queries."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.gdpr.models import Person
from apps.mappings.models import MappingProfile
from apps.sync.models import Conflict
from tests.support.scale import add_conflicts, queries_of, scale_pair

MAX_QUERIES = 12


@pytest.fixture
def profile(db: None) -> MappingProfile:
    return scale_pair()


def _measure(admin_client: Client, api_client: Client, conflict_id: int) -> dict[str, int]:
    agent = Person.objects.filter(kind="agent").first()
    assert agent is not None
    return {
        "list": queries_of(lambda: admin_client.get("/sync/conflicts/")),
        "list, page 3": queries_of(lambda: admin_client.get("/sync/conflicts/?page=3")),
        "list by kind and agent": queries_of(
            lambda: admin_client.get(f"/sync/conflicts/?kind=ambiguous_match&agent={agent.pk}")
        ),
        "list fragment": queries_of(
            lambda: admin_client.get(
                "/sync/conflicts/?page=2",
                headers={"HX-Request": "true", "HX-Target": "conflict-list"},
            )
        ),
        "conflict": queries_of(lambda: admin_client.get(f"/sync/conflicts/{conflict_id}/")),
        "API list": queries_of(lambda: api_client.get("/api/v1/conflicts?limit=100")),
        "API conflict": queries_of(lambda: api_client.get(f"/api/v1/conflicts/{conflict_id}")),
    }


@pytest.mark.django_db
def test_the_conflict_pages_cost_the_same_queries_for_10000_conflicts(
    admin_client: Client, api_client: Client, profile: MappingProfile
) -> None:
    add_conflicts(profile, 0, 60)
    ambiguous = Conflict.objects.filter(kind="ambiguous_match").first()
    assert ambiguous is not None
    api_client.get("/api/v1/conflicts?limit=1")  # the key's first use is recorded once
    few = _measure(admin_client, api_client, ambiguous.pk)
    add_conflicts(profile, 60, 10_000 - 60)
    assert Conflict.objects.filter(status="open").count() == 10_000
    many = _measure(admin_client, api_client, ambiguous.pk)
    print(f"queries with 60 and 10,000 open conflicts: {few} / {many}")
    assert many == few
    assert max(many.values()) <= MAX_QUERIES


@pytest.mark.django_db
def test_the_last_page_of_10000_conflicts_shows_the_oldest(
    admin_client: Client, profile: MappingProfile
) -> None:
    add_conflicts(profile, 0, 10_000)
    html = admin_client.get("/sync/conflicts/?page=500").content.decode()
    assert "Page 500 of 500" in html
    assert html.count('class="conflict-card"') == 20
    assert "<strong>10,000</strong> open" in html  # thousands grouped
