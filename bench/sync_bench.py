"""Sync benchmarks against the doubles on 127.0.0.1. Prints figures; asserts nothing.

    .venv/bin/python -m bench.sync_bench [--entries 10000] [--latency-ms 20] [--reconcile 100000]
                                         [--repeat 1]

1. A first sync of N entries into an empty Kimai, by `manage.py sync --window` in a process of
   its own: its peak RSS (goal at 100,000: <= 300 MB), its CPU seconds and ms per write,
   requests per write (goal: <= 1.01) and
   wall time against requests x latency / concurrency (goal: <= 1.3x).
2. An incremental run with nothing changed: HTTP requests and wall time (goal: <= 2, <= 300 ms).
3. Reconciling M entries against M timesheets (planning and deciding, no I/O): CPU seconds and
   peak memory (goal at 100,000: <= 2 s, <= 250 MB).

Runs in its own embedded PostgreSQL (DATA_DIR=var/bench) so development data is untouched.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import ROOT


def _setup() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)


def _serve_doubles(
    entries: int, latency_ms: float, *extra: str
) -> tuple[subprocess.Popen[str], str, str]:
    """The doubles in their own process, so their work does not compete with ours for the GIL
    (as the real Zammad and Kimai would not). ``extra``: more flags for tests.doubles.serve."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.serve", "--zammad-port", "0", "--kimai-port", "0",
         "--entries", str(entries), "--latency-ms", str(latency_ms), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    urls = [re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline()) for _ in range(2)]
    process.stdout.readline()
    zammad_url, kimai_url = (m.group(0) for m in urls if m)
    return process, zammad_url, kimai_url


def bench_sync(entries: int, latency_ms: float) -> float:
    """Both sync figures; returns the first sync's wall time against the ideal."""
    from apps.connectors.models import Connection
    from apps.sync.engine import execute_run
    from apps.sync.models import Run
    from apps.sync.services import request_run
    from tests.doubles.dataset import scaled_dataset
    from tests.doubles.kimai import KimaiDouble, seed_from_dataset
    from tests.sync.world import configure

    dataset = scaled_dataset(entries)
    ids = KimaiDouble()  # seeded like the served one, to look up project and activity ids
    seed_from_dataset(ids, dataset)
    process, zammad_url, kimai_url = _serve_doubles(entries, latency_ms)
    try:
        zammad = Connection.objects.create(
            kind="zammad", name="Zammad", base_url=zammad_url,
            token=dataset.zammad_token, settings={"time_unit": "minute"},
        )  # fmt: skip
        kimai = Connection.objects.create(
            kind="kimai", name="Kimai", base_url=kimai_url, token=dataset.kimai_token
        )
        profile = configure(zammad, kimai, ids)
        first = min(e.created_at for e in dataset.entries) - timedelta(days=1)
        last = max(e.created_at for e in dataset.entries) + timedelta(days=1)

        def run(scope: str, **kw: object) -> tuple[Run, float]:
            queued, _ = request_run(
                profile,
                scope=scope,
                trigger="cli",
                actor="bench",
                enqueue=False,
                **kw,  # type: ignore[arg-type]
            )
            started = time.perf_counter()
            finished = execute_run(queued.pk)
            assert finished is not None
            return finished, time.perf_counter() - started

        full, rss_mb, user, system = _first_sync_in_a_worker_process(first, last)
        cpu_seconds = user + system
        seconds = seconds_first = (full.finished_at - full.started_at).total_seconds()
        writes = sum(full.results.get(k, 0) for k in ("written", "refused", "uncertain", "failed"))
        concurrency = kimai.connector().http.tuning.max_concurrent_requests
        ideal = full.requests_made * latency_ms / 1000 / concurrency
        print(f"first sync: {entries} entries, {writes} writes, {full.requests_made} requests "
              f"({full.requests_made / max(writes, 1):.4f} per write; goal <= 1.01), "
              f"worker peak RSS {rss_mb:.0f} MB (goal <= 300), "
              f"worker CPU {cpu_seconds:.1f} s ({cpu_seconds * 1000 / max(writes, 1):.2f} ms "
              f"per write; user {user:.1f} s, system {system:.1f} s), {seconds:.1f} s wall; "
              f"requests x latency / concurrency = {ideal:.1f} s "
              f"(ratio {seconds / ideal if ideal else float('nan'):.2f}; goal <= 1.3); "
              f"status {full.status}, conflicts {full.counts.get('conflict', 0)}")  # fmt: skip

        incremental, seconds = run("incremental")
        print(f"incremental, nothing changed: {incremental.requests_made} requests, "
              f"{seconds * 1000:.0f} ms, counts {incremental.counts}")  # fmt: skip
        return seconds_first / ideal if ideal else float("nan")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


