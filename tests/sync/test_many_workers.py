"""Several worker processes on one database share a backlog of runs: each run is done once, by
one worker, a pair's runs one after another, and each entry is written to Kimai once. Real
`manage.py worker` processes; two pairs, so the workers also run runs side by side."""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django_q.models import OrmQ, Task

from apps.core.models import WorkerHeartbeat
from apps.sync import engine
from apps.sync.locks import profile_lock
from apps.sync.models import Link, Run, WriteIntent
from apps.sync.services import TASK, request_run
from tests.support.processes import (
    child_env,
    start_manage,
    stop_process_tree,
    url_for_test_database,
    wait_for,
)
from tests.sync.world import World, assert_one_timesheet_per_entry, demo_world

FINISHED = {Run.Status.SUCCEEDED, Run.Status.PARTIAL, Run.Status.FAILED, Run.Status.INTERRUPTED}


def _ticket_run(world: World, ticket_id: str, *, enqueue: bool = True) -> Run:
    run, _ = request_run(
        world.profile, scope=Run.Scope.TICKET, trigger=Run.Trigger.WEBHOOK, actor="webhook",
        ticket_id=ticket_id, enqueue=enqueue,
    )  # fmt: skip
    return run


def _window_run(world: World, days: tuple[int, int] | None = None) -> Run:
    start, end = world.window()
    if days is not None:
        start, end = start + timedelta(days=days[0]), start + timedelta(days=days[1])
    run, _ = request_run(
        world.profile, scope=Run.Scope.WINDOW, trigger=Run.Trigger.MANUAL, actor="admin:1",
        start=start, end=end,
    )  # fmt: skip
    return run


def _busiest_tickets(world: World, count: int) -> list[str]:
    counted = Counter(e.ticket_id for e in world.dataset.entries if e.agent_id != 8)
    return [str(ticket) for ticket, _n in counted.most_common(count)]


