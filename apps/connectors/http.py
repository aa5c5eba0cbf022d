"""The one outbound HTTP seam: every request to Zammad or Kimai goes through here.

Like healthchecks' ``hc/lib/curl.py``, this module owns everything that is the same for every
vendor: timeouts, one pooled ``httpx.Client`` per connector instance, an adaptive limit on requests
in flight (:mod:`apps.connectors.concurrency`: AIMD below the admin's ceiling), retries with
exponential backoff and full jitter, ``Retry-After`` (for every request of the connection), and
turning every way a request can fail into one exception type, :class:`ExternalServiceError`, with
a message in plain words.

Retry rules:

* Nothing was sent (connect error, connect or pool timeout) or the server refused before doing
  anything (429): always retried.
* The request may have reached the server (read/write timeout, dropped connection, 500/502/503/504):
  retried only for requests that are safe to repeat (GET, or a read sent as POST such as Zammad's
  ticket search). A POST/PATCH/DELETE that fails this way may have been committed: it is not
  retried, and the error says ``uncertain=True`` so the sync engine can look for its marker first.
* Everything else (other 4xx, redirects, non-JSON answers) is permanent and never retried.

Secrets: the Authorization header is set once on the client and never read back; log lines carry
method, path, status and timings only, and URLs shown in messages lose any ``user:password@``.
"""

from __future__ import annotations

import email.utils
import functools
import ipaddress
import json
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from apps.connectors.concurrency import AdaptiveLimit, Overload

logger = structlog.get_logger(__name__)

USER_AGENT = "zammad-kimai-sync"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers that mean "too much at once": the limit on requests in flight is halved.
OVERLOAD_STATUSES: dict[int, Overload] = {429: "rate_limited", 503: "busy"}
# Transport failures after which the server has certainly not seen the request.
NOTHING_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)
BODY_KEPT_CHARS = 2000


class ExternalServiceError(Exception):
    """Any failure talking to an external service, in plain words.

    ``permanent``: retrying the same request will not help (bad token, validation error, wrong
    URL). ``uncertain``: a request that changes data may or may not have been applied; look before
    sending it again. ``field_errors`` keeps a vendor's per-field validation messages, with
    ``"__root__"`` for messages about the request as a whole.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        permanent: bool,
        body: Any = None,
        uncertain: bool = False,
        field_errors: Mapping[str, list[str]] | None = None,
        retry_after: float | None = None,
        service: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.permanent = permanent
        self.body = body
        self.uncertain = uncertain
        self.field_errors: dict[str, list[str]] = dict(field_errors or {})
        self.retry_after = retry_after
        self.service = service

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (
            f"ExternalServiceError({self.message!r}, status={self.status}, "
            f"permanent={self.permanent}, uncertain={self.uncertain})"
        )


class HttpTuning(BaseModel):
    """Timeouts, concurrency and retry budget; part of every connector's settings model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    read_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    write_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    pool_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_concurrent_requests: int = Field(
        default=16,
        ge=1,
        le=32,
        title="Requests at once, at most",
        description="The sync starts with 2 requests at a time, adds one while the server answers "
        "fast and fine, and halves when it slows down, times out or says it is busy (429, 503). "
        "It never sends more at once than this. 16 suits most servers; 1 sends one request at a "
        "time, for a small or fragile server.",
        json_schema_extra={"in_form": True},
    )
    # How many at once before the server has answered anything; tests and benchmarks set it to
    # the ceiling to start at full concurrency.
    initial_concurrent_requests: int = Field(default=2, ge=1, le=32)
    # Off: always max_concurrent_requests at once (a benchmark's fixed setting).
    adaptive_concurrency: bool = True
    max_attempts: int = Field(default=4, ge=1, le=10)
    backoff_base_seconds: float = Field(default=0.5, ge=0, le=60)
    backoff_cap_seconds: float = Field(default=30.0, ge=0, le=600)
    max_retry_after_seconds: float = Field(default=120.0, ge=0, le=3600)


@dataclass(frozen=True)
class VendorErrorDetails:
    """What a vendor's error body says: one human message and per-field messages."""

    message: str | None = None
    field_errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceResponse:
    status: int
    headers: httpx.Headers
    data: Any  # parsed JSON, or None for an empty body


