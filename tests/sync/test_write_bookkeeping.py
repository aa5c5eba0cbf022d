"""A run's bookkeeping of its writes: each intent committed before its request reaches Kimai,
and the whole run on one database connection however many requests are in flight (real
commits, the Kimai double over loopback, looked at from a connection of the test's own)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from apps.connectors.testkit.double import RecordedRequest, Reply
from apps.mappings.marker import MARKER_RE
from apps.sync.models import Run, WriteIntent
from tests.support.concurrency import fixed_concurrency
from tests.sync.world import World

Look = Callable[[str, list[Any]], list[tuple[Any, ...]]]


@pytest.fixture
def look() -> Iterator[Look]:
    """Queries on a connection apart from the run's (it sees only what was committed)."""
    side = connection.get_new_connection(connection.get_connection_params())
    side.autocommit = True
    lock = threading.Lock()

    def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with lock, side.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    yield query
    side.close()


def _on_timesheet_posts(
    world: World, monkeypatch: pytest.MonkeyPatch, seen: Callable[[str], None]
) -> None:
    """Call ``seen`` with the marker of each create as it reaches the Kimai double."""
    double = world.kimai_double
    route = double.route

    def watched(request: RecordedRequest) -> Reply:
        if request.method == "POST" and request.path == "/api/timesheets":
            found = MARKER_RE.search(request.json["description"])
            assert found is not None
            seen(found.group(0))
        return route(request)

    monkeypatch.setattr(double, "route", watched)


@pytest.mark.django_db(transaction=True)
def test_it_commits_each_intent_before_its_request_reaches_kimai(
    tx_world: World, look: Look, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx_world.tune_kimai_http(**fixed_concurrency(16))
    pending: dict[str, bool] = {}

    def seen(marker: str) -> None:
        rows = look(f"SELECT state FROM {WriteIntent._meta.db_table} WHERE marker = %s", [marker])
        pending[marker] = rows == [(WriteIntent.State.PENDING,)]

    _on_timesheet_posts(tx_world, monkeypatch, seen)
    run = tx_world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert len(pending) == run.results["written"] > 16
    assert all(pending.values()), [m for m, ok in pending.items() if not ok]


@pytest.mark.django_db(transaction=True)
def test_a_run_writing_16_at_once_uses_one_database_connection(
    tx_world: World, look: Look, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx_world.tune_kimai_http(**fixed_concurrency(16))
    tx_world.kimai_double.latency = 0.02  # requests overlap
    counts: list[int] = []

    def seen(_marker: str) -> None:
        [(backends,)] = look(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            [],
        )
        counts.append(backends)

    _on_timesheet_posts(tx_world, monkeypatch, seen)
    run = tx_world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert tx_world.kimai_double.most_in_flight > 1
    assert counts and max(counts) == 1  # the run's own: it is this test's connection
