"""A run of 100,000 entries: its page, every outcome tab, its fragments and the API cost the same
few queries as a run of 40, show one page of entries and the true totals."""

from __future__ import annotations

import re
from functools import partial

import pytest
from django.test import Client

from apps.mappings.models import MappingProfile
from apps.sync.models import Outcome, Run, RunItem
from tests.support.scale import add_run_items, finished_run, queries_of, scale_pair

MAX_QUERIES = 12
HTMX = {"HX-Request": "true"}


@pytest.fixture
def profile(db: None) -> MappingProfile:
    return scale_pair()


def _measure(admin_client: Client, api_client: Client, run: Run, last: int) -> dict[str, int]:
    url = f"/sync/runs/{run.pk}/"
    measured = {
        "page": queries_of(lambda: admin_client.get(url)),
        "last page": queries_of(lambda: admin_client.get(f"{url}?page={last}")),
        "entries fragment": queries_of(
            lambda: admin_client.get(f"{url}?page=2&fragment=entries", headers=HTMX)
        ),
        # A finished run answers the progress poll with 286: htmx stops polling.
        "run-body fragment": queries_of(
            lambda: admin_client.get(f"{url}?fragment=run-body", headers=HTMX), status=286
        ),
        "API": queries_of(lambda: api_client.get(f"/api/v1/sync/runs/{run.pk}?items_limit=100")),
        "API, offset": queries_of(
            lambda: api_client.get(f"/api/v1/sync/runs/{run.pk}?items_offset=20&items_limit=20")
        ),
        "runs list": queries_of(lambda: admin_client.get("/sync/")),
    }
    for outcome in Outcome.values:
        tab = f"{url}?outcome={outcome}"
        fragment = f"{tab}&page=2&fragment=entries"
        measured[outcome] = queries_of(partial(admin_client.get, tab))
        measured[f"{outcome}, page 2, fragment"] = queries_of(
            partial(admin_client.get, fragment, headers=HTMX)
        )
    return measured


@pytest.mark.django_db
def test_the_run_page_costs_the_same_queries_for_100000_entries(
    admin_client: Client, api_client: Client, profile: MappingProfile
) -> None:
    run = finished_run(profile, 40)
    api_client.get("/api/v1/sync/runs?limit=1")  # the key's first use is recorded once
    few = _measure(admin_client, api_client, run, last=2)
    add_run_items(run, 40, 100_000 - 40)
    assert RunItem.objects.filter(run=run).count() == 100_000
    many = _measure(admin_client, api_client, run, last=4000)
    print(f"queries with 40 and 100,000 run entries: {few} / {many}")
    assert many == few
    assert max(many.values()) <= MAX_QUERIES


def _next_link(html: str) -> str:
    found = re.search(r'<a href="([^"]+)" hx-get="[^"]+"[^>]*>Next →</a>', html)
    assert found, "no link to the next page"
    return found.group(1).replace("&amp;", "&")


@pytest.mark.django_db
def test_a_run_of_100000_entries_shows_one_page_and_the_true_totals(
    admin_client: Client, api_client: Client, profile: MappingProfile
) -> None:
    run = finished_run(profile, 100_000)
    stored = {o: RunItem.objects.filter(run=run, planned=o).count() for o in Outcome.values}
    html = admin_client.get(f"/sync/runs/{run.pk}/").content.decode()
    assert "<strong>100,000</strong> all" in html  # thousands grouped, as people read them
    for outcome, words, count in run.outcome_counts:
        assert count == stored[outcome]
        assert f"<strong>{count:,}</strong> {words}</a>" in html
    assert html.count('<td data-label="Zammad entry">') == 25
    assert "Page 1 of 4,000 · 100,000 entries" in html

    conflicts = admin_client.get(f"/sync/runs/{run.pk}/?outcome=conflict").content.decode()
    pages = (stored["conflict"] + 24) // 25
    assert f"Page 1 of {pages:,} · {stored['conflict']:,} entries" in conflicts
    second = admin_client.get(_next_link(conflicts)).content.decode()
    assert f"Page 2 of {pages:,} · {stored['conflict']:,} entries" in second
    assert second.count(">conflict</span>") == 25 and ">in sync</span>" not in second

    body = api_client.get(f"/api/v1/sync/runs/{run.pk}?items_offset=99990&items_limit=100").json()
    assert body["items_total"] == 100_000 and len(body["items"]) == 10
    assert body["counts"] == {outcome: n for outcome, n in stored.items() if n}
