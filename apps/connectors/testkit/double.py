"""The base of a test double: the Zammad, Kimai and Jira doubles (tests/doubles/) and those of
connector packages outside this repository are built on it (docs/CONNECTORS.md, "The double").

A double is a plain object holding the fake server's state and a ``route(request)`` method that
returns a :class:`Reply`. The same object can be reached two ways:

* in-process, through :meth:`Double.transport` (an ``httpx.MockTransport``), for fast tests;
* over real HTTP on 127.0.0.1, through :meth:`Double.serve` (a threaded ``http.server``), for the
  demo, browser tests, process tests and benchmarks.

Both paths go through :meth:`Double.dispatch`, which records every request (``double.requests``),
applies injected latency and faults, and serialises access to the state with one lock, so the
double behaves the same whichever way it is called.

Faults (see :class:`Fault`) reproduce what the sync must survive:
a 5xx before the server commits, a 5xx *after* it committed, a timeout after it committed, 429 with
``Retry-After``, and latency.

``max_in_flight`` puts the double behind a rate-limiting proxy (nginx ``limit_conn`` with
``limit_conn_status 429``, see docs/reference/kimai-api.md §1): up to that many requests are served
at once, and one more is answered 429 with ``Retry-After: in_flight_retry_after`` at once, without
reaching the server (it is not in ``requests``; ``proxy_refusals`` counts it).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx

FaultKind = Literal[
    "error_before_commit",  # answer `status` without touching state
    "error_after_commit",  # apply the request, then answer `status`
    "timeout_after_commit",  # apply the request, then never answer in time
    "rate_limit",  # 429 with Retry-After, state untouched
]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    # The status the double answered (None: no answer, e.g. a timeout after committing).
    status: int | None = None

    @property
    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name: str) -> list[str]:
        """All values of a repeated parameter; PHP style `users[]=1&users[]=2` included."""
        return self.query.get(name, []) + self.query.get(f"{name}[]", [])


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.body is None:
            return b"", headers
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/html; charset=utf-8")
            return self.body.encode(), headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body, separators=(",", ":")).encode(), headers


@dataclass
class Fault:
    kind: FaultKind
    method: str | None = None  # None matches any method
    path_prefix: str = ""
    status: int = 500
    retry_after: int = 1
    times: int = 1  # how many matching requests it affects
    timeout_seconds: float = 5.0  # how long a "timeout" holds the socket in server mode

    def matches(self, request: RecordedRequest) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return request.path.startswith(self.path_prefix)


class TimeoutAfterCommit(Exception):
    """Raised inside dispatch when the reply must never arrive."""


class Double(ABC):
    """Base class: subclasses implement ``route`` and keep their state on ``self``."""

    name = "double"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.latency = 0.0  # seconds added to every request
        self.max_in_flight: int | None = None  # None: no proxy in front, every request served
        self.in_flight_retry_after: int | None = 1  # None: the proxy sends no Retry-After
        self.in_flight = 0
        self.most_in_flight = 0
        self.proxy_refusals = 0

    @abstractmethod
    def route(self, request: RecordedRequest) -> Reply:
        """Answer one request; called with ``self.lock`` held."""

    # -- fault injection ---------------------------------------------------------------------
    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(request):
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def requests_to(self, method: str, path_prefix: str = "") -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # -- injected replies: a double overrides these to answer in its vendor's shape ------------
    def rate_limit_reply(self, fault: Fault) -> Reply:
        return Reply(429, {"error": "Too Many Requests"}, {"Retry-After": str(fault.retry_after)})

    def server_error_reply(self, fault: Fault) -> Reply:
        return Reply(fault.status, {"code": fault.status, "message": "Internal Server Error"})

    # -- dispatch ------------------------------------------------------------------------------
    def dispatch(self, request: RecordedRequest) -> Reply:
        with self.lock:
            if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
                self.proxy_refusals += 1
                return self.proxy_refusal_reply()
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            reply = self._answer(request)
        finally:
            with self.lock:
                self.in_flight -= 1
        request.status = reply.status
        return reply

    def proxy_refusal_reply(self) -> Reply:
        """What nginx's ``limit_conn`` answers beyond its limit: its own HTML error page."""
        headers = {}
        if self.in_flight_retry_after is not None:
            headers["Retry-After"] = str(self.in_flight_retry_after)
        page = "<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many Requests</h1></center><hr><center>nginx</center></body></html>"  # noqa: E501
        return Reply(429, page, headers)

    def refusals(self, path_prefix: str = "") -> list[RecordedRequest]:
        """Writes the double answered with 4xx (refused by the server's own rules)."""
        return [
            r
            for r in self.requests
            if r.method in ("POST", "PATCH", "PUT", "DELETE")
            and r.path.startswith(path_prefix)
            and r.status is not None
            and 400 <= r.status < 500
        ]

    def _answer(self, request: RecordedRequest) -> Reply:
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            self.requests.append(request)
        fault = self._take_fault(request)
        if fault is not None and fault.kind == "rate_limit":
            return self.rate_limit_reply(fault)
        if fault is not None and fault.kind == "error_before_commit":
            return self.server_error_reply(fault)
        with self.lock:
            reply = self.route(request)
        if fault is not None and fault.kind == "error_after_commit":
            return self.server_error_reply(fault)
        if fault is not None and fault.kind == "timeout_after_commit":
            raise TimeoutAfterCommit(fault.timeout_seconds)
        return reply

    # -- in-process transport ----------------------------------------------------------------
    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            recorded = _record(
                request.method,
                request.url.raw_path.decode(),
                {k.lower(): v for k, v in request.headers.items()},
                request.read(),
            )
            try:
                reply = self.dispatch(recorded)
            except TimeoutAfterCommit:
                raise httpx.ReadTimeout(
                    "timed out after the server committed", request=request
                ) from None
            body, headers = reply.encode()
            return httpx.Response(reply.status, content=body, headers=headers)

        return httpx.MockTransport(handler)

    # -- real HTTP server on loopback ----------------------------------------------------------
    @contextmanager
    def serve(
        self, port: int = 0, host: str = "127.0.0.1", *, on_network: bool = False
    ) -> Iterator[str]:
        """Serve on 127.0.0.1 in a background thread; yields the base URL. ``on_network``
        allows another address (the demo's private Compose network, nothing else)."""
        server = self.make_server(port, host, on_network=on_network)
        thread = threading.Thread(target=server.serve_forever, name=f"{self.name}-server")
        thread.daemon = True
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    def make_server(
        self, port: int = 0, host: str = "127.0.0.1", *, on_network: bool = False
    ) -> ThreadingHTTPServer:
        if host not in ("127.0.0.1", "localhost", "::1") and not on_network:
            raise ValueError("test doubles only listen on loopback (or, asked to, for the demo)")
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; with Nagle's algorithm the body then
            # waits for the client's delayed ACK (~40 ms a request on loopback).
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorded = _record(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                try:
                    reply = double.dispatch(recorded)
                except TimeoutAfterCommit as hold:
                    time.sleep(float(hold.args[0]))
                    self.close_connection = True
                    return
                payload, headers = reply.encode()
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload:
                    self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # keep test output quiet

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        return server


def _record(method: str, raw_path: str, headers: dict[str, str], body: bytes) -> RecordedRequest:
    parts = urlsplit(raw_path)
    return RecordedRequest(
        method=method.upper(),
        path=parts.path,
        query=parse_qs(parts.query, keep_blank_values=True),
        headers=headers,
        body=body,
    )


def stop_on_signals() -> threading.Event:
    """An event that Ctrl-C (SIGINT) and SIGTERM set, for a double served on its own
    (``python -m ...``); call it from the main thread before printing the address, so a signal
    right after the banner is caught. The handlers are set explicitly: a process started with
    SIGINT ignored (inherited through exec, as from some test runners' workers) would otherwise
    never see KeyboardInterrupt and run on."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
