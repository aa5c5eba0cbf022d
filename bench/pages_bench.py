"""Page benchmark: the pages an admin opens, with much history. Prints figures; asserts nothing.

    .venv/bin/python -m bench.pages_bench [--items 100000] [--conflicts 10000] [--events 100000]
                                          [--repeat 7] [--history 0]

Seeds one finished run of ``--items`` entries (after 499 older runs of 20 entries each, and
``--history`` more entries spread over them),
``--conflicts`` open conflicts and ``--events`` audit events with the scale tests' helpers
(tests/support/scale.py), then renders each page through Django's test Client, logged in as the
admin: once to count its SQL queries, then ``--repeat`` times for the median and the slowest
server time (goal: <= 300 ms each). The Client calls the whole Django stack (middleware, view,
templates) in this process, so the time is the server's, without a network or a browser.
Runs in its own embedded PostgreSQL (DATA_DIR=var/bench) so development data is untouched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import timedelta
from typing import Any

import bench  # noqa: F401  (the shared setup: path, database, settings)

GOAL_MS = 300
SMALL_RUNS = 499
SMALL_RUN_ITEMS = 20


def _seed(items: int, conflicts: int, events: int, history: int) -> int:
    """The history; answers the id of the long run."""
    from django.db import connection
    from django.utils import timezone

    from apps.accounts.services import set_admin
    from tests.support.scale import (
        add_audit_events,
        add_conflicts,
        finished_run,
        scale_pair,
    )

    set_admin("admin@example.com", "correct-horse-battery-staple")
    profile = scale_pair()
    # Older runs first: their entries come before the long run's in the table and its indexes.
    for _ in range(SMALL_RUNS):
        finished_run(profile, SMALL_RUN_ITEMS + history // SMALL_RUNS)
    run = finished_run(profile, items)
    add_conflicts(profile, 0, conflicts)
    # The newest events are today's: the dashboard's chart of the last days has work to add up.
    add_audit_events(0, events, start=timezone.now() - timedelta(minutes=3 * events))
    # As autovacuum leaves a table soon after many inserts: statistics and the visibility map
    # (an index-only scan reads no table pages for rows all visible).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return run.pk


def _pages(run_id: int, items: int, conflicts: int, events: int) -> list[tuple[str, str]]:
    last = {"items": -(-items // 25), "conflicts": -(-conflicts // 20), "events": -(-events // 50)}
    run = f"/sync/runs/{run_id}/"
    return [
        ("Dashboard", "/"),
        ("Sync runs list", "/sync/"),
        (f"Run page ({items} entries)", run),
        ("Run page, last page", f"{run}?page={last['items']}"),
        ("Run page, conflict tab", f"{run}?outcome=conflict"),
        ("Run page, in-sync tab, last page", f"{run}?outcome=in_sync&page=2000"),
        ("Run entries fragment (htmx)", f"{run}?page=2&fragment=entries"),
        ("Run API (100 entries)", f"/api/v1/sync/runs/{run_id}?items_limit=100"),
        (f"Conflict list ({conflicts} open)", "/sync/conflicts/"),
        ("Conflict list, last page", f"/sync/conflicts/?page={last['conflicts']}"),
        ("Conflict list, kind filter", "/sync/conflicts/?kind=ambiguous_match"),
        (f"Audit ({events} events)", "/sync/audit/"),
        ("Audit, last page", f"/sync/audit/?page={last['events']}"),
        ("Audit, ticket search", "/sync/audit/?ticket=30007"),
    ]


def _measure(client: Any, url: str, repeat: int) -> tuple[int, list[float]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    htmx = {"HX-Request": "true"} if "fragment=" in url else {}
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=htmx)
    assert response.status_code == 200, (url, response.status_code)
    queries = len(captured)  # now: the next request clears the log it reads from
    took = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url, headers=htmx)
        took.append((time.perf_counter() - started) * 1000)
    return queries, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--conflicts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--history", type=int, default=0, help="more entries in the older runs (e.g. 1000000)"
    )
    args = parser.parse_args()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)
    from django.test import Client
    from django.test.utils import setup_test_environment

    from apps.accounts.models import ApiKey, User

    setup_test_environment()  # the Client's host "testserver" is allowed
    started = time.perf_counter()
    run_id = _seed(args.items, args.conflicts, args.events, args.history)
    older = SMALL_RUNS * (SMALL_RUN_ITEMS + args.history // SMALL_RUNS)
    print(f"seeded {args.items} run entries (+{older} in {SMALL_RUNS} older "
          f"small runs), {args.conflicts} open conflicts and {args.events} audit events in "
          f"{time.perf_counter() - started:.0f} s; {os.cpu_count()} CPU cores")  # fmt: skip
    client = Client(headers={"Authorization": f"Bearer {ApiKey.issue('bench')[1]}"})
    client.force_login(User.objects.get(email="admin@example.com"))
    print(f"{'page':<40} {'median ms':>9} {'max ms':>7} {'queries':>7}  goal {GOAL_MS} ms")
    for name, url in _pages(run_id, args.items, args.conflicts, args.events):
        queries, took = _measure(client, url, args.repeat)
        median, slowest = statistics.median(took), max(took)
        verdict = "ok" if slowest <= GOAL_MS else "OVER"
        print(f"{name:<40} {median:>9.0f} {slowest:>7.0f} {queries:>7}  {verdict}")


if __name__ == "__main__":
    main()