@contextmanager
def _workers(count: int, tmp_path: Path) -> Iterator[list[Path]]:
    """``count`` `manage.py worker` processes, each running one run at a time, ready: each has
    recorded its heartbeat. Yields their log files (JSON lines)."""
    env = child_env(
        DATABASE_URL=url_for_test_database(), WORKER_CONCURRENCY="1",
        WORKER_HEARTBEAT_INTERVAL="1", LOG_FORMAT="json",
    )  # fmt: skip
    logs = [tmp_path / f"worker-{i}.log" for i in range(count)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for log in logs:
            processes.append(start_manage(["worker"], env, log))
        wait_for(
            lambda: WorkerHeartbeat.objects.count() == count, 90, f"{count} workers' heartbeats"
        )
        yield logs
    finally:
        for process in processes:
            stop_process_tree(process)


def _runs_started(logs: list[Path]) -> dict[str, Counter[int]]:
    """Per worker log, how often each run was started there."""
    started: dict[str, Counter[int]] = {}
    for log in logs:
        counts: Counter[int] = Counter()
        for line in log.read_text().splitlines():
            if '"run_started"' in line:
                counts[json.loads(line)["run"]] += 1
        started[log.name] = counts
    return started


def _backlog(world: World) -> set[int]:
    """Windows a day each, the busiest tickets inside them, the whole window over all of them,
    and the same tickets again: queued in that order, so later runs overlap earlier ones."""
    tickets = _busiest_tickets(world, 6)
    runs = [_window_run(world, (day, day + 1)) for day in range(0, 9, 2)]
    runs += [_ticket_run(world, ticket) for ticket in tickets]
    runs += [_window_run(world, (day, day + 1)) for day in range(1, 9, 2)]
    runs += [_window_run(world)]
    runs += [_ticket_run(world, ticket) for ticket in tickets]
    return {run.pk for run in runs}


def _assert_one_after_another(ids: set[int]) -> None:
    """No two runs of a pair overlapped in time (the pair's lock)."""
    runs = Run.objects.filter(pk__in=ids).order_by("started_at")
    ends = list(runs.values_list("started_at", "finished_at"))
    for (_start, finished), (started, _end) in zip(ends, ends[1:], strict=False):
        assert finished is not None and started is not None and finished <= started


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_a_backlog_and_write_each_entry_once(
    tx_world: World, tmp_path: Path
) -> None:
    with demo_world(weeks=1, suffix=" 2") as other_world, _workers(2, tmp_path) as logs:
        worlds = [tx_world, other_world]
        for world in worlds:
            world.kimai_double.latency = 0.005
        # Queued while both workers listen, so they take the tasks as they come.
        backlogs = [_backlog(world) for world in worlds]
        ids = set().union(*backlogs)

        def all_done() -> bool:
            finished = Run.objects.filter(pk__in=ids, status__in=FINISHED).count() == len(ids)
            return finished and not OrmQ.objects.exists()

        wait_for(all_done, 180, "every run and task to finish")
        started = _runs_started(logs)
        statuses = Counter(Run.objects.filter(pk__in=ids).values_list("status", flat=True))
        assert statuses == {Run.Status.SUCCEEDED: len(ids)}, started
        everywhere = sum(started.values(), Counter())
        assert set(everywhere) == ids and set(everywhere.values()) == {1}, started
        # Every task ran once and well (a run asked for again while queued has one task; a task
        # whose run another worker already did finds it done).
        tasks = Task.objects.filter(func=TASK)
        assert {f"sync-run-{pk}" for pk in ids} <= set(tasks.values_list("name", flat=True))
        assert set(tasks.values_list("success", "attempt_count")) == {(True, 1)}
        for world, backlog in zip(worlds, backlogs, strict=True):
            _assert_one_after_another(backlog)
            assert_one_timesheet_per_entry(world)
            posts = world.kimai_double.requests_to("POST", "/api/timesheets")
            created = Link.objects.filter(profile=world.profile, origin=Link.Origin.CREATED)
            assert len(posts) == created.count()
        assert not WriteIntent.objects.filter(state__in=WriteIntent.OPEN_STATES).exists()


@pytest.mark.django_db(transaction=True)
def test_a_run_queued_just_before_the_holder_lets_go_is_run_by_it(
    tx_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first_ticket, late_ticket = _busiest_tickets(tx_world, 2)
    first = _ticket_run(tx_world, first_ticket, enqueue=False)
    late: list[Run] = []
    seen_by_other_worker: list[str] = []
    real_lock = engine.profile_lock

    def other_worker(run_id: int) -> None:
        try:
            left = engine.execute_run(run_id)
            seen_by_other_worker.append(left.status if left else "gone")
        finally:
            connection.close()

    @contextmanager
    def lock_then_one_more_run(profile_id: int, *, wake: bool = True) -> Iterator[bool]:
        with real_lock(profile_id, wake=wake) as acquired:
            yield acquired
            if acquired and not late:
                # The holder has looked for queued runs for the last time; before it lets go,
                # another run commits and its task, on another worker, finds the lock taken.
                late.append(_ticket_run(tx_world, late_ticket, enqueue=False))
                thread = threading.Thread(target=other_worker, args=(late[0].pk,))
                thread.start()
                thread.join(30)

    monkeypatch.setattr(engine, "profile_lock", lock_then_one_more_run)
    engine.execute_run(first.pk)
    assert seen_by_other_worker == [Run.Status.QUEUED]  # it left the run to the holder
    late[0].refresh_from_db()
    assert late[0].status == Run.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_lock_let_go_with_a_run_waiting_queues_a_task_for_it(tx_world: World) -> None:
    with profile_lock(tx_world.profile.pk) as acquired:
        assert acquired
        waiting = _ticket_run(tx_world, "50", enqueue=False)  # its task found the lock taken
    assert [task.name() for task in OrmQ.objects.all()] == [f"sync-run-{waiting.pk}"]
