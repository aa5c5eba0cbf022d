"""An incremental run with nothing new costs one request to Zammad and none to Kimai."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.mappings.models import ReferenceSnapshot
from apps.sync.models import Run, RunItem
from tests.sync.world import NOW, World


def _requests_of_next_incremental(world: World) -> tuple[Run, list[str]]:
    world.served.zammad.requests.clear()
    world.kimai_double.requests.clear()
    run = world.run(scope=Run.Scope.INCREMENTAL)
    sent = [*world.served.zammad.requests, *world.kimai_double.requests]
    return run, [f"{r.method} {r.path}" for r in sent]


@pytest.mark.django_db
def test_it_reads_one_zammad_page_and_nothing_from_kimai_when_nothing_changed(
    world: World,
) -> None:
    world.run()
    # The schedule runs every 15 minutes, so Kimai's reference data is always stale by then.
    ReferenceSnapshot.objects.update(fetched_at=NOW - timedelta(hours=1))
    run, sent = _requests_of_next_incremental(world)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert sent == ["GET /api/v1/time_accountings"]
    assert run.requests_made == 1


@pytest.mark.django_db
def test_it_does_not_look_up_a_not_bookable_entry_again_on_every_idle_run(world: World) -> None:
    ticket = world.dataset.entries[0].ticket_id
    world.served.zammad.book_time(
        ticket, 3, Decimal("-5"), type_id=1, at=NOW - timedelta(minutes=1)
    )
    first = world.run()
    assert first.counts.get("skip") == 1
    for _ in range(2):
        run, sent = _requests_of_next_incremental(world)
        assert sent == ["GET /api/v1/time_accountings"]
        assert run.counts == {}


@pytest.mark.django_db
def test_it_reads_a_not_bookable_entry_again_once_it_is_edited(world: World) -> None:
    ticket = world.dataset.entries[0].ticket_id
    entry = world.served.zammad.book_time(
        ticket, 3, Decimal("0"), type_id=1, at=NOW - timedelta(minutes=1)
    )
    world.run()
    world.served.zammad.edit_time(entry.id, time_unit=Decimal("15"), at=NOW)
    run = world.run(scope=Run.Scope.INCREMENTAL)
    assert run.counts == {"create": 1}
    assert RunItem.objects.get(run=run).source_id == str(entry.id)
