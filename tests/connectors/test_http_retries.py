"""The outbound HTTP seam: what is retried, how long it waits, and what is never repeated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
import time_machine

from apps.connectors.http import ExternalServiceError, OutboundHttpClient
from tests.support.concurrency import at_once, tuned  # noqa: F401  (at_once: a fixture)

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*steps: httpx.Response | Exception) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport that answers with `steps` in order and records what it was sent."""
    seen: list[httpx.Request] = []
    remaining = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = remaining.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    return httpx.MockTransport(handler), seen


def make_client(
    transport: httpx.MockTransport, sleeps: list[float] | None = None, **tuning: object
) -> OutboundHttpClient:
    recorded = sleeps if sleeps is not None else []
    return OutboundHttpClient(
        service="Kimai",
        base_url="https://kimai.example.com",
        headers={"Authorization": "Bearer s3cret-token"},
        tuning=tuned(**tuning),
        transport=transport,
        sleep=recorded.append,
        jitter=lambda: 1.0,
    )


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json=body if body is not None else {"ok": True})


def test_it_retries_a_transient_500_and_returns_the_next_answer() -> None:
    transport, seen = scripted(httpx.Response(500, json={"message": "oops"}), ok({"id": 1}))
    client = make_client(transport)

    assert client.get("/api/version").data == {"id": 1}
    assert len(seen) == 2


@pytest.mark.parametrize("status", [502, 503, 504])
def test_it_retries_gateway_errors_on_reads(status: int) -> None:
    transport, seen = scripted(httpx.Response(status), ok())
    make_client(transport).get("/api/version")

    assert len(seen) == 2


def test_it_backs_off_exponentially_with_full_jitter() -> None:
    transport, _ = scripted(*(httpx.Response(503) for _ in range(4)))
    sleeps: list[float] = []
    client = OutboundHttpClient(
        service="Kimai",
        base_url="https://kimai.example.com",
        headers={},
        tuning=tuned(max_attempts=4, backoff_base_seconds=0.5),
        transport=transport,
        sleep=sleeps.append,
        jitter=lambda: 0.5,  # halfway between 0 and each ceiling
    )

    with pytest.raises(ExternalServiceError):
        client.get("/api/version")
    assert sleeps == [0.25, 0.5, 1.0]


def test_it_caps_the_backoff() -> None:
    transport, _ = scripted(*(httpx.Response(503) for _ in range(5)))
    sleeps: list[float] = []
    client = make_client(
        transport, sleeps, max_attempts=5, backoff_base_seconds=2, backoff_cap_seconds=5
    )

    with pytest.raises(ExternalServiceError):
        client.get("/api/version")
    assert sleeps == [2, 4, 5, 5]


def test_it_honours_retry_after_in_seconds_on_429() -> None:
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "7"}), ok())
    sleeps: list[float] = []
    make_client(transport, sleeps).get("/api/version")

    assert sleeps == [7.0]
    assert len(seen) == 2


@time_machine.travel(datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC), tick=False)
def test_it_honours_retry_after_as_an_http_date() -> None:
    retry_at = "Mon, 05 Jan 2026 09:00:42 GMT"
    transport, _ = scripted(httpx.Response(429, headers={"Retry-After": retry_at}), ok())
    sleeps: list[float] = []
    make_client(transport, sleeps).get("/api/version")

    assert sleeps == [42.0]


def test_it_caps_a_long_retry_after() -> None:
    transport, _ = scripted(httpx.Response(429, headers={"Retry-After": "86400"}), ok())
    sleeps: list[float] = []
    make_client(transport, sleeps, max_retry_after_seconds=60).get("/api/version")

    assert sleeps == [60.0]


def test_it_retries_a_rate_limited_post() -> None:
    transport, seen = scripted(httpx.Response(429, headers={"Retry-After": "1"}), ok())
    make_client(transport).request("POST", "/api/timesheets", json_body={"a": 1})

    assert [r.method for r in seen] == ["POST", "POST"]


def test_it_gives_up_after_the_last_attempt_with_a_transient_error() -> None:
    transport, seen = scripted(*(httpx.Response(503) for _ in range(3)))

    with pytest.raises(ExternalServiceError) as raised:
        make_client(transport, max_attempts=3).get("/api/version")
    assert len(seen) == 3
    assert raised.value.permanent is False
    assert raised.value.status == 503
    assert "gave up after 3 attempts" in raised.value.message


def test_it_does_not_retry_a_401_and_calls_it_permanent() -> None:
    transport, seen = scripted(httpx.Response(401, json={"code": 401, "message": "Unauthorized"}))

    with pytest.raises(ExternalServiceError) as raised:
        make_client(transport).get("/api/users/me")
    assert len(seen) == 1
    assert raised.value.permanent is True
    assert raised.value.status == 401
    assert "did not accept the token" in raised.value.message


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_it_never_retries_other_client_errors(status: int) -> None:
    transport, seen = scripted(httpx.Response(status, json={}))

    with pytest.raises(ExternalServiceError) as raised:
        make_client(transport).get("/api/timesheets/1")
    assert len(seen) == 1
    assert raised.value.permanent is True


def test_it_retries_a_post_that_never_connected() -> None:
    transport, seen = scripted(httpx.ConnectError("Connection refused"), ok({"id": 9}))

    answer = make_client(transport).request("POST", "/api/timesheets", json_body={})
    assert answer.data == {"id": 9}
    assert len(seen) == 2


def test_it_does_not_repeat_a_post_answered_with_a_500_and_calls_it_uncertain() -> None:
    transport, seen = scripted(httpx.Response(500), ok())

    with pytest.raises(ExternalServiceError) as raised:
        make_client(transport).request("POST", "/api/timesheets", json_body={})
    assert len(seen) == 1
    assert raised.value.uncertain is True
    assert raised.value.permanent is False
    assert "may or may not have saved" in raised.value.message


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_it_does_not_repeat_a_change_that_timed_out_and_calls_it_uncertain(method: str) -> None:
    transport, seen = scripted(httpx.ReadTimeout("timed out"), ok())

    with pytest.raises(ExternalServiceError) as raised:
        make_client(transport).request(method, "/api/timesheets/3", json_body={})
    assert len(seen) == 1
    assert raised.value.uncertain is True
    assert "did not answer within 30 s" in raised.value.message


def test_it_retries_a_read_that_timed_out() -> None:
    transport, seen = scripted(httpx.ReadTimeout("timed out"), ok([1]))

    assert make_client(transport).get("/api/timesheets").data == [1]
    assert len(seen) == 2


def test_it_retries_a_read_sent_as_post_when_told_it_is_safe() -> None:
    transport, seen = scripted(httpx.Response(502), ok([]))
    make_client(transport).request(
        "POST", "/api/v1/tickets/search", json_body={}, safe_to_repeat=True
    )

    assert len(seen) == 2


def test_it_counts_every_request_it_sends_retries_included() -> None:
    transport, _ = scripted(httpx.Response(503), ok(), ok())
    client = make_client(transport)
    client.get("/a")
    client.get("/b")

    assert client.request_count == 3
