"""Hidden (retired) Kimai customers, projects and activities are never created a second time: the
entries wait as a conflict that names the record and says how to fix it in Kimai."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.mappings.reference import refresh_reference
from apps.sync.models import Conflict, Link, Run
from tests.sync.world import World, demo_world

UMBRELLA = 4  # Zammad organization without a Kimai customer; its rule makes one per organization


@pytest.fixture
def small_world(db: None) -> Iterator[World]:
    with demo_world(weeks=1) as built:
        yield built


def posts(world: World, path: str) -> int:
    return len(world.kimai_double.requests_to("POST", path))


def umbrella_entries(world: World) -> set[str]:
    tickets = {t.zammad_id for t in world.dataset.tickets if t.organization_id == UMBRELLA}
    return {str(e.zammad_id) for e in world.dataset.entries if e.ticket_id in tickets}


def test_a_hidden_customer_named_like_the_organization_is_not_created_again(
    small_world: World,
) -> None:
    double = small_world.kimai_double
    hidden = double.add_customer("Umbrella Health", visible=False)
    refresh_reference(small_world.kimai)
    run = small_world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert (posts(small_world, "/api/customers"), posts(small_world, "/api/projects")) == (0, 0)
    waiting = Conflict.objects.filter(kind=Conflict.Kind.HIDDEN_IN_KIMAI)
    umbrella = umbrella_entries(small_world)
    assert waiting.exists() and set(waiting.values_list("source_id", flat=True)) <= umbrella
    # Every Umbrella entry waits (some for an agent or an activity mapping first), none booked.
    assert set(Conflict.objects.values_list("source_id", flat=True)) >= umbrella
    assert not Link.objects.filter(source_id__in=umbrella).exists()
    reason = waiting.first().reason  # type: ignore[union-attr]
    assert f"Kimai customer “Umbrella Health” (#{hidden}), which is hidden in Kimai" in reason
    assert "edit “Umbrella Health” and tick “Visible”" in reason
    assert [c.name for c in double.customers.values()].count("Umbrella Health") == 1


def test_once_the_customer_is_visible_again_its_entries_book_below_it(small_world: World) -> None:
    double = small_world.kimai_double
    hidden = double.add_customer("Umbrella Health", visible=False)
    refresh_reference(small_world.kimai)
    small_world.run()
    double.customers[hidden].visible = True
    refresh_reference(small_world.kimai)
    small_world.run()
    assert posts(small_world, "/api/customers") == 0
    [project] = [p for p in double.projects.values() if p.name == "Umbrella Health support"]
    assert project.customer_id == hidden
    assert not Conflict.objects.filter(
        kind=Conflict.Kind.HIDDEN_IN_KIMAI, status=Conflict.Status.OPEN
    ).exists()


def test_a_project_hidden_after_the_data_was_read_is_refused_once_then_named(
    small_world: World,
) -> None:
    double = small_world.kimai_double
    support = double.project_id("Support 2026")
    double.projects[support].visible = False  # retired in Kimai after the last refresh
    first = small_world.run()
    refused = [r for r in double.refusals("/api/timesheets") if r.json["project"] == support]
    assert len(refused) == 1
    synced = [s for s in double.all_timesheets() if "zks-" in (s.description or "")]
    assert not [s for s in synced if s.project_id == support]
    waiting = Conflict.objects.filter(kind=Conflict.Kind.HIDDEN_IN_KIMAI, run=first)
    assert waiting.count() > 1
    assert all("Kimai project “Support 2026” is hidden" in c.reason for c in waiting)
    small_world.run()
    assert len(double.refusals("/api/timesheets")) == 1
