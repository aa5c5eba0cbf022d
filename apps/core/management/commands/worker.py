from __future__ import annotations

import os
import socket
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone

from apps.core.collector import tune_for_batch_work
from apps.core.health import check_migrations
from apps.core.models import WorkerHeartbeat
from apps.core.signals import worker_check


def wait_until_migrated(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check = check_migrations()
        except DatabaseError:
            check = None
        if check is not None and check.ok:
            return
        if time.monotonic() > deadline:
            detail = check.detail if check else "database unreachable"
            raise CommandError(f"Database not ready after {timeout:.0f}s: {detail}")
        close_old_connections()
        time.sleep(1)


class Command(BaseCommand):
    help = "Run a django-q2 worker cluster and record its heartbeat for /readyz."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait", type=float, default=120.0, help="Seconds to wait for migrations."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django_q.cluster import Cluster

        tune_for_batch_work()  # before the cluster forks: its processes inherit it
        wait_until_migrated(options["wait"])
        # The cluster forks; children must not share this process's database connection.
        connections.close_all()
        cluster = Cluster()
        cluster.start()
        name = f"{socket.gethostname()}:{os.getpid()}:{cluster.name}"
        started_at = timezone.now()
        interval = settings.WORKER_HEARTBEAT_INTERVAL
        self.stdout.write(f"Worker cluster {cluster.name} started.")
        try:
            while cluster.sentinel is not None and cluster.sentinel.is_alive():
                self._beat(name, started_at)
                for _ in range(interval * 10):
                    if not (cluster.sentinel and cluster.sentinel.is_alive()):
                        break
                    time.sleep(0.1)
        finally:
            WorkerHeartbeat.objects.filter(name=name).delete()
            connections.close_all()
        self.stdout.write(f"Worker cluster {cluster.name} stopped.")

    def _beat(self, name: str, started_at: Any) -> None:
        close_old_connections()
        try:
            WorkerHeartbeat.objects.update_or_create(
                name=name,
                defaults={
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "started_at": started_at,
                    "seen_at": timezone.now(),
                },
            )
        except DatabaseError as exc:
            # The database may be restarting; the next beat tries again and /readyz says why.
            self.stderr.write(f"Heartbeat not recorded: {exc.__class__.__name__}")
            return
        for receiver, outcome in worker_check.send_robust(sender=self.__class__):
            if isinstance(outcome, Exception):
                self.stderr.write(f"{receiver.__name__} failed: {outcome.__class__.__name__}")