# Run in the child: manage.py as usual, then its own peak RSS on stderr as it exits. The kernel's
# figures for children (getrusage RUSAGE_CHILDREN, wait4) count the pages a child shared with
# this process between fork and exec, so they reported this process's size (the whole data
# set: 696 MB at 100,000 entries) instead of the sync's. /proc/self/status VmHWM is the peak of
# the program the child runs.
_MEASURED_MANAGE = (
    "import atexit, resource, runpy, sys\n"
    "def report():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('peak-rss-kb', line.split()[1], file=sys.stderr)\n"
    "    usage = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    print('cpu-seconds', usage.ru_utime, usage.ru_stime, file=sys.stderr)\n"
    "atexit.register(report)\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def _first_sync_in_a_worker_process(
    first: datetime, last: datetime
) -> tuple[Any, float, float, float]:
    """`manage.py sync --window` in a process of its own, so its peak RSS and CPU seconds (all
    its threads, user and system) are the worker's (this process holds the whole data set to
    seed the doubles)."""
    from django.conf import settings

    from apps.sync.models import Run
    from config.embedded_db import database_url

    env = {**os.environ, "DATABASE_URL": database_url(settings.DATABASES["default"])}
    child = subprocess.Popen(
        [sys.executable, "-c", _MEASURED_MANAGE, str(ROOT / "manage.py"), "sync", "--window",
         first.date().isoformat(), last.date().isoformat()],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _, errors = child.communicate()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    peaks = [line.split()[1] for line in errors.splitlines() if line.startswith("peak-rss-kb")]
    if not peaks:
        raise RuntimeError(f"the sync did not report its peak memory:\n{errors[-2000:]}")
    rss_mb = int(peaks[-1]) / 1024
    cpu = [line.split()[1:] for line in errors.splitlines() if line.startswith("cpu-seconds ")]
    run = Run.objects.order_by("-pk").first()
    assert run is not None
    return run, rss_mb, float(cpu[-1][0]), float(cpu[-1][1])


def bench_reconcile(count: int) -> None:
    import tracemalloc
    from zoneinfo import ZoneInfo

    from apps.core.collector import tune_for_batch_work

    # As the worker and `manage.py sync` start: the collector tuned before any data arrives
    # (what is alive now, Django and the apps, is frozen; the inputs below are not).
    tune_for_batch_work()

    from apps.connectors.base import (
        ReferenceActivity,
        ReferenceCustomer,
        ReferenceData,
        ReferenceProject,
        ReferenceUser,
    )
    from apps.connectors.entry import (
        ActivityRef,
        AgentRef,
        OrganizationRef,
        ProjectRef,
        TicketRef,
        TimeEntry,
    )
    from apps.mappings.engine import MappingContext, marker_for, plan_timesheet
    from apps.mappings.models import MappingProfile
    from apps.mappings.rules import RuleSpec
    from apps.sync.reconcile import KimaiIndex, Reconciler

    reference = ReferenceData(
        users=tuple(
            ReferenceUser(str(i), f"u{i}", f"u{i}@example.com", f"User {i}", "Europe/Berlin")
            for i in range(1, 7)
        ),  # fmt: skip
        customers=(ReferenceCustomer("1", "ACME"),),
        projects=(ReferenceProject("1", "Support", "1"),),
        activities=(ReferenceActivity("1", "Support"),),
    )

    class Row:  # the few attributes MappingContext.from_rows reads from a rule row
        def __init__(self, pk: int, spec: RuleSpec) -> None:
            self.pk = pk
            for name, value in spec.model_dump().items():
                setattr(self, name, value)

    profile = MappingProfile(source_id=1, target_id=2)
    context = MappingContext.from_rows(
        profile,
        [Row(1, RuleSpec(name="all", project_id="1", activity_id="1"))],  # type: ignore[list-item]
        reference,
        {str(i): (str(i), "auto") for i in range(1, 7)}, {}, {}, datetime.now(UTC),
    )  # fmt: skip
    start = datetime(2025, 1, 6, 8, tzinfo=UTC)
    entries = [
        TimeEntry(
            source_kind="zammad",
            connection_id=1,
            external_id=str(i),
            booked_at=start + timedelta(minutes=7 * i),
            duration_seconds=900,
            ticket=TicketRef(str(1000 + i % 5000), str(30000 + i % 5000), "Printer"),
            organization=OrganizationRef("1", "ACME"),
            agent=AgentRef(str(1 + i % 6)),
            activity=ActivityRef("1", "Support"),
        )  # fmt: skip
        for i in range(count)
    ]
    sheets = [
        TimeEntry(
            source_kind="kimai",
            connection_id=2,
            external_id=str(100000 + i),
            booked_at=e.booked_at - timedelta(minutes=15),
            duration_seconds=900,
            begin=e.booked_at - timedelta(minutes=15),
            end=e.booked_at,
            agent=AgentRef(e.agent.id if e.agent else "1"),
            project=ProjectRef("1"),
            activity=ActivityRef("1"),
            description=f"#{e.ticket.number if e.ticket else ''} Printer {marker_for(e)}",
        )  # fmt: skip
        for i, e in enumerate(entries)
    ]
    zones = {str(i): ZoneInfo("Europe/Berlin") for i in range(1, 7)}

    def reconcile() -> set[str]:
        plans = {e.external_id: plan_timesheet(e, context) for e in entries}
        index = KimaiIndex.build(sheets, 1, set(), zones, ZoneInfo("UTC"))
        reconciler = Reconciler(1, index, {}, zones=zones)
        return {reconciler.decide(e, plans[e.external_id]).outcome for e in entries}

    cpu = time.process_time()
    outcomes = reconcile()
    cpu = time.process_time() - cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # A second pass under tracemalloc (which slows it down) for the memory it allocates.
    tracemalloc.start()
    reconcile()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"reconcile: {count} entries against {count} timesheets in {cpu:.2f} s CPU, "
          f"peak traced memory {peak / 2**20:.0f} MB (process max RSS {rss_mb:.0f} MB, "
          f"inputs and Django included); "
          f"outcomes {sorted(outcomes)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--reconcile", type=int, default=100_000)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="sync this many times, each into an empty Kimai (on a shared machine one run's "
        "wall time moves by 5 %%: compare medians)",
    )
    args = parser.parse_args()
    _setup()
    if args.reconcile:
        bench_reconcile(args.reconcile)
    if args.skip_sync:
        return
    ratios = []
    for repeat in range(args.repeat):
        if repeat:
            from django.core.management import call_command

            call_command("flush", verbosity=0, interactive=False)
        ratios.append(bench_sync(args.entries, args.latency_ms))
    if len(ratios) > 1:
        shown = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"first sync over {len(ratios)} runs: ratio {shown}; "
              f"median {statistics.median(ratios):.2f} (goal <= 1.3)")  # fmt: skip


if __name__ == "__main__":
    main()
