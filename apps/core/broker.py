"""django-q2's ORM broker, woken by PostgreSQL's NOTIFY instead of a full poll interval.

The ORM broker finds new tasks by asking the queue table every ``Q_CLUSTER["poll"]`` seconds, so
a webhook's run waited half that interval on average before a worker even saw it. Here an
enqueue also sends ``NOTIFY zks_tasks`` in the enqueuing transaction (PostgreSQL delivers it
only when that transaction commits, so a worker never wakes for a task it cannot see yet, and a
rolled-back enqueue wakes nobody), and an idle cluster waits on ``LISTEN zks_tasks`` for at most
the poll interval. The poll stays the safety net: a notification lost with its connection, a
pooler in transaction mode that drops LISTEN, or a task whose lock expired is still picked up
within ``poll`` seconds. Claiming is django-q2's own (a conditional UPDATE of the row's lock),
so several clusters woken by one notification still run the task once.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import structlog
from django.db import connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf

CHANNEL = "zks_tasks"
logger = structlog.get_logger(__name__)


class NotifyingORM(ORM):
    def __init__(self, list_key: str | None = None) -> None:
        super().__init__(list_key=list_key)
        self._listener: psycopg.Connection[Any] | None = None

    def enqueue(self, task: Any) -> Any:
        task_id = super().enqueue(task)
        with connections[Conf.ORM].cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
        return task_id

    def dequeue(self) -> list[tuple[Any, Any]] | None:
        claimed = self._claim()
        if claimed:
            return claimed
        self._wait_for_notification(float(Conf.POLL))
        return None

    def _claim(self) -> list[tuple[Any, Any]]:
        # django-q2's ORM.dequeue without its sleep: a task is ours when the UPDATE of its lock
        # matched (another cluster woken by the same notification finds the lock moved).
        queued = self.get_connection().filter(key=self.list_key, lock__lt=timezone.now())
        claimed = []
        for task in queued[: Conf.BULK]:
            moved = (
                self.get_connection()
                .filter(id=task.id, lock=task.lock)
                .update(lock=self.timeout(task))
            )
            if moved:
                claimed.append((task.pk, task.payload))
        return claimed

    def _wait_for_notification(self, timeout: float) -> None:
        try:
            if self._listener is None:
                self._listener = self._listen()
                return  # listening now: look at the table once more before waiting
            for _notification in self._listener.notifies(timeout=timeout, stop_after=1):
                break
            # One look at the table serves every notification that came meanwhile.
            for _notification in self._listener.notifies(timeout=0):
                pass
        except psycopg.Error as error:
            logger.warning("task_listener_lost", error=error.__class__.__name__)
            self.close_listener()
            time.sleep(timeout)

    def _listen(self) -> psycopg.Connection[Any]:
        params = connections[Conf.ORM].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        listener = psycopg.connect(**params, autocommit=True)
        listener.execute(f"LISTEN {CHANNEL}")
        return listener

    def close_listener(self) -> None:
        if self._listener is not None:
            try:
                self._listener.close()
            finally:
                self._listener = None
