"""A new admin's first sync of N entries (default 10,000) against the doubles. Prints figures.

    .venv/bin/python -m bench.trust_bench [--entries 10000]

The trust scenario (tests/doubles/trust_dataset.py, tests/sync/trust_scenario.py): a Kimai
customer hidden in Kimai, bookings through the four daylight-saving nights of 2025 and across
midnight, hand-typed copies in Kimai, a pair left on its default schedule. The worker's scheduler
runs while the admin works; then a plan, its confirmation (switching the schedule on), and a
second run. Printed: writes before the confirmation, bookings the rules would not make, entries
booked twice, refusals by Kimai, timesheets in the future, copies adopted, and timings.

Runs in its own embedded PostgreSQL (DATA_DIR=var/bench) so development data is untouched; the
doubles serve on 127.0.0.1 in this process.
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

import bench  # noqa: F401  (the shared setup: path, database, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)

    from django.utils import timezone
    from django_q.models import OrmQ
    from django_q.scheduler import scheduler

    from apps.sync.engine import execute_run
    from apps.sync.models import Run
    from apps.sync.schedules import switch_schedule_on
    from apps.sync.services import request_run
    from tests.doubles.trust_dataset import trust_dataset
    from tests.sync.trust_scenario import measure, trust_world

    started = time.perf_counter()
    data = trust_dataset(entries=args.entries)
    with trust_world(data) as world:
        print(f"set up {args.entries} entries in {time.perf_counter() - started:.1f} s")
        scheduler()  # what the worker does every 30 s while the admin is still adding rules
        queued = OrmQ.objects.count()
        first = min(e.created_at for e in data.dataset.entries) - timedelta(days=1)
        last = max(e.created_at for e in data.dataset.entries) + timedelta(days=1)

        def run(dry_run: bool) -> tuple[Run, float]:
            asked, _ = request_run(
                world.profile, scope=Run.Scope.WINDOW, trigger=Run.Trigger.MANUAL,
                actor="admin:1", dry_run=dry_run, start=first, end=last, enqueue=False,
            )  # fmt: skip
            began = time.perf_counter()
            finished = execute_run(asked.pk)
            assert finished is not None
            return finished, time.perf_counter() - began

        plan, seconds = run(dry_run=True)
        print(f"plan: {plan.counts} in {seconds:.1f} s; tasks queued by the scheduler: {queued}")
        writes_before_confirm = world.kimai_writes()
        switch_schedule_on(world.profile.pk)  # the admin confirms, ticking "sync on the schedule"
        synced, seconds = run(dry_run=False)
        ran_at = timezone.now()
        print(f"confirmed run: {synced.status}, {synced.counts}, Kimai {synced.results}, "
              f"{synced.requests_made} requests, {seconds:.1f} s")  # fmt: skip
        figures = measure(world, writes_before_confirm, ran_at)
        writes = world.kimai_writes()
        again, seconds = run(dry_run=False)
        print(f"second run: {again.status}, {again.counts}, "
              f"{world.kimai_writes() - writes} writes, {seconds:.1f} s")  # fmt: skip
    for line in figures.lines():
        print(line)


if __name__ == "__main__":
    main()
