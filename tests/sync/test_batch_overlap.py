"""A batch's last writes are still being sent while the next batch is read and planned; what Kimai
ends up with is what one batch at a time gives. Real commits, the doubles over loopback: each
test watches what reaches the Kimai double while other requests are still in progress there."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from apps.connectors.testkit.double import RecordedRequest, Reply
from apps.sync import batches
from apps.sync.models import Link, Run, RunItem, WriteIntent
from tests.support.concurrency import fixed_concurrency
from tests.sync.world import World, assert_one_timesheet_per_entry


@dataclass
class Watch:
    """At each read of a window of Kimai's timesheets: the writes the double was still busy
    with (received, not answered yet), by method."""

    busy: Counter[str] = field(default_factory=Counter)
    at_reads: list[Counter[str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(batches, "BATCH_ENTRIES", 10)
    return 10


@pytest.fixture
def watch(tx_world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    double = tx_world.kimai_double
    dispatch = double.dispatch
    seen = Watch()

    def watched(request: RecordedRequest) -> Reply:
        writes = request.method in ("POST", "PATCH", "DELETE")
        is_window_read = request.method == "GET" and "begin" in request.query
        with seen.lock:
            if is_window_read:
                seen.at_reads.append(Counter(seen.busy))
            if writes:
                seen.busy[request.method] += 1
        try:
            return dispatch(request)
        finally:
            if writes:
                with seen.lock:
                    seen.busy[request.method] -= 1

    monkeypatch.setattr(double, "dispatch", watched)
    tx_world.tune_kimai_http(**fixed_concurrency(4))
    double.latency = 0.02  # writes take long enough to still be on their way
    yield seen


def _no_open_intents() -> bool:
    return not WriteIntent.objects.filter(state__in=WriteIntent.OPEN_STATES).exists()


@pytest.mark.django_db(transaction=True)
def test_kimai_is_read_for_the_next_batch_while_the_last_creates_are_sent(
    tx_world: World, watch: Watch, small_batches: int
) -> None:
    run = tx_world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert any(busy["POST"] for busy in watch.at_reads), watch.at_reads
    # Each entry once, every write settled and recorded, as one batch at a time would.
    assert_one_timesheet_per_entry(tx_world)
    posts = len(tx_world.kimai_double.requests_to("POST", "/api/timesheets"))
    assert run.results["written"] == run.counts["create"] == posts
    assert RunItem.objects.filter(run=run).count() == run.total == run.done
    assert _no_open_intents()


@pytest.mark.django_db(transaction=True)
def test_updates_on_their_way_are_answered_before_kimai_is_read_again(
    tx_world: World, watch: Watch, small_batches: int
) -> None:
    tx_world.run()
    edited = list(
        Link.objects.filter(origin=Link.Origin.CREATED).values_list("source_id", flat=True)
    )
    for source_id in edited:
        tx_world.served.zammad.edit_time(int(source_id), time_unit="61")
    watch.at_reads.clear()
    again = tx_world.run()
    assert again.status == Run.Status.SUCCEEDED, again.error
    assert again.counts["update"] == len(edited) > 2 * small_batches
    # An update moves a timesheet in Kimai's list, ordered by begin: never read it meanwhile.
    assert watch.at_reads and not any(busy["PATCH"] for busy in watch.at_reads), watch.at_reads
    kimai_ids = set(Link.objects.filter(source_id__in=edited).values_list("kimai_id", flat=True))
    durations = {
        sheet.duration
        for sheet in tx_world.kimai_double.all_timesheets()
        if str(sheet.id) in kimai_ids
    }
    assert len(kimai_ids) == len(edited) and durations == {61 * 60}
    assert _no_open_intents()


@pytest.mark.django_db(transaction=True)
def test_a_run_that_fails_reading_zammad_still_settles_what_it_sent(
    tx_world: World, watch: Watch, small_batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx_world.zammad.settings = {**tx_world.zammad.settings, "page_size": 25}
    tx_world.zammad.save()
    zammad = tx_world.served.zammad
    route = zammad.route

    def third_page_refused(request: RecordedRequest) -> Reply:
        if request.path == "/api/v1/time_accountings" and request.query.get("page") == ["3"]:
            return Reply(422, {"error": "Unprocessable page"})
        return route(request)

    monkeypatch.setattr(zammad, "route", third_page_refused)
    run = tx_world.run()
    assert run.status == Run.Status.FAILED
    assert "422" in run.error or "Unprocessable" in run.error, run.error
    # Everything handed to the senders before the page was refused was sent, and recorded.
    posts = tx_world.kimai_double.requests_to("POST", "/api/timesheets")
    assert posts and all(p.status == 200 for p in posts)
    created = Link.objects.filter(profile=tx_world.profile, origin=Link.Origin.CREATED)
    assert created.count() == len(posts)
    done = RunItem.objects.filter(run=run, planned="create", result=RunItem.Result.DONE)
    assert done.count() == len(posts)
    assert _no_open_intents()
    assert_one_timesheet_per_entry(tx_world)
