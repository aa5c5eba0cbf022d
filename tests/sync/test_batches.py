"""A window is synced a batch at a time: Kimai is written while Zammad is still being read, and
the outcome is the one a single pass would give (each entry once, deletions found, copies
typed by hand adopted once)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from apps.connectors.zammad.connector import ZammadConnector
from apps.sync import batches
from apps.sync.models import Conflict, Link, Run
from tests.sync.world import World


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(batches, "BATCH_ENTRIES", 10)
    return 10


def _marker_counts(world: World) -> Counter[str]:
    counts: Counter[str] = Counter()
    for sheet in world.kimai_double.all_timesheets():
        marker = batches.parse_marker(sheet.description or "")
        if marker is not None:
            counts[marker[1]] += 1
    return counts


@pytest.mark.django_db
def test_it_writes_to_kimai_before_the_last_zammad_page_is_read(
    world: World, small_batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts_when_read: list[int] = []
    reading = ZammadConnector.fetch_entries_in_window

    def counting(self: ZammadConnector, *args: object) -> Iterator[object]:
        for entry in reading(self, *args):  # type: ignore[arg-type]
            posts_when_read.append(len(world.kimai_double.requests_to("POST", "/api/timesheets")))
            yield entry

    monkeypatch.setattr(ZammadConnector, "fetch_entries_in_window", counting)
    run = world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert len(posts_when_read) == run.total
    assert posts_when_read[0] == 0 and posts_when_read[-1] > 0


@pytest.mark.django_db
def test_it_books_each_entry_once_in_small_batches(world: World, small_batches: int) -> None:
    run = world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    markers = _marker_counts(world)
    assert set(markers.values()) == {1}
    assert len(markers) == run.counts["create"]
    assert Link.objects.filter(origin=Link.Origin.ADOPTED).count() == 1
    assert Conflict.objects.filter(kind="duration_mismatch").count() == 1
    again = world.run()
    assert world.kimai_writes().count("POST /api/timesheets") == run.counts["create"]
    assert set(again.counts) == {"in_sync", "conflict"}


@pytest.mark.django_db
def test_it_counts_and_totals_a_run_over_all_its_batches(world: World) -> None:
    whole = world.run(dry_run=True)
    engine_batch = batches.BATCH_ENTRIES
    try:
        batches.BATCH_ENTRIES = 7
        batched = world.run(dry_run=True, start=whole.window_start, end=whole.window_end)
    finally:
        batches.BATCH_ENTRIES = engine_batch
    assert (batched.counts, batched.hours, batched.total) == (
        whole.counts,
        whole.hours,
        whole.total,
    )


@pytest.mark.django_db
def test_it_finds_an_entry_deleted_in_zammad_in_small_batches(
    world: World, small_batches: int
) -> None:
    world.run()
    link = Link.objects.filter(origin=Link.Origin.CREATED).order_by("booked_at").first()
    assert link is not None
    world.served.zammad.delete_time(int(link.source_id))
    run = world.run()
    conflict = Conflict.objects.get(kind="source_deleted")
    assert (conflict.source_id, conflict.kimai_id) == (link.source_id, link.kimai_id)
    assert run.counts.get("conflict", 0) >= 1
