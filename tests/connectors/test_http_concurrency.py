"""The adaptive limit on requests in flight: up while answers are fine, halved on overload."""

from __future__ import annotations

import threading
import time

import httpx

from apps.connectors.concurrency import AdaptiveLimit, behind_others
from apps.connectors.http import HttpTuning, OutboundHttpClient


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answer_round(limit: AdaptiveLimit, seconds: float = 0.02) -> None:
    """One round of answers: as many as the limit allows, all fine."""
    tickets = [limit.acquire() for _ in range(limit.limit)]
    for ticket in tickets:
        limit.answered(ticket, seconds)


def refuse_when_full(limit: AdaptiveLimit, kind: str = "rate_limited") -> None:
    """As many requests as the limit allows; the server refuses the last one."""
    tickets = [limit.acquire() for _ in range(limit.limit)]
    limit.overloaded(tickets[-1], kind, None)  # type: ignore[arg-type]
    for ticket in tickets[:-1]:
        limit.answered(ticket, 0.02)


def test_it_starts_low_and_adds_one_request_per_round_of_fine_answers() -> None:
    limit = AdaptiveLimit(16, clock=Clock())
    seen = [limit.limit]
    for _ in range(4):
        answer_round(limit)
        seen.append(limit.limit)

    assert seen == [2, 3, 4, 5, 6]
    assert limit.reason == "answers came back fine and no slower"


def test_it_never_goes_above_the_ceiling() -> None:
    limit = AdaptiveLimit(5, clock=Clock())
    for _ in range(20):
        answer_round(limit)

    assert limit.limit == 5
    assert limit.peak == 5


def test_a_ceiling_of_one_sends_one_request_at_a_time() -> None:
    limit = AdaptiveLimit(1, clock=Clock())
    for _ in range(5):
        answer_round(limit)

    assert limit.limit == 1


def test_it_halves_on_a_429_and_says_why() -> None:
    limit = AdaptiveLimit(16, clock=Clock())
    for _ in range(6):
        answer_round(limit)
    assert limit.limit == 8

    tickets = [limit.acquire() for _ in range(8)]
    limit.overloaded(tickets[0], "rate_limited", None)
    for ticket in tickets[1:]:  # sent under the old limit: they say nothing new
        limit.overloaded(ticket, "rate_limited", None)

    assert limit.limit == 4
    assert limit.reason == "the server answered 429 (too many requests)"
    assert limit.figures()["overloads"] == {"rate_limited": 8}
    assert limit.figures()["decreases"] == {"rate_limited": 1}


def test_it_halves_on_a_503_and_on_a_timeout() -> None:
    limit = AdaptiveLimit(16, start=8, clock=Clock())
    refuse_when_full(limit, "busy")
    assert limit.limit == 4
    refuse_when_full(limit, "timeout")
    assert limit.limit == 2
    assert limit.reason == "a request timed out"


def test_it_halves_when_answers_become_slower_two_rounds_in_a_row() -> None:
    limit = AdaptiveLimit(16, clock=Clock())
    for _ in range(6):
        answer_round(limit, 0.02)
    assert limit.limit == 8

    answer_round(limit, 0.08)
    assert limit.limit == 8  # one slow round: wait for the next
    answer_round(limit, 0.09)

    assert limit.limit == 4
    assert limit.reason == "answers became slower (median 90 ms, was 20 ms)"


def test_one_slow_round_between_fine_ones_changes_nothing() -> None:
    """Our own pause (the collector, a batch being planned) delays every answer in flight at
    once; it says nothing about the server."""
    limit = AdaptiveLimit(16, start=8, clock=Clock())
    for seconds in (0.02, 0.02, 0.08, 0.02, 0.09, 0.02):
        answer_round(limit, seconds)

    assert limit.figures()["decreases"] == {}
    assert limit.limit == 12  # up by one for each fine round, the slow ones held it


def test_it_ignores_jitter_on_a_fast_server() -> None:
    limit = AdaptiveLimit(16, clock=Clock())
    for seconds in (0.001, 0.003, 0.001, 0.004):
        answer_round(limit, seconds)

    assert limit.limit == 6


def test_it_stays_below_the_level_the_server_refused_until_it_tries_again() -> None:
    clock = Clock()
    limit = AdaptiveLimit(16, start=5, clock=clock)
    refuse_when_full(limit)  # refused with 5 in flight
    for _ in range(10):
        answer_round(limit)
    assert limit.limit == 4

    clock.now += 11  # the first wait before trying 5 again is 10 s
    answer_round(limit)
    assert limit.limit == 5


