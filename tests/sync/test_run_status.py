"""A run's status and counts say what happened to its writes: written, refused, uncertain, failed;
shown on the run page, the run list, the dashboard and in the API; the next run settles what was
left uncertain and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from apps.sync.models import Link, Run, WriteIntent
from tests.doubles.base import Fault, RecordedRequest
from tests.sync.world import World

EMMA, SUPPORT = 4, 1
BOOKED = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


class MarkerSearchFault(Fault):
    """A fault on Kimai's marker searches only (GET /api/timesheets?term=...)."""

    def matches(self, request: RecordedRequest) -> bool:
        return super().matches(request) and request.param("term") is not None


def book(world: World, count: int) -> list[str]:
    ticket = next(t for t in world.dataset.tickets if t.organization_id == 1)
    zammad = world.served.zammad
    return [
        str(zammad.book_time(ticket.zammad_id, EMMA, Decimal(15), type_id=SUPPORT,
                             at=BOOKED + timedelta(hours=i)).id)
        for i in range(count)
    ]  # fmt: skip


def without_retries(world: World) -> None:
    """One attempt per request, so a 429 is a failed write at once (no waiting in tests)."""
    world.kimai.settings = {"http": {"max_attempts": 1}}
    world.kimai.save()


def sync(world: World) -> Run:
    return world.run(start=BOOKED - timedelta(days=1), end=BOOKED + timedelta(days=1))


@pytest.mark.django_db
def test_a_run_whose_creates_all_hit_429_ends_failed_and_says_so(
    empty_world: World, admin_client: Client, api_client: Client
) -> None:
    without_retries(empty_world)
    book(empty_world, 3)
    empty_world.kimai_double.inject(
        Fault("rate_limit", method="POST", path_prefix="/api/timesheets", times=3)
    )
    run = sync(empty_world)
    assert run.status == Run.Status.FAILED
    assert run.results == {"written": 0, "refused": 0, "uncertain": 0, "failed": 3}
    assert "3 failed (not written; the next run tries again)" in run.error
    page = admin_client.get(f"/sync/runs/{run.pk}/").content.decode()
    assert "Failed" in page and "3 failed" in page
    assert ">failed</span>" in admin_client.get("/sync/").content.decode()
    assert "3 failed" in admin_client.get("/").content.decode()
    body = api_client.get(f"/api/v1/sync/runs/{run.pk}").json()
    assert (body["status"], body["results"]["failed"]) == ("failed", 3)


@pytest.mark.django_db
def test_a_run_with_a_refusal_among_writes_is_partial(empty_world: World) -> None:
    book(empty_world, 2)
    empty_world.kimai_double.inject(
        Fault("error_before_commit", method="POST", path_prefix="/api/timesheets", status=400)
    )
    run = sync(empty_world)
    assert run.status == Run.Status.PARTIAL
    assert run.results == {"written": 1, "refused": 1, "uncertain": 0, "failed": 0}


@pytest.mark.django_db
def test_an_uncertain_write_is_settled_by_the_next_run_which_says_so(
    empty_world: World, admin_client: Client
) -> None:
    kimai = empty_world.kimai_double
    without_retries(empty_world)
    first_entry, _second = book(empty_world, 2)
    # The first POST is saved by Kimai but answered 503, and Kimai cannot be searched then.
    kimai.inject(
        Fault("error_after_commit", method="POST", path_prefix="/api/timesheets", status=503)
    )
    kimai.inject(
        MarkerSearchFault("error_before_commit", method="GET", path_prefix="/api/timesheets",
                          status=503, times=10)
    )  # fmt: skip
    first = sync(empty_world)
    assert first.status == Run.Status.PARTIAL
    assert (first.results["written"], first.results["uncertain"]) == (1, 1)
    kimai.faults.clear()
    second = sync(empty_world)
    assert second.status == Run.Status.SUCCEEDED, second.error
    assert (second.results["settled_applied"], second.results["settled_not_applied"]) == (1, 0)
    assert Link.objects.get(source_id=first_entry).origin == Link.Origin.CREATED
    assert len(kimai.all_timesheets()) == 2  # the uncertain one was found, not sent again
    settled = WriteIntent.objects.get(run=first, settled_by__isnull=False)
    assert (settled.state, settled.settled_by_id) == ("done", second.pk)
    assert (
        "Settled 1 write(s) an earlier run left uncertain"
        in admin_client.get(f"/sync/runs/{second.pk}/").content.decode()
    )
    assert (
        f"settled by run {second.pk}"
        in admin_client.get(f"/sync/runs/{first.pk}/").content.decode()
    )
