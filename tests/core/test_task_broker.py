"""The task queue wakes a waiting worker when a task commits, and hands each task to one; a due
schedule is queued once, however many clusters' schedulers look."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule
from django_q.scheduler import scheduler
from django_q.tasks import async_task

from apps.core.broker import NotifyingORM
from tests.support.processes import wait_for

LONG_POLL = 60.0  # far longer than any wait below: only a notification ends the wait early


@pytest.fixture
def brokers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[NotifyingORM]]:
    monkeypatch.setattr(Conf, "POLL", LONG_POLL)
    made = [NotifyingORM(list_key=Conf.CLUSTER_NAME) for _ in range(2)]
    yield made
    for broker in made:
        broker.close_listener()


def _listening(broker: NotifyingORM) -> NotifyingORM:
    assert broker.dequeue() is None  # the first empty look starts listening
    return broker


@pytest.mark.django_db(transaction=True)
def test_it_queues_runs_through_the_notifying_broker() -> None:
    assert Conf.BROKER_CLASS == "apps.core.broker.NotifyingORM"


@pytest.mark.django_db(transaction=True)
def test_it_wakes_a_waiting_worker_when_a_task_commits(brokers: list[NotifyingORM]) -> None:
    worker = _listening(brokers[0])

    def wait() -> None:
        # The wait itself, not dequeue(): dequeue() first looks at the table, and on a slow
        # start the thread would claim the task there and never wait. LISTEN is already on,
        # so a notification sent before the wait begins still ends it.
        try:
            worker._wait_for_notification(LONG_POLL)
        finally:
            connection.close()  # this thread's own database connection

    waiting = threading.Thread(target=wait)
    waiting.start()
    async_task("apps.sync.tasks.execute_run", 1, broker=brokers[1])
    waiting.join(timeout=LONG_POLL / 2)
    assert not waiting.is_alive(), "the worker slept through the notification"
    assert worker.dequeue()  # woken, it looks again and claims the task


@pytest.mark.django_db(transaction=True)
def test_it_wakes_nobody_for_a_task_whose_transaction_rolled_back(
    brokers: list[NotifyingORM],
) -> None:
    worker = _listening(brokers[0])
    with transaction.atomic():
        async_task("apps.sync.tasks.execute_run", 1, broker=brokers[1])
        transaction.set_rollback(True)
    assert worker._listener is not None
    assert list(worker._listener.notifies(timeout=0.5)) == []
    assert OrmQ.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_it_hands_a_task_to_one_of_two_woken_workers(brokers: list[NotifyingORM]) -> None:
    first, second = (_listening(b) for b in brokers)
    async_task("apps.sync.tasks.execute_run", 1, broker=first)
    claims = [first._claim(), second._claim()]
    assert sorted(len(c) for c in claims) == [0, 1]


@pytest.mark.django_db(transaction=True)
def test_it_picks_tasks_up_by_polling_when_the_listener_is_lost(
    brokers: list[NotifyingORM], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = _listening(brokers[0])
    assert worker._listener is not None
    worker._listener.close()
    monkeypatch.setattr(Conf, "POLL", 0.01)
    assert worker.dequeue() is None  # the lost listener is noticed and dropped
    async_task("apps.sync.tasks.execute_run", 1, broker=brokers[1])
    assert worker.dequeue()


def _waiting_for_a_row_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_the_schedulers_of_two_clusters_queue_a_due_schedule_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    due = Schedule.objects.create(
        func="math.floor", args="1", schedule_type=Schedule.MINUTES, minutes=15, repeats=-1,
        next_run=timezone.now() - timedelta(minutes=1),
    )  # fmt: skip

    def cluster_scheduler() -> None:
        try:
            scheduler()
        finally:
            connection.close()

    threads = [threading.Thread(target=cluster_scheduler) for _ in range(2)]
    with transaction.atomic():
        # Holding the row, so both schedulers are inside their SELECT ... FOR UPDATE at once.
        Schedule.objects.select_for_update().get(pk=due.pk)
        for thread in threads:
            thread.start()
        wait_for(lambda: _waiting_for_a_row_lock() == 2, 30, "both schedulers to wait")
    for thread in threads:
        thread.join(30)
    queued = [task for task in OrmQ.objects.all() if task.task.get("func") == "math.floor"]
    assert len(queued) == 1
    assert "Could not create task" not in caplog.text  # the other one found nothing due
    assert Schedule.objects.get(pk=due.pk).next_run > timezone.now()
