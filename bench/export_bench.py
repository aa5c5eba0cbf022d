"""Export benchmark: one person with 100,000 run entries, exported as one streamed JSON document.
Prints figures; asserts nothing.

    .venv/bin/python -m bench.export_bench [--entries 100000]

Seeds a Zammad agent and their Kimai user (mapped) and ``--entries`` run entries booked to them
with one INSERT ... SELECT, then reads the export (apps/gdpr/export.py) chunk by chunk as the
HTTP response would and prints its size, wall time and the process's peak RSS before and after
(goal: memory does not grow with the number of entries: rows are read 2,000 at a time).
Runs in its own embedded PostgreSQL (DATA_DIR=var/bench) so development data is untouched.
"""

from __future__ import annotations

import argparse
import resource
import time

import bench  # noqa: F401  (the shared setup: path, database, settings)

EMAIL = "liam.johnson@example.com"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _seed(entries: int) -> None:
    from django.db import connection

    from apps.connectors.models import Connection
    from apps.gdpr.models import Person
    from apps.mappings.models import MappingProfile, UserMapping
    from apps.sync.models import Run

    zammad = Connection.objects.create(kind="zammad", name="Z", base_url="http://127.0.0.1:9",
                                       token="t")  # fmt: skip
    kimai = Connection.objects.create(kind="kimai", name="K", base_url="http://127.0.0.1:9",
                                      token="t")  # fmt: skip
    profile = MappingProfile.objects.create(source=zammad, target=kimai)
    agent = Person.objects.create(connection=zammad, external_id="5", kind="agent",
                                  email=EMAIL, name="Liam Johnson")  # fmt: skip
    user = Person.objects.create(connection=kimai, external_id="3", kind="target_user",
                                 email=EMAIL, name="Liam Johnson", username="liam")  # fmt: skip
    UserMapping.objects.create(agent=agent, target=kimai, kimai_user=user, method="email")
    run = Run.objects.create(
        profile=profile, trigger="schedule", actor="schedule", scope="incremental",
        coalesce_key="bench", status="succeeded",
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sync_runitem (run_id, source_id, ticket_id, ticket_number, planned,
                applied, result, reason, kimai_id, kimai_user_id, duration_seconds, error)
            SELECT %s, n::text, (n %% 5000)::text, (30000 + n %% 5000)::text, 'create',
                   'create', 'done', 'New in Zammad: written to Kimai.', (n + 1)::text, %s,
                   900, ''
            FROM generate_series(1, %s) AS n
            """,
            [run.pk, user.pk, entries],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)
    from apps.gdpr.export import export_chunks
    from apps.gdpr.subject import find_subject

    _seed(args.entries)
    before = _peak_mb()
    started = time.perf_counter()
    size = 0
    for chunk in export_chunks(find_subject(email=EMAIL)):
        size += len(chunk.encode())
    took = time.perf_counter() - started
    after = _peak_mb()
    print(f"export: {args.entries} run entries, {size / 1e6:.1f} MB of JSON in {took:.1f} s")
    print(f"peak RSS: {before:.0f} MB before, {after:.0f} MB after (+{after - before:.0f} MB)")


if __name__ == "__main__":
    main()
