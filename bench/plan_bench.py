"""Planning benchmark: how much CPU `plan_timesheet` needs for 100,000 entries. Prints figures;
asserts nothing (a duration asserted in a unit test fails on a loaded machine and proves nothing).

    .venv/bin/python -m bench.plan_bench [--entries 100000]

Goal: under 2 s of CPU for 100,000 entries with three rules, tags and a description template.
The collector is off while timing: its cost depends on everything else the process holds, not
on planning. No database and no network are involved.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import time
from datetime import UTC, datetime

import bench  # noqa: F401  (the shared setup: path, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args()

    import django

    django.setup()
    from apps.connectors.entry import AgentRef, TicketRef
    from apps.mappings.engine import plan_timesheet
    from tests.mappings.conftest import KIMAI_USERS, entry
    from tests.mappings.test_engine import CATCH_ALL, context

    ctx = context({"organization_ids": ["3"], "project_id": "3", "activity_id": "5"},
                  {"title_pattern": "vpn", "project_id": "2"}, CATCH_ALL,
                  fixed_tags=("zammad",))  # fmt: skip
    agents = [AgentRef(str(i), email) for i, (_, _, email, _) in enumerate(KIMAI_USERS)]
    base = entry()
    entries = [
        dataclasses.replace(
            base, external_id=str(i), agent=agents[i % len(agents)],
            booked_at=datetime(2026, 1, 5, 8, tzinfo=UTC).replace(minute=i % 60),
            ticket=TicketRef(str(i % 12500), str(30000 + i % 12500), "Printer broken"),
        )
        for i in range(args.entries)
    ]  # fmt: skip
    gc.disable()
    try:
        start = time.process_time()
        plans = [plan_timesheet(e, ctx) for e in entries]
        cpu = time.process_time() - start
    finally:
        gc.enable()
    planned = sum(p.draft is not None for p in plans)
    print(f"plan: {args.entries} entries in {cpu:.2f} s CPU ({planned} planned; goal < 2 s)")


if __name__ == "__main__":
    main()
