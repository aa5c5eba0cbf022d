"""Kimai's REST API, as thin typed calls returning Kimai's own JSON.

Section numbers (§) refer to ``docs/reference/kimai-api.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from apps.connectors.http import (
    ExternalServiceError,
    HttpTuning,
    OutboundHttpClient,
    VendorErrorDetails,
)

Row = dict[str, Any]
ROOT = "__root__"
# §5: the `begin`/`end` filters (and the form, §6) want exactly this, in a named time zone.
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"
MAX_PAGE_SIZE = 500


def kimai_error_details(body: Any) -> VendorErrorDetails:
    """The §3 error bodies: ``{"code","message"}`` and the form error tree.

    Form errors keep Kimai's words field by field: ``{"activity": ["The selected choice is
    invalid."], "__root__": ["The end date must not be earlier than the start date."]}``. Both
    shapes are read: FOSRest's form errors (``errors.errors`` + ``errors.children``) and the
    service layer's ``ValidationFailedException`` (children only, ``code`` as a string).
    """
    if not isinstance(body, dict):
        return VendorErrorDetails()
    fields: dict[str, list[str]] = {}
    errors = body.get("errors")
    if isinstance(errors, dict):
        _collect_form_errors(errors, "", fields)
    message = body.get("message") if isinstance(body.get("message"), str) else None
    if fields:
        listed = "; ".join(
            (" ".join(messages) if name == ROOT else f"{name}: {' '.join(messages)}")
            for name, messages in fields.items()
        )
        message = f"{message}: {listed}" if message else listed
    return VendorErrorDetails(message=message, field_errors=fields)


def _collect_form_errors(node: Mapping[str, Any], path: str, into: dict[str, list[str]]) -> None:
    messages = node.get("errors")
    if isinstance(messages, list) and messages:
        into.setdefault(path or ROOT, []).extend(str(m) for m in messages)
    children = node.get("children")
    if isinstance(children, dict):
        for name, child in children.items():
            if isinstance(child, dict):
                _collect_form_errors(child, f"{path}.{name}" if path else str(name), into)


def parse_kimai_time(value: str) -> datetime:
    """``2020-03-27T14:35:00+1300``: JMS writes the offset without a colon (§1)."""
    return datetime.fromisoformat(value)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ExternalServiceError(
            f"Kimai uses the time zone {name!r}, which this server does not know",
            permanent=True,
            service="Kimai",
        ) from None


def local_time(instant: datetime, zone_name: str | None) -> str:
    """An aware instant as Kimai's wall-clock ``Y-m-d\\TH:i:s`` in ``zone_name`` (§5, §6)."""
    return instant.astimezone(zone(zone_name)).strftime(LOCAL_FORMAT)


def form_time(instant: datetime, zone_name: str | None) -> str:
    """A begin or end for the timesheet form: wall-clock time in ``zone_name`` (§6).

    In the hour a DST change repeats, a wall-clock time names two instants and PHP picks the
    first. For the second one only, the offset is appended: the form honours a trailing offset
    (§6 "Date input"), and no other value could say which instant is meant.
    """
    local = instant.astimezone(zone(zone_name))
    text = local.strftime(LOCAL_FORMAT)
    if local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset():
        return text + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    return text


def normalize_base_url(base_url: str) -> str:
    """Accept the address people copy from the browser, with or without ``/api``."""
    url = base_url.strip().rstrip("/")
    return url[: -len("/api")] if url.endswith("/api") else url


class KimaiClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        tuning: HttpTuning | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.http = OutboundHttpClient(
            service="Kimai",
            base_url=normalize_base_url(base_url),
            # §2: API tokens (Kimai 2.14+) go as a Bearer token.
            headers={"Authorization": f"Bearer {token}"},
            tuning=tuning,
            transport=transport,
            explain_error=kimai_error_details,
            sleep=sleep,
        )

    # -- who and what ----------------------------------------------------------------------------
    def version(self) -> Row:
        """``{"version": "2.66.0", "versionId": 26600, ...}``; use versionId for features."""
        return _object(self.http.get("/api/version").data)

    def me(self) -> Row:
        return _object(self.http.get("/api/users/me").data)

    # -- reference data (not paginated, §8 "Other endpoints") -------------------------------------
    def users(self) -> list[Row]:
        """All users, disabled ones included; needs ``view_user`` (Super-Admin by default)."""
        return _list(self.http.get("/api/users", {"visible": 3, "full": "true"}).data)

    def customers(self) -> list[Row]:
        return _list(self.http.get("/api/customers", {"visible": 3}).data)

    def projects(self) -> list[Row]:
        # §8: without ignoreDates only projects running today are listed; visible=3 adds hidden
        # ones (and those of hidden customers, §11 "Visibility").
        return _list(self.http.get("/api/projects", {"visible": 3, "ignoreDates": 1}).data)

    def activities(self) -> list[Row]:
        return _list(self.http.get("/api/activities", {"visible": 3}).data)

    def tag_names(self) -> list[str]:
        """Every tag name (deprecated ``GET /api/tags``, the only listing of all tags, §8)."""
        data = self.http.get("/api/tags").data
        return [str(name) for name in data] if isinstance(data, list) else []

    def create_tag(self, name: str) -> Row:
        # §8: send visible=true, or the missing checkbox saves the tag hidden.
        return _object(
            self.http.request("POST", "/api/tags", json_body={"name": name, "visible": True}).data
        )

    def create_customer(self, body: Row) -> Row:
        # §11: ROLE_ADMIN and up; 200 with the entity; 400 with the form error body.
        return _object(self.http.request("POST", "/api/customers", json_body=body).data)

    def create_project(self, body: Row) -> Row:
        return _object(self.http.request("POST", "/api/projects", json_body=body).data)

    # -- timesheets --------------------------------------------------------------------------------
    def timesheet_pages(self, filters: Mapping[str, Any], page_size: int) -> Iterator[list[Row]]:
        """``GET /api/timesheets`` page by page, following ``X-Total-Pages`` (§5).

        A page past the last one is a 404 (§5), which also ends the listing when records
        disappear while we page.
        """
        page = 1
        while True:
            params = {**filters, "size": min(page_size, MAX_PAGE_SIZE), "page": page}
            try:
                response = self.http.get("/api/timesheets", params)
            except ExternalServiceError as error:
                if error.status == 404 and page > 1:
                    return
                raise
            rows = _list(response.data)
            if rows:
                yield rows
            total_pages = _int_header(response.headers, "X-Total-Pages")
            if total_pages is None:  # headers lost on the way (a proxy): a short page is the last
                if len(rows) < params["size"]:
                    return
            elif page >= total_pages or not rows:
                return
            page += 1

    def timesheet(self, timesheet_id: int) -> Row:
        return _object(self.http.get(f"/api/timesheets/{int(timesheet_id)}").data)

    def create_timesheet(self, body: Row) -> Row:
        # §4: POST answers 200 (not 201); full=true returns project/activity/user as objects.
        return _object(
            self.http.request(
                "POST", "/api/timesheets", params={"full": "true"}, json_body=body
            ).data
        )

    def update_timesheet(self, timesheet_id: int, body: Row) -> Row:
        # §4: PATCH is a partial update; fields left out stay as they are.
        return _object(
            self.http.request("PATCH", f"/api/timesheets/{int(timesheet_id)}", json_body=body).data
        )

    def delete_timesheet(self, timesheet_id: int) -> None:
        self.http.request("DELETE", f"/api/timesheets/{int(timesheet_id)}")  # 204 (§1)


def _object(data: Any) -> Row:
    if isinstance(data, dict):
        return data
    raise ExternalServiceError(
        f"Kimai answered with {type(data).__name__} where an object was expected",
        permanent=True,
        body=data,
        service="Kimai",
    )


def _list(data: Any) -> list[Row]:
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)]
    raise ExternalServiceError(
        f"Kimai answered with {type(data).__name__} where a list was expected",
        permanent=True,
        body=data,
        service="Kimai",
    )


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    try:
        return int(headers.get(name, ""))
    except ValueError:
        return None