def test_it_waits_twice_as_long_after_each_refused_try() -> None:
    clock = Clock()
    limit = AdaptiveLimit(16, start=5, clock=clock)
    refuse_when_full(limit)
    for _ in range(5):
        answer_round(limit)
    clock.now += 11
    answer_round(limit)
    assert limit.limit == 5
    refuse_when_full(limit)  # refused again with 5 in flight
    for _ in range(5):
        answer_round(limit)

    clock.now += 11
    answer_round(limit)
    assert limit.limit == 4
    clock.now += 10
    answer_round(limit)
    assert limit.limit == 5


def test_a_request_sent_behind_others_lets_a_waiting_one_go_first() -> None:
    """A sync's queued writes (sent behind others) do not keep the run's own read waiting."""
    limit = AdaptiveLimit(1, adaptive=False, clock=Clock())
    held = limit.acquire()
    order: list[str] = []

    def take(name: str, behind: bool) -> None:
        if behind:
            with behind_others():
                ticket = limit.acquire()
        else:
            ticket = limit.acquire()
        order.append(name)
        limit.answered(ticket, 0.02)

    write = threading.Thread(target=take, args=("write", True))
    write.start()
    read = threading.Thread(target=take, args=("read", False))
    read.start()
    deadline = time.monotonic() + 5
    while limit._first_waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # the read waits for the slot the test holds
    limit.answered(held, 0.02)
    for thread in (write, read):
        thread.join(5)

    assert order == ["read", "write"]


def test_a_retry_after_holds_back_every_request_of_the_connection() -> None:
    arrivals: list[tuple[float, int]] = []
    lock = threading.Lock()
    first = threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            arrivals.append((time.monotonic(), len(arrivals)))
            number = len(arrivals)
        if number == 1:
            first.set()
            return httpx.Response(429, headers={"Retry-After": "1"}, json={})
        return httpx.Response(200, json={})

    client = OutboundHttpClient(
        service="Kimai",
        base_url="https://kimai.example.com",
        headers={},
        tuning=HttpTuning(max_concurrent_requests=4),
        transport=httpx.MockTransport(handler),
    )
    refused = threading.Thread(target=client.get, args=("/api/a",))
    refused.start()
    first.wait(5)
    time.sleep(0.05)  # the 429 has been read: the pause is on
    others = [threading.Thread(target=client.get, args=(f"/api/{i}",)) for i in range(3)]
    for thread in [*others]:
        thread.start()
    for thread in [refused, *others]:
        thread.join(10)

    refused_at = arrivals[0][0]
    assert len(arrivals) == 5
    assert all(at >= refused_at + 1.0 for at, _ in arrivals[1:])
    assert client.limit.figures()["paused_seconds"] == 1.0


def test_it_finds_a_servers_capacity_without_a_storm_of_429s() -> None:
    in_flight = 0
    most = 0
    refused = 0
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most, refused
        with lock:
            if in_flight >= 3:
                refused += 1
                return httpx.Response(429, json={})
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.005)
        with lock:
            in_flight -= 1
        return httpx.Response(200, json={})

    client = OutboundHttpClient(
        service="Kimai",
        base_url="https://kimai.example.com",
        headers={},
        tuning=HttpTuning(max_concurrent_requests=16),
        transport=httpx.MockTransport(handler),
        sleep=lambda _s: None,
    )
    work = list(range(400))

    def worker() -> None:
        while True:
            with lock:
                if not work:
                    return
                work.pop()
            client.get("/api/timesheets")

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert client.request_count == 400 + refused
    assert refused <= 8  # 2 %
    assert client.limit.limit <= 3


def test_with_adaptive_concurrency_off_it_keeps_the_ceiling() -> None:
    limit = AdaptiveLimit(4, adaptive=False, clock=Clock())
    refuse_when_full(limit)
    answer_round(limit, 0.5)

    assert limit.limit == 4
    assert limit.figures()["overloads"] == {"rate_limited": 1}


def test_it_remembers_how_many_were_in_flight_when_refused_not_the_limit() -> None:
    clock = Clock()
    limit = AdaptiveLimit(16, start=8, clock=clock)
    tickets = [limit.acquire() for _ in range(3)]  # only 3 of 8 in flight
    limit.overloaded(tickets[-1], "rate_limited", None)
    for ticket in tickets[:-1]:
        limit.answered(ticket, 0.02)
    for _ in range(5):
        answer_round(limit)

    assert limit.limit == 2
