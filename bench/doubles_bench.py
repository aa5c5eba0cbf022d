"""CPU per request of the Zammad and Kimai doubles at bench size. Prints figures; asserts nothing.

    .venv/bin/python -m bench.doubles_bench [--entries 100000] [--creates 2000] [--listings 200]
                                            [--preload 0]

Starts ``tests.doubles.serve`` (no latency) in a process of its own and drives it over HTTP on
127.0.0.1 the way the sync does: every page of Zammad's global time accountings list (newest
first, 1,000 a page), the ticket searches by id that follow them (200 ids a request), then
``--preload`` Kimai creates that are not measured, ``--creates`` measured ones and
``--listings`` listings of a day (``user=all``, ``begin``/``end``, ``orderBy=begin``,
``full=true``, 500 a page) and a marker search (``term``) per ten listings. Each kind's figure
is the doubles process's CPU (utime + stime from /proc) spent while it ran, per request.
"""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil

from bench.sync_bench import _serve_doubles

ZAMMAD_PAGE = 1000
TICKET_SEARCH_PAGE = 200
KIMAI_PAGE = 500
BERLIN = ZoneInfo("Europe/Berlin")  # the zone of the sync's Kimai user in the data set


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _measure(pid: int, label: str, requests: Callable[[], int]) -> None:
    before, started = _cpu_seconds(pid), time.perf_counter()
    count = requests()
    cpu, wall = _cpu_seconds(pid) - before, time.perf_counter() - started
    print(
        f"{label}: {count} requests, {cpu:.2f} s CPU of the doubles, "
        f"{cpu * 1000 / max(count, 1):.2f} ms CPU per request ({wall:.1f} s wall)",
        flush=True,
    )


def _zammad_pages(zammad: httpx.Client, ticket_ids: set[int]) -> int:
    count, page = 0, 1
    while True:
        params: dict[str, Any] = {"sort_by": "created_at,id", "order_by": "desc,desc"}
        params["per_page"] = ZAMMAD_PAGE
        response = zammad.get("/api/v1/time_accountings", params={**params, "page": page})
        response.raise_for_status()
        rows = response.json()
        count += 1
        ticket_ids.update(row["ticket_id"] for row in rows)
        if len(rows) < ZAMMAD_PAGE:
            return count
        page += 1


def _ticket_searches(zammad: httpx.Client, ticket_ids: set[int]) -> int:
    ids = sorted(ticket_ids)
    for start in range(0, len(ids), TICKET_SEARCH_PAGE):
        chunk = [str(i) for i in ids[start : start + TICKET_SEARCH_PAGE]]
        body = {
            "condition": {"ticket.id": {"operator": "is", "value": chunk}},
            "sort_by": "id",
            "order_by": "asc",
            "per_page": TICKET_SEARCH_PAGE,
            "page": 1,
            "expand": True,
        }
        zammad.post("/api/v1/tickets/search", json=body).raise_for_status()
    return -(-len(ids) // TICKET_SEARCH_PAGE)


class KimaiDriver:
    start = datetime(2025, 1, 6, 7, tzinfo=UTC)

    def __init__(self, kimai: httpx.Client) -> None:
        self.kimai = kimai
        self.users = [u["id"] for u in kimai.get("/api/users").json()]
        self.projects = [
            p["id"] for p in kimai.get("/api/projects").json() if p.get("globalActivities")
        ]
        self.activities = [
            a["id"] for a in kimai.get("/api/activities").json() if a.get("project") is None
        ]
        self.created = 0

    def create(self, count: int) -> int:
        made = 0
        while made < count:
            i = self.created
            self.created += 1
            # Wall times in the token user's zone; a record across a DST change is left out.
            begin = (self.start + timedelta(minutes=7 * i)).astimezone(BERLIN)
            end = (begin + timedelta(minutes=15)).astimezone(BERLIN)
            if begin.utcoffset() != end.utcoffset():
                continue
            body: dict[str, Any] = {
                "begin": begin.strftime("%Y-%m-%dT%H:%M:%S"),
                "end": end.strftime("%Y-%m-%dT%H:%M:%S"),
                "project": self.projects[i % len(self.projects)],
                "activity": self.activities[i % len(self.activities)],
                "description": f"#{30000 + i % 500} Printer on fire zk-{i + 1}",
                "tags": "",
                "user": self.users[i % len(self.users)],
            }
            response = self.kimai.post("/api/timesheets", params={"full": "true"}, json=body)
            if response.status_code != 200:
                raise RuntimeError(f"{body} refused: {response.text}")
            made += 1
        return count

    def listings(self, count: int) -> int:
        """Windows of a day spread over what was created, first page (the sync's read)."""
        span = timedelta(minutes=7 * max(self.created, 1))
        for n in range(count):
            begin = (self.start + span * (n / count)).astimezone(BERLIN)
            params: dict[str, Any] = {
                "user": "all",
                "begin": begin.strftime("%Y-%m-%dT%H:%M:%S"),
                "end": (begin + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "orderBy": "begin",
                "order": "ASC",
                "full": "true",
                "size": KIMAI_PAGE,
                "page": 1,
            }
            self.kimai.get("/api/timesheets", params=params).raise_for_status()
        return count

    def marker_searches(self, count: int) -> int:
        """``term=<marker>`` over everything (the sync's look before re-sending a create)."""
        for n in range(count):
            marker = f"zk-{n * 7919 % max(self.created, 1) + 1}"
            params = {"user": "all", "term": marker, "orderBy": "id", "order": "ASC"}
            params |= {"full": "true", "size": str(KIMAI_PAGE), "page": "1"}
            self.kimai.get("/api/timesheets", params=params).raise_for_status()
        return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--listings", type=int, default=200)
    parser.add_argument("--preload", type=int, default=0)
    args = parser.parse_args()

    from tests.doubles.dataset import scaled_dataset

    dataset = scaled_dataset(1)  # the tokens only: they do not depend on the size
    started = time.perf_counter()
    process, zammad_url, kimai_url = _serve_doubles(args.entries, 0)
    print(f"doubles up with {args.entries} entries in {time.perf_counter() - started:.1f} s")
    pid = process.pid
    zammad = httpx.Client(
        base_url=zammad_url,
        headers={"Authorization": f"Token token={dataset.zammad_token}"},
        timeout=600,
    )
    kimai = httpx.Client(
        base_url=kimai_url,
        headers={"Authorization": f"Bearer {dataset.kimai_token}"},
        timeout=600,
    )
    try:
        ticket_ids: set[int] = set()
        _measure(pid, "Zammad time accountings pages", lambda: _zammad_pages(zammad, ticket_ids))
        _measure(pid, "Zammad ticket searches", lambda: _ticket_searches(zammad, ticket_ids))
        driver = KimaiDriver(kimai)
        if args.preload:
            _measure(pid, "Kimai preload creates", lambda: driver.create(args.preload))
        _measure(pid, "Kimai creates", lambda: driver.create(args.creates))
        _measure(pid, "Kimai window listings", lambda: driver.listings(args.listings))
        searches = max(1, args.listings // 10)
        _measure(pid, "Kimai marker searches", lambda: driver.marker_searches(searches))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


if __name__ == "__main__":
    main()
