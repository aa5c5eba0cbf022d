"""Retention benchmark: prune a million expired run entries in batches. Prints figures; asserts
nothing (a duration asserted in a unit test fails on a loaded machine and proves nothing).

    .venv/bin/python -m bench.retention_bench [--items 1000000] [--batch 5000]

Seeds ``--items`` entries of finished runs older than the policy's 90 days and 10,000 recent
ones with one INSERT ... SELECT each, then runs the nightly job (apps/gdpr/retention.py) and
prints its wall time, the rows it deleted per target, the recent rows still there, and the
process's peak RSS before and after (goal: the prune adds no more than a few MB whatever the
number of rows, since it reads primary keys one batch at a time).
Runs in its own embedded PostgreSQL (DATA_DIR=var/bench) so development data is untouched.
"""

from __future__ import annotations

import argparse
import resource
import time

import bench  # noqa: F401  (the shared setup: path, database, settings)

RUNS = 100
RECENT = 10_000


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seed(items: int) -> None:
    from django.db import connection

    from apps.connectors.models import Connection
    from apps.mappings.models import MappingProfile
    from apps.sync.models import Run

    zammad = Connection.objects.create(kind="zammad", name="Z", base_url="http://127.0.0.1:9",
                                       token="t")  # fmt: skip
    kimai = Connection.objects.create(kind="kimai", name="K", base_url="http://127.0.0.1:9",
                                      token="t")  # fmt: skip
    profile = MappingProfile.objects.create(source=zammad, target=kimai)
    with connection.cursor() as cursor:
        for age_days, count in ((120, items), (1, RECENT)):
            runs = [
                Run.objects.create(
                    profile=profile, trigger="schedule", actor="schedule", scope="incremental",
                    coalesce_key=f"bench-{age_days}-{n}", status="succeeded",
                ).pk
                for n in range(RUNS)
            ]  # fmt: skip
            cursor.execute(
                "UPDATE sync_run SET created_at = now() - %s * interval '1 day' WHERE id = ANY(%s)",
                [age_days, runs],
            )
            cursor.execute(
                """
                INSERT INTO sync_runitem (run_id, source_id, ticket_id, ticket_number, planned,
                    applied, result, reason, kimai_id, duration_seconds, error)
                SELECT (%s::bigint[])[1 + n %% %s], n::text, (n %% 5000)::text,
                       (30000 + n %% 5000)::text, 'in_sync', '', 'nothing',
                       'Already in Kimai as timesheet 1.', (n + 1)::text, 900, ''
                FROM generate_series(1, %s) AS n
                """,
                [runs, RUNS, count],
            )
        cursor.execute("ANALYZE sync_runitem")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)
    from apps.gdpr.retention import prune_expired
    from apps.sync.models import RunItem

    started = time.perf_counter()
    _seed(args.items)
    print(f"seeded {args.items} expired and {RECENT} recent run entries in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    before = _peak_mb()
    started = time.perf_counter()
    report = prune_expired(batch=args.batch)
    took = time.perf_counter() - started
    after = _peak_mb()
    print(f"prune: {took:.1f} s wall, batches of {args.batch}; deleted {report}")
    print(f"kept: {RunItem.objects.count()} recent run entries (expected {RECENT})")
    print(f"peak RSS: {before:.0f} MB before the prune, {after:.0f} MB after "
          f"(+{after - before:.0f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