def display_url(url: str) -> str:
    """The URL without credentials or query string, fit for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _explain_nothing(_body: Any) -> VendorErrorDetails:
    return VendorErrorDetails()


class _Attempt:
    """The outcome of one failed attempt: the error to raise and whether to try again."""

    def __init__(
        self,
        error: ExternalServiceError,
        retry: bool,
        delay: float | None = None,
        paused_until: float = 0.0,
    ):
        self.error = error
        self.retry = retry
        self.delay = delay  # a server-imposed delay (Retry-After), else backoff applies
        # The end of the pause that delay imposed on every request of the connection.
        self.paused_until = paused_until


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once: loading
    the CA bundle takes about 100 ms, which every run paid twice when each client built its own.
    An SSLContext is safe to share between clients and threads."""
    return httpx.create_ssl_context()


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.Client):
    """httpx's client without a cookie jar. The services authenticate every request with a
    token; a cookie that a proxy in front of them sets (a load balancer's) must not make one
    request depend on another, and reading every answer for cookies was about a tenth of the
    CPU a sync's sender thread spends on a write (py-spy)."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, _value: object) -> None:
        return None  # httpx.Client sets its jar when it is made: there is none to set


_NO_COOKIES = _NoCookies()


class OutboundHttpClient:
    """One vendor, one base URL, one credential, one connection pool.

    ``transport`` lets tests plug in a double (``double.transport()``); ``sleep`` and ``jitter``
    let retry tests run without waiting. ``explain_error`` turns a vendor's error body into a
    message and per-field messages.
    """

    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        headers: Mapping[str, str],
        tuning: HttpTuning | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        jitter: Callable[[], float] = random.random,
        explain_error: Callable[[Any], VendorErrorDetails] = _explain_nothing,
    ) -> None:
        self.service = service
        self.tuning = tuning or HttpTuning()
        self.base_url = base_url.strip().rstrip("/")
        self._sleep = sleep or time.sleep
        self._jitter = jitter
        self._explain_error = explain_error
        self.limit = AdaptiveLimit(
            self.tuning.max_concurrent_requests,
            service=service,
            start=self.tuning.initial_concurrent_requests,
            adaptive=self.tuning.adaptive_concurrency,
        )
        self._count_lock = threading.Lock()
        self._request_count = 0
        self._base_url_problem = self._check_base_url(self.base_url)
        limits = httpx.Limits(
            max_connections=self.tuning.max_concurrent_requests,
            max_keepalive_connections=self.tuning.max_concurrent_requests,
        )
        timeout = httpx.Timeout(
            connect=self.tuning.connect_timeout_seconds,
            read=self.tuning.read_timeout_seconds,
            write=self.tuning.write_timeout_seconds,
            pool=self.tuning.pool_timeout_seconds,
        )
        self._client = _CookielessClient(
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=timeout,
            limits=limits,
            transport=transport,
            follow_redirects=False,
            verify=_tls_context(),
        )

    # -- public -----------------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        """HTTP requests actually sent (each retry counts)."""
        return self._request_count

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> ServiceResponse:
        return self.request("GET", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        safe_to_repeat: bool | None = None,
    ) -> ServiceResponse:
        """Send a request, retrying transient failures; return the parsed JSON answer.

        ``safe_to_repeat`` defaults to True for GET/HEAD/OPTIONS; pass True for reads sent as
        POST. Requests that are not safe to repeat are retried only when nothing was sent.
        """
        method = method.upper()
        if self._base_url_problem:
            raise ExternalServiceError(self._base_url_problem, permanent=True, service=self.service)
        repeatable = method in SAFE_METHODS if safe_to_repeat is None else safe_to_repeat
        url = self.base_url + path
        attempt = 0
        waited_until = 0.0
        while True:
            attempt += 1
            outcome = self._attempt(method, url, path, params, json_body, repeatable, waited_until)
            if isinstance(outcome, ServiceResponse):
                return outcome
            if not outcome.retry or attempt >= self.tuning.max_attempts:
                if outcome.retry:
                    plural = "s" if attempt != 1 else ""
                    outcome.error.message += f" (gave up after {attempt} attempt{plural})"
                    outcome.error.args = (outcome.error.message,)
                raise outcome.error
            delay = self._delay_before_retry(attempt, outcome.delay)
            logger.warning(
                "outbound_request_retry",
                service=self.service,
                method=method,
                path=path,
                status=outcome.error.status,
                attempt=attempt,
                delay_seconds=round(delay, 3),
                reason=outcome.error.message,
            )
            self._sleep(delay)
            # This request waited out its Retry-After here; the others wait in the limit.
            waited_until = outcome.paused_until

    # -- one attempt ------------------------------------------------------------------------------
    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        repeatable: bool,
        waited_until: float = 0.0,
    ) -> ServiceResponse | _Attempt:
        started = time.monotonic()
        paused_until = 0.0
        try:
            response, paused_until = self._send(method, url, params, json_body, waited_until)
        except httpx.InvalidURL as exc:
            return _Attempt(self._error(f"{self._where()} is not a valid URL ({exc})"), False)
        except httpx.UnsupportedProtocol:
            return _Attempt(
                self._error(
                    f"{self._where()} is not a valid URL: it must start with https:// or http://"
                ),
                False,
            )
        except NOTHING_SENT_ERRORS as exc:
            return _Attempt(self._error(self._connect_failure(exc), permanent=False), True)
        except httpx.TransportError as exc:
            return self._maybe_sent_failure(exc, method, path, repeatable)
        except httpx.DecodingError as exc:
            # The server answered, so a change may have been applied: never repeat it.
            return _Attempt(
                self._error(
                    f"{self.service} sent an answer to {method} {path} that could not be "
                    f"decoded ({_short(exc)})",
                    permanent=False,
                    uncertain=not repeatable,
                ),
                False,
            )
        elapsed_ms = round((time.monotonic() - started) * 1000)
        logger.debug(
            "outbound_request",
            service=self.service,
            method=method,
            path=path,
            status=response.status_code,
            elapsed_ms=elapsed_ms,
        )
        outcome = self._interpret(response, method, path, repeatable)
        if isinstance(outcome, _Attempt):
            outcome.paused_until = paused_until
        return outcome

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        waited_until: float,
    ) -> tuple[httpx.Response, float]:
        """One request inside the adaptive limit, which learns from how it ended. Returns the
        answer and the end of the pause its ``Retry-After`` imposed on the connection."""
        ticket = self.limit.acquire(waited_until)
        with self._count_lock:
            self._request_count += 1
        started = time.monotonic()
        try:
            response = self._client.request(
                method, url, params=_clean_params(params), json=json_body
            )
            response.read()
            # A read response keeps its content; its stream refers back to it, a cycle that
            # holds the request's whole connection-pool bookkeeping (about 30 objects) until
            # the collector runs. Without it they go at once, and a sync's collections (each
            # a pause of every thread, 28 ms on average) come far less often.
            response.stream = httpx.ByteStream(response.content)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.PoolTimeout):
                self.limit.released()
            else:
                self.limit.overloaded(ticket, "timeout", None)
            raise
        except BaseException:
            self.limit.released()
            raise
        overload = OVERLOAD_STATUSES.get(response.status_code)
        if overload is None:
            self.limit.answered(ticket, time.monotonic() - started)
            return response, 0.0
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            retry_after = min(retry_after, self.tuning.max_retry_after_seconds)
        return response, self.limit.overloaded(ticket, overload, retry_after)

    def _interpret(
        self, response: httpx.Response, method: str, path: str, repeatable: bool
    ) -> ServiceResponse | _Attempt:
        status = response.status_code
        what = f"{method} {path}"
        if 300 <= status < 400:
            location = response.headers.get("location", "")
            target = display_url(str(response.url.join(location))) if location else "elsewhere"
            return _Attempt(
                self._error(
                    f"{self.service} redirected {what} to {target}: is the base URL right?",
                    status=status,
                ),
                False,
            )
        body = _decode_body(response)
        if 200 <= status < 300:
            if isinstance(body, _NotJson):
                return _Attempt(self._not_json_error(body, status, what), False)
            return ServiceResponse(status=status, headers=response.headers, data=body)

        details = (
            self._explain_error(body) if not isinstance(body, _NotJson) else VendorErrorDetails()
        )
        kept_body = body.text[:BODY_KEPT_CHARS] if isinstance(body, _NotJson) else body
        vendor_says = f": {details.message}" if details.message else ""
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            error = self._error(
                f"{self.service} is rate limiting us (HTTP 429 on {what})",
                status=status,
                permanent=False,
                body=kept_body,
                retry_after=retry_after,
            )
            return _Attempt(error, True, retry_after)
        if status in RETRYABLE_STATUSES:
            if repeatable:
                error = self._error(
                    f"{self.service} had a server error (HTTP {status} on {what}){vendor_says}",
                    status=status,
                    permanent=False,
                    body=kept_body,
                )
                return _Attempt(error, True, parse_retry_after(response.headers.get("retry-after")))
            error = self._error(
                f"{self.service} had a server error (HTTP {status}) on {what}; it may or may not "
                "have saved the change, so look for it before sending it again",
                status=status,
                permanent=False,
                body=kept_body,
                uncertain=True,
            )
            return _Attempt(error, False)
        error = self._error(
            _status_message(self.service, status, what) + vendor_says,
            status=status,
            permanent=400 <= status < 500,
            body=kept_body,
            field_errors=details.field_errors,
        )
        return _Attempt(error, False)

    def _maybe_sent_failure(
        self, exc: httpx.TransportError, method: str, path: str, repeatable: bool
    ) -> _Attempt:
        if isinstance(exc, httpx.ReadTimeout):
            reason = f"did not answer within {self.tuning.read_timeout_seconds:g} s"
        elif isinstance(exc, httpx.WriteTimeout):
            reason = f"did not accept the request within {self.tuning.write_timeout_seconds:g} s"
        else:
            reason = f"dropped the connection ({_short(exc)})"
        if repeatable:
            return _Attempt(
                self._error(f"{self.service} {reason} ({method} {path})", permanent=False), True
            )
        return _Attempt(
            self._error(
                f"{self.service} {reason} ({method} {path}); it may or may not have saved the "
                "change, so look for it before sending it again",
                permanent=False,
                uncertain=True,
            ),
            False,
        )

    # -- helpers ----------------------------------------------------------------------------------
    def _delay_before_retry(self, attempt: int, server_delay: float | None) -> float:
        if server_delay is not None:
            return min(server_delay, self.tuning.max_retry_after_seconds)
        ceiling = min(
            self.tuning.backoff_cap_seconds, self.tuning.backoff_base_seconds * 2 ** (attempt - 1)
        )
        return self._jitter() * ceiling  # "full jitter": anywhere between 0 and the ceiling

    def _where(self) -> str:
        return f"The {self.service} address {display_url(self.base_url)!r}"

    def _connect_failure(self, exc: httpx.TransportError) -> str:
        where = display_url(self.base_url)
        if isinstance(exc, httpx.ConnectTimeout):
            return (
                f"Could not reach {self.service} at {where} within "
                f"{self.tuning.connect_timeout_seconds:g} s: is the host up and the base URL right?"
            )
        if isinstance(exc, httpx.PoolTimeout):
            return f"Too many requests to {self.service} at once; none was free in time"
        detail = _short(exc).lower()
        if "refused" in detail:
            reason = "the connection was refused (nothing is listening on that port)"
        elif "name or service" in detail or "nodename" in detail or "resolve" in detail:
            reason = "the host name could not be resolved"
        elif "certificate" in detail or "ssl" in detail:
            reason = f"the TLS handshake failed ({_short(exc)})"
        else:
            reason = f"the connection failed ({_short(exc)})"
        return (
            f"Could not connect to {self.service} at {where}: {reason}. "
            "Is the server running and the base URL right?"
        )

    def _not_json_error(self, body: _NotJson, status: int, what: str) -> ExternalServiceError:
        if body.looks_like_html:
            message = (
                f"{self.service} answered {what} with an HTML page instead of JSON "
                f"(HTTP {status}): is the base URL right? It should be the address of "
                f"{self.service} itself, not of a login page or proxy"
            )
        else:
            message = (
                f"{self.service} answered {what} with something that is not JSON "
                f"(HTTP {status}, {body.content_type or 'no content type'})"
            )
        return self._error(message, status=status, body=body.text[:BODY_KEPT_CHARS])

    def _error(
        self,
        message: str,
        *,
        status: int | None = None,
        permanent: bool = True,
        body: Any = None,
        uncertain: bool = False,
        field_errors: Mapping[str, list[str]] | None = None,
        retry_after: float | None = None,
    ) -> ExternalServiceError:
        return ExternalServiceError(
            message,
            status,
            permanent=permanent,
            body=body,
            uncertain=uncertain,
            field_errors=field_errors,
            retry_after=retry_after,
            service=self.service,
        )

    def _check_base_url(self, base_url: str) -> str | None:
        try:
            parts = urlsplit(base_url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            return (
                f"The {self.service} base URL {display_url(base_url) or base_url!r} is not a "
                "valid address: it must look like https://host.example.com"
            )
        # settings.configured: a connector package's own tests may build connectors without
        # Django (docs/CONNECTORS.md, "The test kit").
        loopback_only = settings.configured and settings.OUTBOUND_LOOPBACK_ONLY
        if loopback_only and not _is_loopback(parts.hostname):
            return (
                f"The {self.service} base URL {display_url(base_url)!r} is not on this machine, "
                "and OUTBOUND_LOOPBACK_ONLY allows only loopback addresses."
            )
        return None


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _NotJson:
    text: str
    content_type: str

    @property
    def looks_like_html(self) -> bool:
        head = self.text.lstrip()[:200].lower()
        return "html" in self.content_type or head.startswith(("<!doctype", "<html"))


def _decode_body(response: httpx.Response) -> Any:
    content = response.content
    if not content.strip():
        return None
    content_type = response.headers.get("content-type", "").lower()
    try:
        return json.loads(content)
    except ValueError:
        return _NotJson(text=response.text, content_type=content_type)


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {key: value for key, value in params.items() if value is not None}


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _status_message(service: str, status: int, what: str) -> str:
    phrase = httpx.codes.get_reason_phrase(status)
    label = f"HTTP {status} {phrase}".strip()
    if status == 401:
        return (
            f"{service} did not accept the token ({label} on {what}): check that it is complete, "
            "correct and not expired"
        )
    if status == 403:
        return f"{service} does not allow this token to do that ({label} on {what})"
    if status == 404:
        return f"{service} does not know {what} ({label})"
    if 400 <= status < 500:
        return f"{service} rejected {what} ({label})"
    return f"{service} failed on {what} ({label})"
