from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

logger = structlog.get_logger("zks.request")

# Accept a caller's request id only if it is short and harmless in a log line.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
QUIET_PATHS = ("/static/", "/healthz", "/readyz")


class RequestLogMiddleware:
    """One structured log line per request: request id, method, path, status, duration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        except Exception:
            logger.exception("request failed", method=request.method, path=request.path)
            raise
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        response["X-Request-ID"] = request_id
        log = logger.debug if request.path.startswith(QUIET_PATHS) else logger.info
        log(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=duration_ms,
        )
        structlog.contextvars.clear_contextvars()
        return response


class AuditActorMiddleware:
    """Names the admin of a session as the actor of this request's configuration changes.

    API keys are named by their authenticator (apps/accounts/auth.py), which runs later.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from apps.core import audit

        token = audit.act_as(audit.actor_of_request(request))
        try:
            return self.get_response(request)
        finally:
            audit.stop_acting(token)


class RefuseNulInQueryMiddleware:
    """A page's query string with a NUL character gets 400: PostgreSQL cannot compare with it.

    The API refuses the same with a JSON body of its own (apps/core/api_errors.py).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/api/") and any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            return HttpResponseBadRequest(
                "A parameter contains a NUL character (%00), which this service cannot use.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
