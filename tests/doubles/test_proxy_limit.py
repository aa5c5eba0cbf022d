"""A double behind a rate-limiting proxy: up to N requests at once, 429 with Retry-After beyond
(nginx limit_conn, docs/reference/kimai-api.md §1)."""

from __future__ import annotations

import threading

import httpx

from tests.doubles.dataset import demo_dataset
from tests.doubles.kimai import KimaiDouble, seed_from_dataset


def _kimai_behind_proxy(max_in_flight: int, retry_after: int | None = 1) -> KimaiDouble:
    double = KimaiDouble()
    seed_from_dataset(double, demo_dataset(weeks=1))
    double.latency = 0.3  # long enough that all requests below arrive while the first are served
    double.max_in_flight = max_in_flight
    double.in_flight_retry_after = retry_after
    return double


def _fire_at_once(double: KimaiDouble, count: int) -> list[httpx.Response]:
    token = demo_dataset(weeks=1).kimai_token
    client = httpx.Client(
        transport=double.transport(),
        base_url="http://kimai.test",
        headers={"Authorization": f"Bearer {token}"},
    )
    start = threading.Barrier(count)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        start.wait()
        answer = client.get("/api/version")
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return answers


def test_it_serves_up_to_n_at_once_and_answers_429_with_retry_after_beyond() -> None:
    double = _kimai_behind_proxy(2)
    answers = _fire_at_once(double, 6)

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 429, 429, 429, 429]
    refused = [a for a in answers if a.status_code == 429]
    assert {a.headers["retry-after"] for a in refused} == {"1"}
    assert "429 Too Many Requests" in refused[0].text
    assert double.most_in_flight == 2


def test_refused_requests_never_reach_kimai() -> None:
    double = _kimai_behind_proxy(2)
    _fire_at_once(double, 5)

    assert len(double.requests) == 2
    assert double.proxy_refusals == 3


def test_the_proxy_may_send_no_retry_after() -> None:
    double = _kimai_behind_proxy(1, retry_after=None)
    answers = _fire_at_once(double, 3)

    assert all("retry-after" not in a.headers for a in answers if a.status_code == 429)


def test_without_a_proxy_every_request_is_served() -> None:
    double = _kimai_behind_proxy(2)
    double.max_in_flight = None
    answers = _fire_at_once(double, 6)

    assert [a.status_code for a in answers] == [200] * 6
    assert double.most_in_flight == 6
