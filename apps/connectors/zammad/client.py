"""Zammad's REST API, as thin typed calls returning Zammad's own JSON.

Section numbers (§) refer to ``docs/reference/zammad-api.md``. Paging: pages start at 1, there
is no Link header, and a page shorter than ``per_page`` is the last one; every call here asks for
at most the endpoint's documented maximum (§2.2, §1.3), since Zammad silently caps larger values
and a capped page would look like the last one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from apps.connectors.http import (
    ExternalServiceError,
    HttpTuning,
    OutboundHttpClient,
    VendorErrorDetails,
)

Row = dict[str, Any]
GlobalRoute = Literal["available", "missing", "forbidden"]

TIME_ACCOUNTINGS_MAX_PAGE = 1000  # paginate_with(default: 500), max 1000 (§1.3)
TICKETS_MAX_PAGE = 100  # GET /api/v1/tickets: 100 / 100 (§2.2)
TICKET_SEARCH_MAX_PAGE = 200  # /api/v1/tickets/search: 50 / 200 (§2.2)
USERS_MAX_PAGE = 1000  # GET /api/v1/users: 100 / 1000 (§2.2)
ORGANIZATIONS_MAX_PAGE = 1000  # GET /api/v1/organizations: 500 / 1000 (§2.2)
GROUPS_PAGE = 100  # GET /api/v1/groups: paged like every index (§2.2); few groups exist
USER_SEARCH_MAX = 200  # GET /api/v1/users/search: 50 / 200 (§2.2)


def zammad_error_details(body: Any) -> VendorErrorDetails:
    """``{"error": "...", "error_human": "..."}`` (§2.4)."""
    if isinstance(body, dict):
        message = body.get("error_human") or body.get("error")
        if isinstance(message, str) and message:
            return VendorErrorDetails(message=message)
    return VendorErrorDetails()


def parse_zammad_time(value: str) -> datetime:
    """UTC ISO-8601 with milliseconds and ``Z`` (§5.6)."""
    return datetime.fromisoformat(value)


def normalize_base_url(base_url: str) -> str:
    """Accept the address people copy from the browser, with or without ``/api/v1``."""
    url = base_url.strip().rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


class ZammadClient:
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
            service="Zammad",
            base_url=normalize_base_url(base_url),
            # §3: an API token goes as `Token token=<token>`.
            headers={"Authorization": f"Token token={token}"},
            tuning=tuning,
            transport=transport,
            explain_error=zammad_error_details,
            sleep=sleep,
        )
        self._global_route: GlobalRoute | None = None
        # The first row the probe returned (lowest id); the check uses it to test ticket access.
        self.sample_time_accounting: Row | None = None

    # -- who and what -----------------------------------------------------------------------------
    def current_user(self) -> Row:
        data = self.http.get("/api/v1/users/me").data
        return data if isinstance(data, dict) else {}

    def version(self) -> str | None:
        """Needs ``admin`` (§3); callers treat a 403 as "unknown"."""
        data = self.http.get("/api/v1/version").data
        return str(data.get("version")) if isinstance(data, dict) and data.get("version") else None

    def setting_values(self) -> dict[str, Any]:
        """Setting name → current value, for the settings this token may read (§1.2)."""
        data = self.http.get("/api/v1/settings").data
        values: dict[str, Any] = {}
        for setting in data if isinstance(data, list) else []:
            if isinstance(setting, dict) and isinstance(setting.get("name"), str):
                state = setting.get("state_current")
                values[setting["name"]] = state.get("value") if isinstance(state, dict) else None
        return values

    def time_accounting_types(self) -> list[Row]:
        return _rows(self.http.get("/api/v1/time_accounting/types").data)

    # -- time accountings -------------------------------------------------------------------------
    def global_route(self) -> GlobalRoute:
        """Whether ``/api/v1/time_accountings`` works for this token; probed once, remembered.

        The global routes came with Zammad 6.1 (issue #4791) and need ``admin.time_accounting``
        (§1.3, §5.9): 404 means an older Zammad, 403 a token without that permission. Either way
        the per-ticket routes still work.
        """
        if self._global_route is None:
            try:
                data = self.http.get("/api/v1/time_accountings", {"per_page": 1, "page": 1}).data
                self.sample_time_accounting = next(iter(_rows(data)), None)
                self._global_route = "available"
            except ExternalServiceError as error:
                if error.status == 404:
                    self._global_route = "missing"
                elif error.status == 403:
                    self._global_route = "forbidden"
                else:
                    raise
        return self._global_route

    def remember_global_route(self, route: GlobalRoute) -> None:
        """What a real request found out, so no separate probe is needed (one request less)."""
        self._global_route = route

    @property
    def global_route_known(self) -> GlobalRoute | None:
        return self._global_route

    def time_accounting_pages(
        self, sort_by: str, order_by: str, page_size: int = TIME_ACCOUNTINGS_MAX_PAGE
    ) -> Iterator[list[Row]]:
        """Pages of the global list; ``sort_by``/``order_by`` are comma lists of columns (§1.3)."""
        return self._pages(
            "/api/v1/time_accountings",
            {"sort_by": sort_by, "order_by": order_by},
            min(page_size, TIME_ACCOUNTINGS_MAX_PAGE),
        )

    def time_accountings_of_ticket(self, ticket_id: int) -> list[Row]:
        """One ticket's complete current set (§1.5.2); [] when the ticket is gone (§1.3: an
        agent gets 404 for a missing ticket, an admin 200 [])."""
        rows: list[Row] = []
        try:
            for page in self._pages(
                f"/api/v1/tickets/{int(ticket_id)}/time_accountings",
                {"sort_by": "id", "order_by": "asc"},
                TIME_ACCOUNTINGS_MAX_PAGE,
            ):
                rows.extend(page)
        except ExternalServiceError as error:
            if error.status == 404:
                return []
            raise
        return rows

    # -- tickets, users, organizations ------------------------------------------------------------
    def tickets_by_ids(self, ticket_ids: Iterable[int]) -> list[Row]:
        """Tickets in bulk: one search request per 200 ids (SQL condition, so no search-index
        lag, §1.5.3 and §5.8). Tickets that are gone or out of reach are simply absent."""
        ids = sorted({int(i) for i in ticket_ids})
        tickets: list[Row] = []
        for start in range(0, len(ids), TICKET_SEARCH_MAX_PAGE):
            chunk = ids[start : start + TICKET_SEARCH_MAX_PAGE]
            tickets.extend(
                self._search_tickets(
                    {"ticket.id": {"operator": "is", "value": [str(i) for i in chunk]}},
                    page=1,
                    per_page=TICKET_SEARCH_MAX_PAGE,
                    sort_by="id",
                    order_by="asc",
                )
            )
        return tickets

    def tickets_updated_since(self, instant: datetime) -> Iterator[list[Row]]:
        """Tickets whose ``updated_at`` is at or after ``instant``: every change of a ticket's
        time total bumps it (§1.5.3). ``after (absolute)`` compiles to ``>=``."""
        condition = {
            "ticket.updated_at": {
                "operator": "after (absolute)",
                "value": instant.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            }
        }
        page = 1
        while True:
            rows = self._search_tickets(
                condition,
                page=page,
                per_page=TICKET_SEARCH_MAX_PAGE,
                sort_by="updated_at,id",
                order_by="asc,asc",
            )
            if rows:
                yield rows
            if len(rows) < TICKET_SEARCH_MAX_PAGE:
                return
            page += 1

    def ticket_pages(self) -> Iterator[list[Row]]:
        return self._pages("/api/v1/tickets", {"expand": "true"}, TICKETS_MAX_PAGE)

    def user_pages(self) -> Iterator[list[Row]]:
        return self._pages("/api/v1/users", {}, USERS_MAX_PAGE)

    def organization_pages(self) -> Iterator[list[Row]]:
        return self._pages("/api/v1/organizations", {}, ORGANIZATIONS_MAX_PAGE)

    def group_pages(self) -> Iterator[list[Row]]:
        """Every group: ticket.agent or admin.group may list them all (§2.5)."""
        return self._pages("/api/v1/groups", {}, GROUPS_PAGE)

    def search_users(self, query: str, limit: int = 20) -> list[Row]:
        """Users whose login, name or e-mail match ``query`` (Zammad's search syntax)."""
        params = {"query": query, "limit": min(limit, USER_SEARCH_MAX)}
        return _rows(self.http.get("/api/v1/users/search", params).data)

    def user(self, user_id: int) -> Row:
        data = self.http.get(f"/api/v1/users/{int(user_id)}").data
        return data if isinstance(data, dict) else {}

    def ticket(self, ticket_id: int) -> Row:
        data = self.http.get(f"/api/v1/tickets/{int(ticket_id)}").data
        return data if isinstance(data, dict) else {}

    def first_tickets(self, count: int) -> list[Row]:
        return _rows(self.http.get("/api/v1/tickets", {"per_page": count, "page": 1}).data)

    def first_users(self, count: int) -> list[Row]:
        return _rows(self.http.get("/api/v1/users", {"per_page": count, "page": 1}).data)

    # -- helpers ----------------------------------------------------------------------------------
    def _search_tickets(
        self, condition: Row, *, page: int, per_page: int, sort_by: str, order_by: str
    ) -> list[Row]:
        body = {
            "condition": condition,
            "sort_by": sort_by,
            "order_by": order_by,
            "per_page": per_page,
            "page": page,
            # §2.2 / §5.8: the default answer changed shape between 6.x releases; with
            # expand=true it is an array of tickets in all of them.
            "expand": True,
        }
        data = self.http.request(
            "POST", "/api/v1/tickets/search", json_body=body, safe_to_repeat=True
        ).data
        return _tickets_from_search(data)

    def _pages(self, path: str, params: dict[str, Any], page_size: int) -> Iterator[list[Row]]:
        page = 1
        while True:
            rows = _rows(self.http.get(path, {**params, "per_page": page_size, "page": page}).data)
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            page += 1


def _rows(data: Any) -> list[Row]:
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)]
    raise ExternalServiceError(
        f"Zammad answered with {type(data).__name__} where a list was expected",
        permanent=True,
        body=data,
        service="Zammad",
    )


def _tickets_from_search(data: Any) -> list[Row]:
    """Plain array (6.5 and ``expand=true``), or the older ``{"tickets": [ids], "assets":
    {"Ticket": {...}}}`` / ``full=true`` ``{"record_ids": [...], "assets": ...}`` shapes (§2.2)."""
    if isinstance(data, list):
        return [row for row in data if isinstance(row, dict)]
    if isinstance(data, dict):
        assets = data.get("assets", {}).get("Ticket", {})
        if isinstance(assets, dict):
            return [row for row in assets.values() if isinstance(row, dict)]
    return []
