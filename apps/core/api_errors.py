"""The API's error contract, in one place: the error schemas, the answers every operation can give,
and the exception handlers that turn any bad input into a 4xx with a message.

Routers declare the errors that are theirs to give (a 404 for an id that does not exist, a 409
for a refusal) with `errors(...)`:

    @router.post("/things/{thing_id}/close", response={200: ThingOut, **errors(404, 409)})

Every operation also documents, without saying so, the answers the framework gives on its own
(`document_standard_errors`): 400 (unreadable body or parameters), 401 and 403 (no or a wrong
API key, a session without its CSRF token), 404 (an id in the path that does not exist), 409 (a
write that collides with existing data), 413 (a body over the size limit) and 422 (input that
does not fit the schema). A test checks that every operation of the document has them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import structlog
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, IntegrityError
from django.http import HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from pydantic import ConfigDict, Field

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = structlog.get_logger(__name__)

NUL = "\x00"
UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})


class ErrorOut(Schema):
    """Every error answer: `detail` says, in words, what went wrong and what to do."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(description="What went wrong, in words a person can act on.")


class ValidationIssue(Schema):
    model_config = ConfigDict(extra="allow")

    type: str = Field(description="The kind of problem, e.g. `missing` or `int_parsing`.")
    loc: list[str | int] = Field(description="Where: `body`, `query` or `path`, then the field.")
    msg: str


class ValidationErrorOut(ErrorOut):
    """422: the input does not fit the schema; `errors` names each field and why."""

    errors: list[ValidationIssue]


# What the framework answers on its own, by status: the reason shown in the document.
STANDARD_ERRORS: dict[int, str] = {
    400: "The request body or a parameter cannot be read (not JSON, or text with NUL bytes).",
    401: "No API key, or an unknown or revoked one.",
    403: "The admin's session without a valid CSRF token.",
    404: "Nothing with that id.",
    409: "The change collides with data that exists.",
    413: "The request body is larger than the limit.",
    422: "The input does not fit the schema.",
}
# Answered by gunicorn before the app sees the request (its limit_request_line), as a page.
URI_TOO_LONG: dict[str, Any] = {
    "description": "The request line (path and query) is longer than the web server takes "
    "(4,094 bytes); answered by the web server as an HTML page.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}
ERROR_COMPONENTS: dict[str, Any] = {"ErrorOut": ErrorOut, "ValidationErrorOut": ValidationErrorOut}


def errors(*codes: int) -> dict[int, type[ErrorOut]]:
    """`response=` entries for the errors an operation gives itself, all with `ErrorOut`."""
    return dict.fromkeys(codes, ErrorOut)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _standard_codes(method: str, operation: dict[str, Any]) -> list[int]:
    parameters = operation.get("parameters") or []
    has_body = "requestBody" in operation
    codes = []
    if parameters or has_body:
        codes += [400, 422]
    if operation.get("security"):
        codes += [401, 403]
    if any(parameter.get("in") == "path" for parameter in parameters):
        codes.append(404)
    if method in UNSAFE_METHODS:
        codes.append(409)
    if has_body:
        codes.append(413)
    return sorted(codes)


def document_standard_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Add the framework's own error answers to every operation of an OpenAPI document."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, model in ERROR_COMPONENTS.items():
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for nested_name, nested in definition.pop("$defs", {}).items():
            schemas.setdefault(nested_name, nested)
        schemas.setdefault(name, definition)
    for path_item in document.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for code in _standard_codes(method, operation):
                schema = _ref("ValidationErrorOut" if code == 422 else "ErrorOut")
                entry = responses.get(str(code)) or responses.get(code)
                if entry is None:
                    responses[str(code)] = {
                        "description": STANDARD_ERRORS[code],
                        "content": _json_content(schema),
                    }
                    continue
                # The operation's own answer with this status (a refusal with its `reason`) or
                # the framework's: either can come.
                own = entry.get("content", {}).get("application/json", {}).get("schema")
                if own is not None and schema != own and schema not in own.get("anyOf", []):
                    entry["content"] = _json_content({"anyOf": [own, schema]})
            if any(parameter.get("in") == "query" for parameter in operation.get("parameters", [])):
                responses.setdefault("414", URI_TOO_LONG)
    return document


class InputRefused(ValueError):
    """Input that no operation can use, refused before any operation sees it."""


def _refuse_nul(value: Any, where: str) -> None:
    if isinstance(value, str):
        if NUL in value:
            raise InputRefused(
                f"{where} contains a NUL character (\\u0000), which text cannot hold."
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, where)
            _refuse_nul(item, where)
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item, where)


class StrictParser(Parser):
    """JSON and query parsing that refuses NUL characters: PostgreSQL cannot store them."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = json.loads(request.body)
        _refuse_nul(data, "The request body")
        return data

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        for key, values in data.lists():
            _refuse_nul([key, *values], f"The parameter {key.replace(NUL, '')!r}")
        return super().parse_querydict(data, list_fields, request)


def install_error_handlers(api: NinjaAPI) -> None:
    """Map every way input can be bad, or collide with stored data, to a 4xx with a message."""

    def respond(request: HttpRequest, status: int, detail: str, **extra: Any) -> HttpResponse:
        return api.create_response(request, {"detail": detail, **extra}, status=status)

    def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        # Ninja wraps a parser's exception into "Cannot parse request body"; say which.
        cause = exc.__cause__
        if isinstance(cause, InputRefused | UnicodeDecodeError):
            return respond(request, exc.status_code, str(cause))
        if isinstance(cause, json.JSONDecodeError):
            return respond(request, exc.status_code, f"The request body is not JSON: {cause}.")
        return respond(request, exc.status_code, str(exc))

    def on_input_refused(request: HttpRequest, exc: Any) -> HttpResponse:
        return respond(request, 400, str(exc))

    def on_authentication_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return respond(
            request, 401, "Authentication required: send `Authorization: Bearer <API key>`."
        )

    def on_validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return respond(request, 422, "Invalid request.", errors=exc.errors)

    def on_too_big(request: HttpRequest, exc: Any) -> HttpResponse:
        return respond(request, 413, "The request body is larger than the limit.")

    def on_data_error(request: HttpRequest, exc: Any) -> HttpResponse:
        # Values the schema let through but PostgreSQL cannot hold (a number beyond 64 bits, a
        # time beyond year 9999): the statement that met it was not applied.
        logger.warning("api input out of range", path=request.path, error=str(exc).strip())
        return respond(request, 422, "A value is out of the range this service can store.")

    def on_overflow(request: HttpRequest, exc: Any) -> HttpResponse:
        logger.warning("api input out of range", path=request.path, error=str(exc))
        return respond(request, 422, "A value is out of the range this service can handle.")

    def on_integrity_error(request: HttpRequest, exc: Any) -> HttpResponse:
        logger.warning("api write collided", path=request.path, error=str(exc).strip())
        return respond(request, 409, "The change collides with data that exists.")

    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(InputRefused, on_input_refused)
    api.add_exception_handler(AuthenticationError, on_authentication_error)
    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(DataError, on_data_error)
    api.add_exception_handler(OverflowError, on_overflow)
    api.add_exception_handler(IntegrityError, on_integrity_error)
