"""Exactly once under the failures of reliability.md: 5xx before and after Kimai committed, a
timeout after it committed, a crash at each step, concurrent runs on one ticket."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connectors.base import TimesheetDraft
from apps.mappings.engine import MappingContext, plan_timesheet
from apps.sync.models import Link, Run, WriteIntent
from apps.sync.services import coalesce_key
from tests.doubles.base import Fault
from tests.support.processes import child_env, start_manage, url_for_test_database, wait_for
from tests.sync.world import World, assert_one_timesheet_per_entry

HORIZON_SECONDS = 2.0  # the kill test's Kimai timeouts: 0.5 + 0.5 + 1.0


def _post_timesheets(world: World) -> int:
    return len(world.kimai_double.requests_to("POST", "/api/timesheets"))


@pytest.fixture
def world(fault_world: World) -> World:
    """Every test here runs with 1, 4 and 16 requests at once, writing on threads (and with a
    Jira source at 4)."""
    return fault_world


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_after_kimai_committed_is_verified_and_adopted(world: World, status: int) -> None:
    world.kimai_double.inject(
        Fault("error_after_commit", "POST", "/api/timesheets", status=status, times=3)
    )
    run = world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert_one_timesheet_per_entry(world)
    assert not WriteIntent.objects.filter(state__in=WriteIntent.OPEN_STATES).exists()


@pytest.mark.django_db(transaction=True)
def test_a_5xx_before_kimai_committed_is_sent_again_after_checking(world: World) -> None:
    world.kimai_double.inject(Fault("error_before_commit", "POST", "/api/timesheets", times=2))
    world.run()
    assert_one_timesheet_per_entry(world)
    searches = world.kimai_double.requests_to("GET", "/api/timesheets")
    assert any(r.param("term") for r in searches), "the marker was searched before sending again"


@pytest.mark.django_db(transaction=True)
def test_a_timeout_after_kimai_committed_leaves_one_timesheet(world: World) -> None:
    world.tune_kimai_http(read_timeout_seconds=0.5)
    world.kimai_double.inject(
        Fault("timeout_after_commit", "POST", "/api/timesheets", times=2, timeout_seconds=1.0)
    )
    run = world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert_one_timesheet_per_entry(world)


@pytest.mark.django_db(transaction=True)
def test_a_kimai_outage_loses_nothing_and_the_next_run_catches_up(world: World) -> None:
    world.kimai_double.inject(Fault("error_before_commit", "POST", "/api/timesheets", times=10_000))
    first = world.run()
    assert first.counts.get("create", 0) > 0
    assert not Link.objects.filter(origin=Link.Origin.CREATED).exists()
    world.kimai_double.faults.clear()
    second = world.run()
    assert second.counts.get("create") == first.counts["create"]
    assert_one_timesheet_per_entry(world)


def _first_bookable(world: World) -> tuple[object, TimesheetDraft, str]:
    """A Zammad entry that will be created, with its planned draft and marker."""
    context = MappingContext.load(world.zammad, world.kimai)
    with world.zammad.connector() as source:
        start, end = world.window()
        for entry in source.fetch_entries_in_window(start, end):  # type: ignore[attr-defined]
            plan = plan_timesheet(entry, context)
            if plan.draft is not None and plan.bookable:
                return entry, plan.draft, plan.marker
    raise AssertionError("no bookable entry")


@pytest.mark.django_db(transaction=True)
def test_a_crash_after_recording_the_intent_and_before_sending_is_recovered(
    world: World,
) -> None:
    entry, _draft, marker = _first_bookable(world)
    intent = WriteIntent.objects.create(
        profile=world.profile, source_id=entry.external_id,  # type: ignore[attr-defined]
        operation="create", marker=marker,
    )  # fmt: skip
    # The crash was a while ago: no request it might have sent can still arrive.
    WriteIntent.objects.filter(pk=intent.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    world.run()
    assert_one_timesheet_per_entry(world)
    assert WriteIntent.objects.get(marker=marker, state="abandoned")


@pytest.mark.django_db(transaction=True)
def test_a_crash_after_kimai_committed_and_before_our_commit_is_recovered(world: World) -> None:
    entry, draft, marker = _first_bookable(world)
    WriteIntent.objects.create(
        profile=world.profile, source_id=entry.external_id,  # type: ignore[attr-defined]
        operation="create", marker=marker,
    )  # fmt: skip
    with world.kimai.connector() as target:  # the POST that reached Kimai before the crash
        target.create_timesheet(draft)  # type: ignore[attr-defined]
    posts_before = _post_timesheets(world)
    world.run()
    assert_one_timesheet_per_entry(world)
    link = Link.objects.get(source_id=entry.external_id)  # type: ignore[attr-defined]
    assert WriteIntent.objects.get(marker=marker).state == "done"
    assert link.marker == marker
    # every other entry was posted once; this one was not posted again
    assert (
        _post_timesheets(world) - posts_before
        == Link.objects.filter(origin=Link.Origin.CREATED).count() - 1
    )


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_runs_on_one_ticket_post_each_entry_once(world: World) -> None:
    ticket_id = world.busiest_ticket()
    runs = [
        Run.objects.create(
            profile=world.profile, trigger=Run.Trigger.WEBHOOK, actor="webhook",
            scope=Run.Scope.TICKET, ticket_id=ticket_id,
            coalesce_key=coalesce_key("ticket", False, None, None, ticket_id) + f":{i}",
        )
        for i in range(8)
    ]  # fmt: skip
    world.kimai_double.latency = 0.01
    from apps.sync.engine import execute_run

    def run(run_id: int) -> None:
        from django.db import connection

        try:
            execute_run(run_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(r.pk,)) for r in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = Counter(
        Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True)
    )
    assert statuses == {"succeeded": 8}
    assert_one_timesheet_per_entry(world)
    posts = world.kimai_double.requests_to("POST", "/api/timesheets")
    assert len(posts) == Link.objects.filter(origin=Link.Origin.CREATED).count()


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_run_leaves_nothing_doubled_after_the_next_run(
    world: World, tmp_path: object
) -> None:
    world.tune_kimai_http(
        connect_timeout_seconds=0.5, read_timeout_seconds=1.0, write_timeout_seconds=0.5
    )
    world.kimai_double.latency = 0.2  # ~90 creates take seconds: long enough to kill it mid-run
    start, end = world.window()
    env = child_env(DATABASE_URL=url_for_test_database())
    log = tmp_path / "sync.log"  # type: ignore[operator]
    args = ["sync", "--window", f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}"]
    # Killed after a few writes of its own (counted, not timed: at 16 at once a whole run
    # takes about a second), while more are in flight.
    for writes_first in (3, 6):
        runs_before = set(Run.objects.values_list("pk", flat=True))
        process = start_manage(args, env, log)

        def running(before: set[int] = runs_before) -> bool:
            return Run.objects.exclude(pk__in=before).filter(status="running").exists()

        # Kill it only once its own run is under way and writing: then it dies mid-run.
        wait_for(running, 30, "this process's run to start")
        posted = _post_timesheets(world)

        def wrote(before: int = posted + writes_first) -> bool:
            return _post_timesheets(world) >= before

        wait_for(wrote, 30, "a few writes of this run")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    killed_posts = _post_timesheets(world)
    assert killed_posts > 0
    world.kimai_double.latency = 0
    # Requests the killed process had in flight may land after we look: intents younger than
    # the request timeouts stay open for one run, and the next run settles them.
    world.run()
    time.sleep(HORIZON_SECONDS + 0.5)
    final = world.run()
    assert final.status == Run.Status.SUCCEEDED, final.error
    assert_one_timesheet_per_entry(world)
    interrupted = Run.objects.filter(status=Run.Status.INTERRUPTED, error__startswith="Interrupted")
    assert interrupted.count() == 2
    assert sys.platform.startswith("linux")
