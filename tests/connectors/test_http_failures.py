"""The outbound HTTP seam: every way a request fails becomes one error in plain words."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from apps.connectors.http import (
    ExternalServiceError,
    OutboundHttpClient,
    VendorErrorDetails,
)
from tests.support.concurrency import at_once, tuned  # noqa: F401  (at_once: a fixture)

TOKEN = "s3cret-token-value"


Handler = Callable[[httpx.Request], httpx.Response]


def client_for(
    handler: Handler | None = None, base_url: str = "https://kimai.example.com", **kw: object
) -> OutboundHttpClient:
    transport = httpx.MockTransport(handler) if handler is not None else None
    return OutboundHttpClient(
        service="Kimai",
        base_url=base_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        tuning=tuned(**kw),
        transport=transport,
        sleep=lambda _seconds: None,
    )


def recorder(seen: list[httpx.Request], status: int = 200) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={})

    return handler


def closed_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_cookie_a_server_sets_is_never_sent_back() -> None:
    """Every request stands on its token: a proxy's session cookie ties none to another."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={}, headers={"Set-Cookie": "SESSION=abc; Path=/"})

    client = client_for(handler)
    client.get("/api/ping")
    client.get("/api/ping")

    assert [r.headers.get("cookie") for r in seen] == [None, None]


def test_it_sends_the_headers_it_was_built_with_and_asks_for_json() -> None:
    seen: list[httpx.Request] = []
    client_for(recorder(seen)).get("/api/ping")

    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert seen[0].headers["accept"] == "application/json"


def test_it_applies_the_configured_timeouts_to_every_request() -> None:
    seen: list[httpx.Request] = []
    client = client_for(
        recorder(seen),
        connect_timeout_seconds=3,
        read_timeout_seconds=20,
        write_timeout_seconds=15,
        pool_timeout_seconds=2,
    )
    client.get("/api/ping")

    assert seen[0].extensions["timeout"] == {"connect": 3, "read": 20, "write": 15, "pool": 2}


def test_it_explains_an_html_answer() -> None:
    page = "<!DOCTYPE html><html><body>Login</body></html>"
    client = client_for(
        lambda r: httpx.Response(200, text=page, headers={"Content-Type": "text/html"})
    )

    with pytest.raises(ExternalServiceError) as raised:
        client.get("/api/version")
    assert raised.value.permanent is True
    assert "HTML page instead of JSON" in raised.value.message
    assert "is the base URL right?" in raised.value.message


def test_it_explains_an_answer_that_is_not_json() -> None:
    client = client_for(
        lambda r: httpx.Response(200, text="pong", headers={"Content-Type": "text/plain"})
    )

    with pytest.raises(ExternalServiceError) as raised:
        client.get("/api/ping")
    assert "not JSON" in raised.value.message
    assert "text/plain" in raised.value.message


def test_it_does_not_follow_a_redirect_and_says_where_it_went() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "https://sso.example.com/login?next=/api"})

    with pytest.raises(ExternalServiceError) as raised:
        client_for(handler).get("/api/version")
    assert len(seen) == 1
    assert raised.value.message == (
        "Kimai redirected GET /api/version to https://sso.example.com/login: is the base URL right?"
    )
    assert raised.value.permanent is True


@pytest.mark.parametrize("base_url", ["kimai.example.com", "ftp://kimai.example.com", "https://"])
def test_it_refuses_an_invalid_base_url_without_sending_anything(base_url: str) -> None:
    seen: list[httpx.Request] = []
    client = client_for(recorder(seen), base_url=base_url)

    with pytest.raises(ExternalServiceError) as raised:
        client.get("/api/version")
    assert seen == []
    assert raised.value.permanent is True
    assert "is not a valid address" in raised.value.message


def test_it_explains_an_unreachable_host_after_retrying() -> None:
    port = closed_local_port()
    client = client_for(base_url=f"http://127.0.0.1:{port}", max_attempts=2)

    with pytest.raises(ExternalServiceError) as raised:
        client.get("/api/version")
    assert client.request_count == 2
    assert raised.value.permanent is False
    assert raised.value.message.startswith(
        f"Could not connect to Kimai at http://127.0.0.1:{port}: the connection was refused"
    )
    assert "Is the server running and the base URL right?" in raised.value.message


def test_it_explains_a_server_that_does_not_answer_in_time() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ExternalServiceError) as raised:
        client_for(handler, max_attempts=2, read_timeout_seconds=12).get("/api/version")
    assert raised.value.message == (
        "Kimai did not answer within 12 s (GET /api/version) (gave up after 2 attempts)"
    )


def test_it_keeps_the_vendors_own_words() -> None:
    client = OutboundHttpClient(
        service="Zammad",
        base_url="https://zammad.example.com",
        headers={},
        transport=httpx.MockTransport(
            lambda r: httpx.Response(403, json={"error": "Not authorized", "error_human": "No!"})
        ),
        explain_error=lambda body: VendorErrorDetails(message=body["error_human"]),
    )

    with pytest.raises(ExternalServiceError) as raised:
        client.get("/api/v1/settings")
    assert raised.value.message == (
        "Zammad does not allow this token to do that (HTTP 403 Forbidden on GET /api/v1/settings)"
        ": No!"
    )
    assert raised.value.body == {"error": "Not authorized", "error_human": "No!"}


def test_it_hides_credentials_in_the_base_url_from_messages() -> None:
    port = closed_local_port()
    client = client_for(base_url=f"http://user:hunter2@127.0.0.1:{port}", max_attempts=1)

    with pytest.raises(ExternalServiceError) as raised:
        client.get("/api/version")
    assert "hunter2" not in raised.value.message


def test_it_never_puts_the_token_in_a_log_line_or_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(401, json={"message": "Unauthorized"})])
    client = client_for(lambda r: next(answers))

    with caplog.at_level(logging.DEBUG), pytest.raises(ExternalServiceError) as raised:
        client.get("/api/users/me")
    # Checked before the logging config's redaction runs: the seam itself must not leak.
    logged = [repr(record.msg) + repr(record.args) for record in caplog.records]
    assert any("outbound_request_retry" in line for line in logged)
    assert all(TOKEN not in line for line in logged)
    assert TOKEN not in raised.value.message
    assert TOKEN not in repr(raised.value)


def test_it_sends_no_more_requests_at_once_than_configured() -> None:
    in_flight = 0
    most = 0
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1
        return httpx.Response(200, json={})

    client = client_for(handler, max_concurrent_requests=2)
    threads = [threading.Thread(target=client.get, args=("/api/ping",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert client.request_count == 8
    assert most == 2


def test_it_never_repeats_a_change_whose_answer_could_not_be_decoded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"\x00garbage", headers={"Content-Encoding": "gzip"})

    client = client_for(handler)
    with pytest.raises(ExternalServiceError) as raised:
        client.request("PATCH", "/api/timesheets/1", json_body={})
    assert client.request_count == 1
    assert raised.value.uncertain is True
    assert "could not be decoded" in raised.value.message
