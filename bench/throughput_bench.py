"""Throughput of a first sync with the adaptive limit on requests at once. Prints; asserts nothing.

    .venv/bin/python -m bench.throughput_bench [--entries 10000] [--latency-ms 20]
                                               [--only roomy|proxy] [--repeat 1]

1. *roomy*: Kimai answers up to 32 requests at once. The adaptive pool (the default: start at 2,
   ceiling 16): wall time and requests per write (goals: <= 25 s, <= 1.02 for 10,000 entries).
2. *proxy*: Kimai sits behind a proxy that serves 4 at once and answers 429 (Retry-After: 1)
   beyond (``max_in_flight`` of apps/connectors/testkit/double.py). Side by side, a fixed 4 at
   once (adaptive off; the best fixed setting: 5 or more meets 429s on every round) and the
   adaptive pool:
   requests, 429s, wall, p95 of Kimai's answers (goals for the adaptive pool: nothing lost,
   <= 2 % answered 429, wall within 1.2 x the fixed 4).

"our CPU" is the sync's own process (all its threads): with one GIL, a run cannot be faster than
its CPU time, whatever the concurrency; on a loaded machine wall grows with the load average
(printed). "Nothing lost" is checked by a second window run over the same entries: it must find
every entry in Kimai (no create left) and nothing twice (no conflict more than the first run's).
Each setting runs against freshly started doubles (in their own process, like the real servers)
and an emptied database (DATA_DIR=var/bench).
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench.sync_bench import _serve_doubles, _setup


@dataclass
class Outcome:
    name: str
    wall: float
    cpu: float
    requests: int
    writes: int
    refused_429: int
    p95_ms: float
    peak: int
    limit: int
    reason: str
    failed: int
    missing_after: int
    conflicts_added: int

    def row(self) -> str:
        per_write = self.requests / max(self.writes, 1)
        share = 100 * self.refused_429 / max(self.requests, 1)
        return (
            f"{self.name:<22} {self.requests:>8} {per_write:>8.3f} {self.refused_429:>6} "
            f"{share:>6.2f} % {self.wall:>7.1f} s {self.cpu:>7.1f} s {self.p95_ms:>7.1f} ms "
            f"{self.peak:>5} {self.limit:>5}   {self.failed} failed, {self.missing_after} "
            f"missing, {self.conflicts_added} doubled; last change: {self.reason}"
        )


HEADER = (
    f"{'setting':<22} {'requests':>8} {'per write':>8} {'429s':>6} {'share':>8} "
    f"{'wall':>9} {'our CPU':>9} {'p95 Kimai':>10} {'peak':>5} {'end':>5}"
)


def sync_once(
    name: str, entries: int, latency_ms: float, http: dict[str, Any], *serve_flags: str
) -> Outcome:
    from django.core.management import call_command

    from apps.connectors.models import Connection
    from apps.sync.engine import execute_run
    from apps.sync.models import Run
    from apps.sync.services import request_run
    from tests.doubles.dataset import scaled_dataset
    from tests.doubles.kimai import KimaiDouble, seed_from_dataset
    from tests.sync.world import configure

    call_command("flush", verbosity=0, interactive=False)
    dataset = scaled_dataset(entries)
    ids = KimaiDouble()  # seeded like the served one, to look up project and activity ids
    seed_from_dataset(ids, dataset)
    process, zammad_url, kimai_url = _serve_doubles(entries, latency_ms, *serve_flags)
    try:
        zammad = Connection.objects.create(
            kind="zammad", name="Zammad", base_url=zammad_url,
            token=dataset.zammad_token, settings={"time_unit": "minute"},
        )  # fmt: skip
        kimai = Connection.objects.create(
            kind="kimai", name="Kimai", base_url=kimai_url, token=dataset.kimai_token,
            settings={"http": http} if http else {},
        )  # fmt: skip
        profile = configure(zammad, kimai, ids)
        start = min(e.created_at for e in dataset.entries) - timedelta(days=1)
        end = max(e.created_at for e in dataset.entries) + timedelta(days=1)

        def window_run() -> tuple[Run, float]:
            queued, _ = request_run(
                profile, scope="window", trigger="cli", actor="bench", enqueue=False,
                start=start, end=end,
            )  # fmt: skip
            began = time.perf_counter()
            finished = execute_run(queued.pk)
            assert finished is not None
            return finished, time.perf_counter() - began

        cpu = time.process_time()
        first, wall = window_run()
        cpu = time.process_time() - cpu
        again, _ = window_run()  # finds every entry in Kimai, or says what is missing
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    figures = first.figures["kimai"]
    return Outcome(
        name=name,
        wall=wall,
        cpu=cpu,
        requests=first.requests_made,
        writes=first.results.get("written", 0),
        refused_429=figures["overloads"].get("rate_limited", 0),
        p95_ms=figures["p95_ms"],
        peak=figures["peak"],
        limit=figures["limit"],
        reason=figures["reason"],
        failed=first.results.get("failed", 0) + first.results.get("uncertain", 0),
        missing_after=again.counts.get("create", 0),
        conflicts_added=again.counts.get("conflict", 0) - first.counts.get("conflict", 0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--only", choices=("roomy", "proxy"))
    parser.add_argument("--repeat", type=int, default=1, help="proxy settings, interleaved")
    args = parser.parse_args()
    _setup()
    n, ms = args.entries, args.latency_ms
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{n} entries, doubles at {ms:g} ms, first sync into an empty Kimai; "
          f"{os.cpu_count()} cores, load average {load}", flush=True)  # fmt: skip
    if args.only in (None, "roomy"):
        roomy = sync_once("adaptive (ceiling 16)", n, ms, {}, "--kimai-max-in-flight", "32")
        print("\nKimai answers up to 32 at once\n" + HEADER + "\n" + roomy.row(), flush=True)
    if args.only in (None, "proxy"):
        proxy = ("--kimai-max-in-flight", "4", "--kimai-retry-after", "1")
        fixed = {"max_concurrent_requests": 4, "adaptive_concurrency": False}
        print("\nKimai behind a proxy: 4 at once, 429 with Retry-After: 1 beyond\n" + HEADER)
        fixed_walls, adaptive_walls = [], []
        for _ in range(args.repeat):  # interleaved, so a change in the machine's load hits both
            row = sync_once("fixed 4", n, ms, fixed, *proxy)
            fixed_walls.append(row.wall)
            print(row.row(), flush=True)
            row = sync_once("adaptive (ceiling 16)", n, ms, {}, *proxy)
            adaptive_walls.append(row.wall)
            print(row.row(), flush=True)
        ratio = min(adaptive_walls) / min(fixed_walls)
        print(f"adaptive wall / fixed 4 wall (best of {args.repeat} each) = {ratio:.2f}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end {load}")


if __name__ == "__main__":
    main()
