"""Readiness checks shared by /readyz, the dashboard and the status API.

Higher layers add their own checks with ``register_check`` (core never imports them). A check that
is not ``required`` is reported in the details without making the service unready: a broken
connector plugin should be seen, not take the whole service out of a load balancer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from apps.core.models import WorkerHeartbeat


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


_REGISTERED: dict[str, Callable[[], Check]] = {}


def register_check(name: str, check: Callable[[], Check]) -> None:
    """Add a check to every readiness answer (called from an AppConfig.ready())."""
    _REGISTERED[name] = check


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            row = cursor.fetchone()
    except DatabaseError as exc:
        return Check("database", False, f"unreachable: {exc.__class__.__name__}")
    version = str(row[0]).split(" on ")[0] if row else "unknown"
    return Check("database", True, version)


def check_migrations() -> Check:
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return Check("migrations", False, f"cannot read migration state: {exc.__class__.__name__}")
    if pending:
        return Check("migrations", False, f"{len(pending)} migration(s) not applied")
    return Check("migrations", True, "all applied")


def check_worker() -> Check:
    try:
        beat = WorkerHeartbeat.objects.alive().first()
    except DatabaseError:
        return Check("worker", False, "heartbeat table unreadable")
    if beat is None:
        return Check("worker", False, "no worker heartbeat seen recently")
    return Check("worker", True, f"{beat.name}, last seen {beat.seen_at.isoformat()}")


def readiness_checks() -> list[Check]:
    database = check_database()
    if not database.ok:
        return [
            database,
            Check("migrations", False, "database unreachable"),
            Check("worker", False, "database unreachable"),
            *(check() for check in _REGISTERED.values()),
        ]
    return [database, check_migrations(), check_worker(), *(c() for c in _REGISTERED.values())]


def failing(checks: list[Check]) -> list[str]:
    """The required checks that fail: what makes the service not ready."""
    return [c.name for c in checks if c.required and not c.ok]
