"""Webhook benchmarks on 127.0.0.1. Prints figures; asserts nothing.

    .venv/bin/python -m bench.webhook_bench [--senders 50] [--requests 1000] [--bookings 40]
        [--latency-ms 20]

1. Response time of POST /api/v1/webhooks/zammad under N concurrent senders (signed, distinct
   deliveries, random tickets): p50 and p99, served by gunicorn as in production.
2. Delay from a booking in the Zammad double to the timesheet in the Kimai double, through the
   double's real signed webhook, our endpoint and a worker process: p50 and p95, with every
   request to the doubles taking --latency-ms (goal: p50 <= 400 ms, p95 <= 800 ms at 20 ms).

Runs in its own embedded PostgreSQL (DATA_DIR=var/bench) so development data is untouched.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx

from bench import ROOT

SECRET = "bench-webhook-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_ready(url: str, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{url}{path} did not become ready")


def bench_senders(base: str, senders: int, total: int) -> None:
    latencies: list[float] = []
    lock = threading.Lock()
    per_sender = max(1, total // senders)

    def send(worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(per_sender):
                ticket = random.randint(50, 73)
                body = json.dumps({"article": {}, "ticket": {"id": ticket, "number": str(ticket)}})
                signature = hmac.new(SECRET.encode(), body.encode(), hashlib.sha1).hexdigest()
                started = time.perf_counter()
                response = client.post(
                    f"{base}/api/v1/webhooks/zammad", content=body,
                    headers={"Content-Type": "application/json", "X-Hub-Signature":
                             f"sha1={signature}", "X-Zammad-Delivery": f"bench-{worker}-{i}"},
                )  # fmt: skip
                elapsed = time.perf_counter() - started
                if response.status_code != 202:
                    raise SystemExit(f"unexpected {response.status_code}: {response.text}")
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    print(f"webhook under {senders} concurrent senders: {len(latencies)} requests in {wall:.1f} s "
          f"({len(latencies) / wall:.0f}/s); p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p99 {_percentile(latencies, 0.99) * 1000:.0f} ms")  # fmt: skip


def bench_delay(zammad_url: str, kimai_url: str, kimai_token: str, bookings: int) -> None:
    delays: list[float] = []
    with httpx.Client(timeout=10) as client:
        for _ in range(bookings):
            started = time.perf_counter()
            entry = client.post(
                f"{zammad_url}/__double__/book",
                json={"ticket_id": 50, "agent": 4, "time_unit": "15", "type_id": 1},
            ).json()
            marker = f"zks-1-{entry['id']}-z"
            while True:
                found = client.get(
                    f"{kimai_url}/api/timesheets",
                    params={"user": "all", "term": marker},
                    headers={"Authorization": f"Bearer {kimai_token}"},
                ).json()
                if found:
                    delays.append(time.perf_counter() - started)
                    break
                if time.perf_counter() - started > 30:
                    raise SystemExit(f"entry {entry['id']} never reached Kimai")
                time.sleep(0.02)
            time.sleep(0.3)  # bookings a person apart, not one burst
    print(f"booking in Zammad to timesheet in Kimai ({bookings} bookings): "
          f"p50 {statistics.median(delays) * 1000:.0f} ms, "
          f"p95 {_percentile(delays, 0.95) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--bookings", type=int, default=40)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("flush", verbosity=0, interactive=False)

    from django.conf import settings

    from apps.connectors.models import Connection
    from tests.doubles.dataset import demo_dataset
    from tests.doubles.kimai import KimaiDouble, seed_from_dataset
    from tests.sync.world import configure

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "DATABASE_URL": _database_url(settings)}
    doubles = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.serve", "--zammad-port", "0", "--kimai-port", "0",
         "--weeks", "1", "--latency-ms", str(args.latency_ms),
         "--webhook-url", f"{base}/api/v1/webhooks/zammad",
         "--webhook-secret", SECRET],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert doubles.stdout is not None
    zammad_url = doubles.stdout.readline().split()[2]
    kimai_url = doubles.stdout.readline().split()[2]
    doubles.stdout.readline()
    dataset = demo_dataset(weeks=1)
    zammad = Connection.objects.create(
        kind="zammad", name="Zammad", base_url=zammad_url, token=dataset.zammad_token,
        settings={"time_unit": "minute"}, webhook_secret=SECRET,
    )  # fmt: skip
    kimai = Connection.objects.create(
        kind="kimai", name="Kimai", base_url=kimai_url, token=dataset.kimai_token
    )
    ids = KimaiDouble()
    seed_from_dataset(ids, dataset)
    configure(zammad, kimai, ids)
    web = _start(["run", "--without-worker", "--bind", f"127.0.0.1:{port}"], env)
    worker = None
    try:
        _wait_ready(base, "/healthz")
        bench_senders(base, args.senders, args.requests)
        call_command("flush", verbosity=0, interactive=False)  # the senders' runs go
        zammad = Connection.objects.create(
            kind="zammad", name="Zammad", base_url=zammad_url, token=dataset.zammad_token,
            settings={"time_unit": "minute"}, webhook_secret=SECRET,
        )  # fmt: skip
        kimai = Connection.objects.create(
            kind="kimai", name="Kimai", base_url=kimai_url, token=dataset.kimai_token
        )
        configure(zammad, kimai, ids)
        worker = _start(["worker"], env)
        _wait_ready(base, "/readyz")
        bench_delay(zammad_url, kimai_url, dataset.kimai_token, args.bookings)
    finally:
        for process in (web, worker, doubles):
            if process is not None:
                process.send_signal(signal.SIGTERM if process is not doubles else signal.SIGINT)
        for process in (web, worker, doubles):
            if process is not None:
                process.wait(timeout=60)


def _database_url(settings: object) -> str:
    from config.embedded_db import database_url

    return database_url(settings.DATABASES["default"])  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
