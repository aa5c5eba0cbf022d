"""Reference refresh benchmark against the doubles on 127.0.0.1. Prints figures; asserts nothing.

    .venv/bin/python -m bench.reference_bench [--latency-ms 20]

"Refresh from Zammad and Kimai" (``refresh_pair``) for a pair with 150 agents who booked time
lately, 200 organizations, 1,000 Kimai users and 1,000 Kimai projects, every request to the
doubles taking --latency-ms: wall time, requests and database queries (goal: <= 10 s).

Runs in its own embedded PostgreSQL (DATA_DIR=var/bench) so development data is untouched.
"""

from __future__ import annotations

import argparse
import time

import bench  # noqa: F401  (the shared setup: path, database, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from apps.connectors.models import Connection
    from apps.mappings.models import MappingProfile
    from apps.mappings.services import refresh_pair
    from tests.doubles.reference_scale import Sizes, add_large_reference
    from tests.support.servers import served_doubles

    with served_doubles() as served:
        ticket = served.dataset.entries[0].ticket_id
        add_large_reference(served.zammad, served.kimai, ticket, timezone.now())
        served.zammad.latency = served.kimai.latency = args.latency_ms / 1000
        zammad = Connection.objects.create(
            kind="zammad", name="Zammad", base_url=served.zammad_url,
            token=served.dataset.zammad_token,
        )  # fmt: skip
        kimai = Connection.objects.create(
            kind="kimai", name="Kimai", base_url=served.kimai_url, token=served.dataset.kimai_token
        )
        MappingProfile.objects.create(source=zammad, target=kimai)
        served.zammad.requests.clear()
        served.kimai.requests.clear()
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            found, errors = refresh_pair(zammad, kimai)
        seconds = time.perf_counter() - started
        requests = len(served.zammad.requests) + len(served.kimai.requests)
    sizes = Sizes()
    print(f"reference refresh: {sizes.agents} agents, {sizes.organizations} organizations, "
          f"{sizes.kimai_users} Kimai users, {sizes.kimai_projects} projects at "
          f"{args.latency_ms:.0f} ms: {seconds:.2f} s wall (goal <= 10 s), {requests} requests, "
          f"{len(queries)} queries; {found} agents found, errors {errors}")  # fmt: skip


if __name__ == "__main__":
    main()
