"""A backlog of runs done by 1, 2 and 4 worker processes. Prints figures; asserts nothing.

    .venv/bin/python -m bench.workers_bench [--entries 4000] [--pairs 1 4] [--runs 16]
                                            [--workers 1 2 4] [--concurrency 1]
                                            [--latency-ms 20] [--ceiling 8]

The same backlog for each number of workers: ``--entries`` Zammad time accountings in all, split
evenly over each pair of ``--pairs`` (each pair its own Zammad and Kimai doubles, in a process of
their own at ``--latency-ms``, like separate servers), and ``--runs`` window runs in all, a slice
of its pair's entries each, queued at once after the workers are ready (their heartbeats). Each
worker is `manage.py worker` with WORKER_CONCURRENCY=``--concurrency`` (so with 1, the number of
workers is the number of processes running runs). Prints, per setting: wall (first run queued
to last run finished), speed-up against one worker, requests and Kimai writes of the runs,
duplicates (timesheets in the Kimai doubles that share a marker; must be 0), runs that did not
succeed, the most database connections open at once, and the load average. A pair's runs go
one after another (its lock), so more workers shorten a backlog spread over pairs, not one
pair's.

``--ceiling``: the Kimai connections' requests at once, at most (16 by default in the service).
A run sends on that many threads, which touch no database: a run needs one connection
whatever the ceiling (runs used to need twice the ceiling plus two, and four at once at 16
failed with "too many clients already" against PostgreSQL's default 100).

Runs in its own embedded PostgreSQL (DATA_DIR=var/bench), emptied for each setting.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.sync_bench import ROOT, _serve_doubles, _setup


@dataclass
class Pair:
    doubles: subprocess.Popen[str]
    profile: Any
    start: datetime
    end: datetime


@dataclass
class Outcome:
    wall: float
    requests: int
    writes: int
    duplicates: int
    not_succeeded: int
    peak_connections: int
    load: tuple[float, float, float]


def _pairs(count: int, entries: int, latency_ms: float, ceiling: int) -> list[Pair]:
    from apps.connectors.models import Connection
    from tests.doubles.dataset import scaled_dataset
    from tests.doubles.kimai import KimaiDouble, seed_from_dataset
    from tests.sync.world import configure

    dataset = scaled_dataset(entries)
    ids = KimaiDouble()  # seeded like the served ones, to look up project and activity ids
    seed_from_dataset(ids, dataset)
    pairs = []
    for i in range(1, count + 1):
        process, zammad_url, kimai_url = _serve_doubles(entries, latency_ms)
        zammad = Connection.objects.create(
            kind="zammad", name=f"Zammad {i}", base_url=zammad_url,
            token=dataset.zammad_token, settings={"time_unit": "minute"},
        )  # fmt: skip
        kimai = Connection.objects.create(
            kind="kimai", name=f"Kimai {i}", base_url=kimai_url, token=dataset.kimai_token,
            settings={"http": {"max_concurrent_requests": ceiling}},
        )  # fmt: skip
        start = min(e.created_at for e in dataset.entries) - timedelta(days=1)
        end = max(e.created_at for e in dataset.entries) + timedelta(days=1)
        pairs.append(Pair(process, configure(zammad, kimai, ids), start, end))
    return pairs


def _queue_backlog(pairs: list[Pair], runs: int) -> set[int]:
    """``runs`` window runs in all, each a slice of its pair's span, the pairs taking turns."""
    from apps.sync.services import request_run

    per_pair = max(1, runs // len(pairs))
    ids = set()
    for n in range(per_pair):
        for pair in pairs:
            step = (pair.end - pair.start) / per_pair
            run, _ = request_run(
                pair.profile, scope="window", trigger="cli", actor="bench",
                start=pair.start + n * step, end=pair.start + (n + 1) * step,
            )  # fmt: skip
            ids.add(run.pk)
    return ids


def _start_workers(count: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    from django.conf import settings

    from apps.core.models import WorkerHeartbeat
    from config.embedded_db import database_url

    env = {
        **os.environ,
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "WORKER_CONCURRENCY": str(concurrency),
        "WORKER_HEARTBEAT_INTERVAL": "1",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(count)
    ]
    while WorkerHeartbeat.objects.count() < count:  # ready: each has beaten once
        if any(w.poll() is not None for w in workers):
            raise SystemExit("a worker exited before it was ready")
        time.sleep(0.2)
    return workers


def _duplicates(pairs: list[Pair]) -> int:
    """Timesheets in the Kimai doubles beyond the first with each marker."""
    duplicates = 0
    for pair in pairs:
        prefix = f"zks-{pair.profile.source_id}-"
        with pair.profile.target.connector() as kimai:
            sheets = kimai.fetch_timesheets_in_window(pair.start, pair.end)
            markers = Counter(
                word
                for sheet in sheets
                for word in (sheet.description or "").split()
                if word.startswith(prefix)
            )
        duplicates += sum(n - 1 for n in markers.values())
    return duplicates


def _connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def backlog_once(workers: int, pair_count: int, args: argparse.Namespace) -> Outcome:
    from django.core.management import call_command
    from django.db.models import Max, Min

    from apps.sync.models import Run
    from tests.support.processes import stop_process_tree

    call_command("flush", verbosity=0, interactive=False)
    pairs = _pairs(pair_count, args.entries // pair_count, args.latency_ms, args.ceiling)
    started: list[subprocess.Popen[bytes]] = []
    peak = 0
    try:
        started = _start_workers(workers, args.concurrency)
        ids = _queue_backlog(pairs, args.runs)
        done = Run.objects.filter(pk__in=ids, finished_at__isnull=False)
        while done.count() < len(ids):
            if all(worker.poll() is not None for worker in started):
                raise SystemExit("every worker exited before the backlog was done")
            peak = max(peak, _connections())
            time.sleep(0.2)
        load = os.getloadavg()
        span = Run.objects.filter(pk__in=ids).aggregate(Min("created_at"), Max("finished_at"))
        finished = list(Run.objects.filter(pk__in=ids))
        duplicates = _duplicates(pairs)
    finally:
        for worker in started:
            stop_process_tree(worker)
        for pair in pairs:
            pair.doubles.send_signal(signal.SIGINT)
            pair.doubles.wait(timeout=30)
    return Outcome(
        wall=(span["finished_at__max"] - span["created_at__min"]).total_seconds(),
        requests=sum(run.requests_made for run in finished),
        writes=sum(run.results.get("written", 0) for run in finished),
        duplicates=duplicates,
        not_succeeded=sum(run.status != Run.Status.SUCCEEDED for run in finished),
        peak_connections=peak,
        load=load,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=4_000, help="in all, over the pairs")
    parser.add_argument("--pairs", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--runs", type=int, default=16, help="window runs in all")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=1, help="WORKER_CONCURRENCY each")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--ceiling", type=int, default=8, help="Kimai requests at once, at most")
    args = parser.parse_args()
    _setup()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{args.entries} entries, {args.runs} window runs, doubles at {args.latency_ms:g} ms, "
          f"Kimai at most {args.ceiling} at once, WORKER_CONCURRENCY={args.concurrency}; "
          f"{os.cpu_count()} cores, load average {load}", flush=True)  # fmt: skip
    for pair_count in args.pairs:
        print(f"\n{pair_count} pair(s), {args.entries // pair_count} entries each")
        print(f"{'workers':>7} {'wall':>8} {'speed-up':>8} {'requests':>8} {'writes':>7} "
              f"{'dupl.':>5} {'not ok':>6} {'DB conn.':>8}  load average")  # fmt: skip
        first_wall = None
        for workers in args.workers:
            row = backlog_once(workers, pair_count, args)
            first_wall = first_wall or row.wall
            load = ", ".join(f"{x:.1f}" for x in row.load)
            print(f"{workers:>7} {row.wall:>6.1f} s {first_wall / row.wall:>7.2f}x "
                  f"{row.requests:>8} {row.writes:>7} {row.duplicates:>5} {row.not_succeeded:>6} "
                  f"{row.peak_connections:>8}  {load}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
