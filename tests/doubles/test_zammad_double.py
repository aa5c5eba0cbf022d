"""The Zammad double behaves like Zammad 6.x as docs/reference/zammad-api.md describes it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.doubles.dataset import demo_dataset
from tests.doubles.zammad import (
    ManualClock,
    ZammadDouble,
    format_decimal,
    seed_from_dataset,
)
from tests.support.processes import stop_process_tree

T0 = datetime(2026, 1, 5, 9, 0, 0, 123000, tzinfo=UTC)
ADMIN = "admin-token"  # user 2: Admin + Agent; token admin.time_accounting + ticket.agent
AGENT = "agent-token"  # user 3: Agent with full access to group 1
READER = "reader-token"  # user 4: Agent with read access to group 1 only


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def double(clock: ManualClock) -> Iterator[ZammadDouble]:
    zammad = ZammadDouble(now=clock, webhook_retry_scale=0.002)
    zammad.add_group("Service Desk", id=1)
    zammad.add_group("Billing", id=2)
    zammad.add_organization("Awesome Customer Inc.", id=1)
    zammad.add_agent("sync@example.com", "Time", "Sync", id=2, admin=True)
    zammad.add_agent("chris@chrispresso.com", "Christopher", "Miller", id=3, groups={1: "full"})
    zammad.add_agent("emma@example.com", "Emma", "Schulz", id=4, groups={1: "read"})
    zammad.add_customer_user("Emily", "Adams", "emily@example.com", id=8, organization_id=1)
    zammad.add_time_accounting_type("Billable", id=3)
    zammad.add_token(2, ["admin.time_accounting", "ticket.agent"], ADMIN)
    zammad.add_token(3, ["ticket.agent"], AGENT)
    zammad.add_token(4, ["ticket.agent"], READER)
    zammad.add_ticket("Printer broken", customer_id=8, group_id=1, id=50, owner_id=3)
    zammad.add_ticket("VPN drops", customer_id=8, group_id=1, id=51, owner_id=3)
    yield zammad
    zammad.close()


def api(double: ZammadDouble, token: str | None = ADMIN) -> httpx.Client:
    headers = {"Authorization": f"Token token={token}"} if token else {}
    return httpx.Client(
        transport=double.transport(), base_url="http://zammad.test", headers=headers
    )


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records requests and answers scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.delay = 0.0
        self.hold = threading.Event()  # cleared: requests wait until it is set again
        self.hold.set()
        self.answered = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                time.sleep(receiver.delay)
                receiver.hold.wait(30)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.answered += 1
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/zammad/webhook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def payload(self, index: int = -1) -> Any:
        return json.loads(self.requests[index][1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


def book(client: httpx.Client, ticket_id: int = 50, **body: Any) -> httpx.Response:
    return client.post(f"/api/v1/tickets/{ticket_id}/time_accountings", json=body)


# -- authentication (§3) --------------------------------------------------------------------------
def test_it_accepts_the_token_token_header(double: ZammadDouble) -> None:
    assert api(double).get("/api/v1/users/me").json()["id"] == 2


@pytest.mark.parametrize("header", [f"Token {ADMIN}", f"Bearer {ADMIN}", f'Token token="{ADMIN}"'])
def test_it_accepts_the_other_token_forms_rails_parses(double: ZammadDouble, header: str) -> None:
    response = api(double, None).get("/api/v1/users/me", headers={"Authorization": header})
    assert response.json()["login"] == "sync@example.com"


def test_it_answers_401_with_x_failure_for_an_unknown_token(double: ZammadDouble) -> None:
    response = api(double, "nope").get("/api/v1/time_accountings")
    assert response.status_code == 401
    assert response.json() == {
        "error": "Can't find User for Token",
        "error_human": "Can't find User for Token",
    }
    assert response.headers["x-failure"] == "Can't find User for Token"


def test_it_answers_an_unknown_bearer_token_as_an_invalid_oauth_token(
    double: ZammadDouble,
) -> None:
    response = api(double, None).get("/api/v1/users/me", headers={"Authorization": "Bearer x"})
    assert (response.status_code, response.json()["error"]) == (
        401,
        "The provided token is invalid.",
    )


def test_it_answers_403_authentication_required_without_credentials(
    double: ZammadDouble,
) -> None:
    response = api(double, None).get("/api/v1/tickets")
    assert response.status_code == 403
    assert response.json()["error"] == "Authentication required"
    assert response.headers["x-failure"] == "Authentication required"


def test_it_answers_401_for_an_inactive_user(double: ZammadDouble) -> None:
    double.users[3].active = False
    response = api(double, AGENT).get("/api/v1/tickets")
    assert response.status_code == 401
    assert response.json()["error"].startswith("Login failed.")


def test_it_answers_401_for_an_expired_token(double: ZammadDouble) -> None:
    double.add_token(2, ["admin"], "old", expires_at=date(2026, 1, 5))
    response = api(double, "old").get("/api/v1/tickets")
    assert (response.status_code, response.json()["error"]) == (
        401,
        "Not authorized (token expired)!",
    )


def test_it_intersects_token_permissions_with_the_users(double: ZammadDouble) -> None:
    double.add_token(3, ["admin.time_accounting"], "agent-with-admin-token")
    response = api(double, "agent-with-admin-token").get("/api/v1/time_accountings")
    assert response.status_code == 403


def test_it_needs_admin_for_the_version(double: ZammadDouble) -> None:
    response = api(double).get("/api/v1/version")
    assert response.status_code == 403
    assert response.json()["error"] == "Token authorization failed."


def test_it_tells_an_admin_token_the_version(double: ZammadDouble) -> None:
    double.add_token(2, ["admin"], "full-admin")
    assert api(double, "full-admin").get("/api/v1/version").json() == {"version": "6.5.0"}


# -- time accountings: shape (§1.3) ---------------------------------------------------------------
def test_it_returns_time_units_as_decimal_strings(double: ZammadDouble) -> None:
    client = api(double)
    assert book(client, time_unit=15).json()["time_unit"] == "15.0"
    assert book(client, time_unit="3.33").json()["time_unit"] == "3.33"


def test_it_rounds_time_units_to_two_decimals(double: ZammadDouble) -> None:
    assert book(api(double), time_unit="7.125").json()["time_unit"] == "7.13"


def test_it_renders_timestamps_in_utc_with_milliseconds(double: ZammadDouble) -> None:
    entry = book(api(double), time_unit=15).json()
    assert entry["created_at"] == entry["updated_at"] == "2026-01-05T09:00:00.123Z"


def test_it_renders_entries_with_exactly_the_table_columns(double: ZammadDouble) -> None:
    entry = book(api(double), time_unit="60.0", type_id=3).json()
    assert list(entry) == [
        "id", "ticket_id", "ticket_article_id", "time_unit", "type_id", "created_by_id",
        "created_at", "updated_at",
    ]  # fmt: skip


def test_it_creates_with_201_and_the_caller_as_author(double: ZammadDouble) -> None:
    response = book(api(double), time_unit=15, created_by_id=3)
    assert response.status_code == 201
    assert response.json()["created_by_id"] == 2


def test_it_ignores_a_client_sent_created_at(double: ZammadDouble) -> None:
    entry = book(api(double), time_unit=15, created_at="2020-01-01T00:00:00Z").json()
    assert entry["created_at"] == "2026-01-05T09:00:00.123Z"


def test_it_answers_422_when_time_unit_is_missing(double: ZammadDouble) -> None:
    response = book(api(double), type_id=3)
    assert response.status_code == 422
    assert response.json() == {
        "error": "Time unit can't be blank",
        "error_human": "Time unit can't be blank",
    }


def test_it_ignores_a_json_body_sent_without_a_json_content_type(double: ZammadDouble) -> None:
    response = api(double).post(
        "/api/v1/tickets/50/time_accountings",
        content=b'{"time_unit": "15"}',
        headers={"Content-Type": "text/plain"},
    )
    assert (response.status_code, response.json()["error"]) == (422, "Time unit can't be blank")


def test_it_answers_422_when_an_admin_books_on_an_unknown_ticket(double: ZammadDouble) -> None:
    response = book(api(double), ticket_id=999, time_unit=5)
    assert (response.status_code, response.json()["error"]) == (422, "Ticket must exist")


def test_it_answers_422_for_an_unknown_type_and_hides_the_details_from_agents(
    double: ZammadDouble,
) -> None:
    response = book(api(double, AGENT), time_unit=5, type_id=99)
    assert response.status_code == 422
    assert response.json()["error"].startswith("Error ID ")


def test_it_answers_422_for_an_article_of_another_ticket(double: ZammadDouble) -> None:
    article = double.add_article(51, 3)
    response = book(api(double), time_unit=5, ticket_article_id=article.id)
    assert response.status_code == 422
    assert response.json()["error"] == "This article is not part of the ticket."


def test_it_answers_422_for_a_second_entry_on_the_same_article(double: ZammadDouble) -> None:
    entry = double.book_time(50, 3, 10)
    response = book(api(double), time_unit=5, ticket_article_id=entry.ticket_article_id)
    assert response.status_code == 422


def test_it_answers_422_when_the_ticket_total_would_overflow(double: ZammadDouble) -> None:
    double.book_time(50, 3, "9999")
    response = book(api(double), time_unit=1)
    assert response.status_code == 422
    assert double.tickets[50].time_unit == Decimal("9999")


def test_it_expands_type_name_and_author_login(double: ZammadDouble) -> None:
    double.book_time(50, 3, 15, type_id=3)
    entry = api(double).get("/api/v1/time_accountings", params={"expand": "true"}).json()[0]
    assert (entry["type"], entry["created_by"]) == ("Billable", "chris@chrispresso.com")


# -- time accountings: paging and sorting (§1.3) --------------------------------------------------
def test_it_defaults_per_page_to_500(double: ZammadDouble) -> None:
    for _ in range(501):
        double.book_time(50, 3, 1, article=False)
    assert len(api(double).get("/api/v1/time_accountings").json()) == 500


def test_it_caps_per_page_at_1000(double: ZammadDouble) -> None:
    for _ in range(1001):
        double.book_time(51, 3, 1, article=False)
    response = api(double).get("/api/v1/time_accountings", params={"per_page": 5000})
    assert len(response.json()) == 1000


def test_it_accepts_limit_as_an_alias_of_per_page(double: ZammadDouble) -> None:
    for _ in range(3):
        double.book_time(50, 3, 1)
    assert len(api(double).get("/api/v1/time_accountings", params={"limit": 2}).json()) == 2


def test_it_answers_an_empty_page_past_the_end(double: ZammadDouble) -> None:
    double.book_time(50, 3, 1)
    response = api(double).get("/api/v1/time_accountings", params={"page": 2, "per_page": 1})
    assert (response.status_code, response.json(), "link" in response.headers) == (200, [], False)


def test_it_sorts_by_several_columns_and_directions(
    double: ZammadDouble, clock: ManualClock
) -> None:
    first = double.book_time(50, 3, 1)
    second = double.book_time(50, 3, 2)
    clock.advance(minutes=5)
    third = double.book_time(51, 3, 3)
    params = {"sort_by": "updated_at,id", "order_by": "desc,asc"}
    rows = api(double).get("/api/v1/time_accountings", params=params).json()
    assert [r["id"] for r in rows] == [third.id, first.id, second.id]


def test_it_ignores_a_sort_column_that_has_no_order(double: ZammadDouble) -> None:
    first = double.book_time(50, 3, 10)
    second = double.book_time(50, 3, 10)
    double.edit_time(first.id, type_id=3)  # the edited row now comes last in the heap
    params = {"sort_by": "time_unit,id", "order_by": "asc"}
    rows = api(double).get("/api/v1/time_accountings", params=params).json()
    assert [r["id"] for r in rows] == [second.id, first.id]


def test_it_answers_500_for_an_unknown_sort_column(double: ZammadDouble) -> None:
    response = api(double).get("/api/v1/time_accountings", params={"sort_by": "duration"})
    assert response.status_code == 500
    assert response.json() == {"error": "Found invalid column 'duration' for sorting."}


def test_it_answers_500_for_an_invalid_order_direction(double: ZammadDouble) -> None:
    response = api(double).get("/api/v1/time_accountings", params={"order_by": "up"})
    assert response.status_code == 500


def test_it_hides_the_500_message_from_non_admins(double: ZammadDouble) -> None:
    response = api(double, AGENT).get(
        "/api/v1/tickets/50/time_accountings", params={"sort_by": "duration"}
    )
    assert response.status_code == 500
    assert response.json()["error"].endswith(": Please contact your administrator.")


# -- time accountings: routes and permissions (§1.3) ----------------------------------------------
def test_it_filters_the_global_route_by_a_ticket_id_param(double: ZammadDouble) -> None:
    double.book_time(50, 3, 1)
    mine = double.book_time(51, 3, 2)
    rows = api(double).get("/api/v1/time_accountings", params={"ticket_id": 51}).json()
    assert [r["id"] for r in rows] == [mine.id]


def test_it_answers_an_admin_200_empty_for_an_unknown_ticket(double: ZammadDouble) -> None:
    response = api(double).get("/api/v1/tickets/999/time_accountings")
    assert (response.status_code, response.json()) == (200, [])


def test_it_answers_an_agent_404_for_an_unknown_ticket(double: ZammadDouble) -> None:
    response = api(double, AGENT).get("/api/v1/tickets/999/time_accountings")
    assert response.status_code == 404
    assert response.json()["error"] == "Couldn't find Ticket with 'id'=999"


def test_it_lets_an_agent_with_change_access_list_a_tickets_entries(
    double: ZammadDouble,
) -> None:
    double.book_time(50, 3, 1)
    response = api(double, AGENT).get("/api/v1/tickets/50/time_accountings")
    assert (response.status_code, len(response.json())) == (200, 1)


def test_it_forbids_an_agent_with_read_access_only(double: ZammadDouble) -> None:
    response = api(double, READER).get("/api/v1/tickets/50/time_accountings")
    assert response.status_code == 403
    assert response.json() == {"error": "Not authorized", "error_human": "Not authorized"}


def test_it_forbids_an_agent_the_global_list_without_a_ticket_id(double: ZammadDouble) -> None:
    assert api(double, AGENT).get("/api/v1/time_accountings").status_code == 403


def test_it_lets_an_agent_use_the_global_list_with_a_ticket_id(double: ZammadDouble) -> None:
    response = api(double, AGENT).get("/api/v1/time_accountings", params={"ticket_id": 50})
    assert response.status_code == 200


def test_it_lets_an_agent_book_time(double: ZammadDouble) -> None:
    response = book(api(double, AGENT), time_unit=30)
    assert (response.status_code, response.json()["created_by_id"]) == (201, 3)


def test_it_forbids_an_agent_to_book_when_time_accounting_is_off(double: ZammadDouble) -> None:
    double.set_setting("time_accounting", False)
    response = book(api(double, AGENT), time_unit=30)
    assert response.status_code == 403
    assert response.json()["error"] == "Not authorized (Time Accounting is not enabled)!"


def test_it_forbids_agents_to_update_entries(double: ZammadDouble) -> None:
    entry = double.book_time(50, 3, 10)
    response = api(double, AGENT).put(
        f"/api/v1/tickets/50/time_accountings/{entry.id}", json={"time_unit": 5}
    )
    assert response.status_code == 403
    assert double.time_accountings[entry.id].time_unit == 10


def test_it_answers_404_for_an_entry_of_another_ticket_on_the_nested_route(
    double: ZammadDouble,
) -> None:
    entry = double.book_time(51, 3, 10)
    assert api(double).get(f"/api/v1/tickets/50/time_accountings/{entry.id}").status_code == 404


def test_it_updates_with_200_and_bumps_the_entry_updated_at(
    double: ZammadDouble, clock: ManualClock
) -> None:
    entry = double.book_time(50, 3, 10)
    clock.advance(minutes=1)
    response = api(double).put(f"/api/v1/time_accountings/{entry.id}", json={"time_unit": "12"})
    assert response.status_code == 200
    assert response.json()["updated_at"] == "2026-01-05T09:01:00.123Z"


def test_it_deletes_with_200_and_an_empty_object_leaving_no_trace(double: ZammadDouble) -> None:
    entry = double.book_time(50, 3, 10)
    client = api(double)
    response = client.delete(f"/api/v1/time_accountings/{entry.id}")
    assert (response.status_code, response.json()) == (200, {})
    assert client.get(f"/api/v1/time_accountings/{entry.id}").status_code == 404


def test_it_404s_the_global_route_on_early_6_0(double: ZammadDouble) -> None:
    double.global_time_accountings_route = False
    response = api(double).get("/api/v1/time_accountings")
    assert (response.status_code, response.json()["error"]) == (404, "This page doesn't exist.")


def test_it_keeps_the_per_ticket_route_on_early_6_0(double: ZammadDouble) -> None:
    double.global_time_accountings_route = False
    assert api(double).get("/api/v1/tickets/50/time_accountings").status_code == 200


# -- the ticket total (§1.1, §5.1) ----------------------------------------------------------------
def test_it_recomputes_the_total_and_bumps_the_ticket_on_create(
    double: ZammadDouble, clock: ManualClock
) -> None:
    clock.advance(minutes=3)
    book(api(double), time_unit="22.5")
    ticket = api(double).get("/api/v1/tickets/50").json()
    assert (ticket["time_unit"], ticket["updated_at"]) == ("22.5", "2026-01-05T09:03:00.123Z")


def test_it_does_not_touch_the_ticket_on_a_type_only_edit(
    double: ZammadDouble, clock: ManualClock
) -> None:
    entry = double.book_time(50, 3, 10)
    before = double.tickets[50].updated_at
    clock.advance(minutes=1)
    api(double).put(f"/api/v1/time_accountings/{entry.id}", json={"type_id": 3})
    assert double.tickets[50].updated_at == before
    assert double.time_accountings[entry.id].updated_at == before + timedelta(minutes=1)


def test_it_does_not_touch_anything_when_an_edit_changes_nothing(
    double: ZammadDouble, clock: ManualClock
) -> None:
    entry = double.book_time(50, 3, 10)
    clock.advance(minutes=1)
    api(double).put(f"/api/v1/time_accountings/{entry.id}", json={"time_unit": "10.00"})
    assert double.time_accountings[entry.id].updated_at == T0


def test_it_keeps_the_total_null_after_booking_zero(double: ZammadDouble) -> None:
    book(api(double), time_unit=0)
    assert api(double).get("/api/v1/tickets/50").json()["time_unit"] is None


def test_it_sets_the_total_to_zero_point_zero_after_the_last_delete(double: ZammadDouble) -> None:
    entry = double.book_time(50, 3, 10)
    double.delete_time(entry.id)
    assert api(double).get("/api/v1/tickets/50").json()["time_unit"] == "0.0"


def test_it_scopes_an_update_by_a_ticket_id_in_the_body(double: ZammadDouble) -> None:
    # params[:ticket_id] comes from the body too, so the lookup is scoped to ticket 51: 404
    entry = double.book_time(50, 3, 10)
    response = api(double).put(f"/api/v1/time_accountings/{entry.id}", json={"ticket_id": 51})
    assert (response.status_code, double.time_accountings[entry.id].ticket_id) == (404, 50)


def test_it_leaves_the_old_total_stale_when_an_entry_moves_ticket(double: ZammadDouble) -> None:
    entry = double.book_time(50, 3, 10)
    double.edit_time(entry.id, ticket_id=51)
    assert (double.tickets[50].time_unit, double.tickets[51].time_unit) == (10, 10)


# -- activity types (§1.1) ------------------------------------------------------------------------
def test_it_creates_and_lists_activity_types(double: ZammadDouble) -> None:
    client = api(double)
    created = client.post("/api/v1/time_accounting/types", json={"name": "Travel"})
    assert created.status_code == 201
    names = [t["name"] for t in client.get("/api/v1/time_accounting/types").json()]
    assert names == ["Billable", "Travel"]


def test_it_rejects_a_type_name_taken_in_another_case(double: ZammadDouble) -> None:
    response = api(double).post("/api/v1/time_accounting/types", json={"name": "billable"})
    assert response.status_code == 422


def test_it_deactivates_a_type_through_update(double: ZammadDouble) -> None:
    response = api(double).put("/api/v1/time_accounting/types/3", json={"active": False})
    assert response.json()["active"] is False


# -- tickets (§2.1, §2.2) -------------------------------------------------------------------------
def test_it_returns_raw_ticket_attributes_without_ids(double: ZammadDouble) -> None:
    ticket = api(double).get("/api/v1/tickets/50").json()
    assert ticket["number"] == "20050"
    assert ticket["owner_id"] == 3
    assert "ticket_time_accounting_ids" not in ticket


def test_it_expands_a_ticket_with_names_and_entry_ids(double: ZammadDouble) -> None:
    entry = double.book_time(50, 3, 10)
    ticket = api(double).get("/api/v1/tickets/50", params={"expand": "true"}).json()
    assert ticket["ticket_time_accounting_ids"] == [entry.id]
    assert (ticket["owner"], ticket["group"], ticket["state"]) == (
        "chris@chrispresso.com",
        "Service Desk",
        "open",
    )
    assert "ticket_time_accounting" not in ticket


def test_it_shows_an_empty_ticket_time_accounting_list_only_without_entries(
    double: ZammadDouble,
) -> None:
    ticket = api(double).get("/api/v1/tickets/51", params={"expand": "true"}).json()
    assert ticket["ticket_time_accounting"] == []


def test_it_caps_the_ticket_index_at_100(double: ZammadDouble) -> None:
    for index in range(101):
        double.add_ticket(f"Ticket {index}", customer_id=8, group_id=1)
    response = api(double).get("/api/v1/tickets", params={"per_page": 500})
    assert len(response.json()) == 100


def test_it_lists_a_tickets_tags(double: ZammadDouble) -> None:
    double.add_ticket("VIP printer", customer_id=8, group_id=1, id=52, tags=["vip"])
    response = api(double).get("/api/v1/tags", params={"object": "Ticket", "o_id": 52})
    assert response.json() == {"tags": ["vip"]}


def test_it_hides_tickets_of_groups_without_access(double: ZammadDouble) -> None:
    double.add_ticket("Invoice wrong", customer_id=8, group_id=2, id=60)
    ids = [t["id"] for t in api(double, AGENT).get("/api/v1/tickets").json()]
    assert ids == [50, 51]


def test_it_searches_tickets_updated_at_or_after_a_moment(
    double: ZammadDouble, clock: ManualClock
) -> None:
    clock.advance(hours=1)
    double.book_time(51, 3, 5)
    condition = {
        "ticket.updated_at": {"operator": "after (absolute)", "value": "2026-01-05T10:00:00.123Z"}
    }
    body = {"condition": condition, "expand": True}
    found = api(double).post("/api/v1/tickets/search", json=body).json()
    assert [t["id"] for t in found] == [51]


def test_it_reads_a_search_condition_from_the_query_string(
    double: ZammadDouble, clock: ManualClock
) -> None:
    clock.advance(hours=1)
    double.book_time(50, 3, 5)
    params = {
        "condition[ticket.updated_at][operator]": "after (absolute)",
        "condition[ticket.updated_at][value]": "2026-01-05T09:30:00Z",
        "expand": "true",
    }
    found = api(double).get("/api/v1/tickets/search", params=params).json()
    assert [t["id"] for t in found] == [50]


def test_it_searches_by_an_is_condition_on_a_null_column(double: ZammadDouble) -> None:
    double.book_time(50, 3, 10)
    condition = {"ticket.time_unit": {"operator": "is", "value": None}}
    found = api(double).post("/api/v1/tickets/search", json={"condition": condition}).json()
    assert [t["id"] for t in found] == [51]


def test_it_returns_a_plain_array_from_search_on_6_5(double: ZammadDouble) -> None:
    found = api(double).get("/api/v1/tickets/search", params={"query": "VPN"}).json()
    assert [t["id"] for t in found] == [51]


def test_it_returns_record_ids_assets_and_total_with_full_on_6_5(
    double: ZammadDouble, clock: ManualClock
) -> None:
    clock.advance(minutes=1)
    double.update_ticket(51, by=3, state="pending reminder")
    found = api(double).get("/api/v1/tickets/search", params={"full": "true"}).json()
    assert (found["record_ids"], found["total_count"]) == ([51, 50], 2)
    assert set(found["assets"]["Ticket"]) == {"50", "51"}


def test_it_returns_ids_and_assets_from_search_on_older_6_x(
    double: ZammadDouble, clock: ManualClock
) -> None:
    clock.advance(minutes=1)
    double.update_ticket(51, by=3, state="pending reminder")
    double.search_response_format = "6.0"
    found = api(double).get("/api/v1/tickets/search", params={"per_page": 1}).json()
    assert (found["tickets"], found["tickets_count"]) == ([51], 1)
    assert "51" in found["assets"]["Ticket"]


def test_it_returns_an_array_from_search_with_expand_on_older_6_x(double: ZammadDouble) -> None:
    double.search_response_format = "6.0"
    body = {"expand": True, "sort_by": "number", "order_by": "desc"}
    found = api(double).post("/api/v1/tickets/search", json=body).json()
    assert [t["number"] for t in found] == ["20051", "20050"]


def test_it_answers_search_with_an_empty_list_without_ticket_agent(double: ZammadDouble) -> None:
    double.add_token(2, ["admin.time_accounting"], "ta-only")
    response = api(double, "ta-only").post("/api/v1/tickets/search", json={"expand": True})
    assert (response.status_code, response.json()) == (200, [])


def test_it_caps_search_per_page_at_200(double: ZammadDouble) -> None:
    for index in range(201):
        double.add_ticket(f"Ticket {index}", customer_id=8, group_id=1)
    response = api(double).post("/api/v1/tickets/search", json={"per_page": 999, "expand": True})
    assert len(response.json()) == 200


# -- users, organizations, settings (§1.2, §2.2) --------------------------------------------------
def test_it_never_returns_a_password(double: ZammadDouble) -> None:
    users = api(double).get("/api/v1/users", params={"expand": "true"}).json()
    assert users and all("password" not in u for u in users)


def test_it_finds_users_by_search(double: ZammadDouble) -> None:
    found = api(double).get("/api/v1/users/search", params={"query": "emma"}).json()
    assert [u["id"] for u in found] == [4]


def test_it_lists_organizations_for_agents(double: ZammadDouble) -> None:
    orgs = api(double, AGENT).get("/api/v1/organizations").json()
    assert [(o["id"], o["name"], o["member_ids"]) for o in orgs] == [
        (1, "Awesome Customer Inc.", [8])
    ]


def test_it_lists_every_group_to_agents_and_refuses_tokens_without_ticket_permissions(
    double: ZammadDouble,
) -> None:
    groups = api(double, AGENT).get("/api/v1/groups").json()
    assert [(g["id"], g["name"], g["active"]) for g in groups] == [
        (1, "Service Desk", True), (2, "Billing", True),
    ]  # fmt: skip
    double.add_token(2, ["admin.time_accounting"], "ta-only")
    refused = api(double, "ta-only").get("/api/v1/groups")
    assert refused.status_code == 403
    assert refused.json()["error"] == "Token authorization failed."


def test_it_puts_setting_values_in_state_current(double: ZammadDouble) -> None:
    double.set_setting("time_accounting_unit", "minute")
    settings = api(double).get("/api/v1/settings").json()
    unit = next(s for s in settings if s["name"] == "time_accounting_unit")
    assert unit["state_current"] == {"value": "minute"}


def test_it_hides_settings_the_token_may_not_see(double: ZammadDouble) -> None:
    names = [s["name"] for s in api(double).get("/api/v1/settings").json()]
    assert "time_accounting" in names
    assert "timezone_default" not in names  # needs admin.system


def test_it_forbids_settings_without_an_admin_permission(double: ZammadDouble) -> None:
    assert api(double, AGENT).get("/api/v1/settings").status_code == 403


# -- agent actions (§5) ---------------------------------------------------------------------------
def test_it_keeps_entries_on_the_source_ticket_after_a_merge(double: ZammadDouble) -> None:
    entry = double.book_time(50, 3, 10)
    double.merge_tickets(50, 51, by=3)
    moved = api(double).get(f"/api/v1/time_accountings/{entry.id}").json()
    assert moved["ticket_id"] == 50
    assert double.articles[moved["ticket_article_id"]].ticket_id == 51
    assert (double.tickets[50].time_unit, double.tickets[51].time_unit) == (10, None)
    assert (double.tickets[50].state_id, double.tickets[50].owner_id) == (5, 1)


def test_it_cascades_entries_when_a_ticket_is_deleted(double: ZammadDouble) -> None:
    double.book_time(50, 3, 10)
    double.delete_ticket(50)
    assert api(double).get("/api/v1/time_accountings").json() == []


def test_it_deletes_the_entry_with_its_article(double: ZammadDouble) -> None:
    entry = double.book_time(50, 3, 10)
    assert entry.ticket_article_id is not None
    double.delete_article(entry.ticket_article_id)
    assert (entry.id in double.time_accountings, double.tickets[50].time_unit) == (False, 0)


def test_it_books_time_through_the_control_endpoint(double: ZammadDouble) -> None:
    response = api(double, None).post(
        "/__double__/book",
        json={"ticket_id": 50, "agent": "chris@chrispresso.com", "time_unit": "15", "type_id": 3},
    )
    assert response.status_code == 201
    assert double.tickets[50].time_unit == 15


# -- webhooks (§4) --------------------------------------------------------------------------------
def test_it_sends_the_webhook_with_zammad_headers(double: ZammadDouble, receiver: Receiver) -> None:
    double.configure_webhook(receiver.url, trigger_name="sync time accounting")
    double.book_time(50, 3, 10)
    assert double.wait_for_webhooks(5)
    headers = receiver.requests[0][0]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["user-agent"] == "Zammad User Agent"
    assert headers["x-zammad-trigger"] == "sync time accounting"
    assert len(headers["x-zammad-delivery"]) == 36


def test_it_signs_the_webhook_body_with_hmac_sha1(double: ZammadDouble, receiver: Receiver) -> None:
    double.configure_webhook(receiver.url, signature_token="s3cret")
    double.book_time(50, 3, 10)
    assert double.wait_for_webhooks(5)
    headers, body = receiver.requests[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    assert headers["x-hub-signature"] == f"sha1={expected}"


def test_it_sends_no_signature_without_a_secret(double: ZammadDouble, receiver: Receiver) -> None:
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10)
    assert double.wait_for_webhooks(5)
    assert "x-hub-signature" not in receiver.requests[0][0]


def test_it_keeps_the_delivery_id_across_retries(double: ZammadDouble, receiver: Receiver) -> None:
    receiver.statuses = [500, 502]
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10)
    assert double.wait_for_webhooks(5)
    ids = {headers["x-zammad-delivery"] for headers, _ in receiver.requests}
    assert (len(receiver.requests), len(ids)) == (3, 1)
    assert [a.attempt for a in double.webhook_attempts] == [1, 2, 3]


def test_it_gives_up_after_five_attempts(double: ZammadDouble, receiver: Receiver) -> None:
    receiver.statuses = [503] * 10
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10)
    assert double.wait_for_webhooks(5)
    assert [(a.attempt, a.status) for a in double.webhook_attempts] == [
        (n, 503) for n in range(1, 6)
    ]


def test_it_counts_a_redirect_as_a_failure(double: ZammadDouble, receiver: Receiver) -> None:
    receiver.statuses = [301]
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10)
    assert double.wait_for_webhooks(5)
    assert [a.status for a in double.webhook_attempts] == [301, 200]


def test_it_records_connection_errors_as_failed_attempts(double: ZammadDouble) -> None:
    double.configure_webhook("http://127.0.0.1:9/closed")
    double.book_time(50, 3, 10)
    assert double.wait_for_webhooks(5)
    assert len(double.webhook_attempts) == 5
    assert all(a.status is None and a.error for a in double.webhook_attempts)


def test_it_sends_sorted_ticket_keys_with_association_hashes(
    double: ZammadDouble, receiver: Receiver
) -> None:
    double.configure_webhook(receiver.url)
    entry = double.book_time(50, 3, "35")
    assert double.wait_for_webhooks(5)
    ticket = receiver.payload()["ticket"]
    assert list(ticket) == sorted(ticket)
    assert ticket["owner"]["login"] == "chris@chrispresso.com"
    assert "password" not in ticket["owner"] and "preferences" not in ticket["owner"]
    assert (ticket["ticket_time_accounting_ids"], ticket["time_unit"]) == ([entry.id], "35.0")


def test_it_sends_the_article_with_accounted_time_as_a_float(
    double: ZammadDouble, receiver: Receiver
) -> None:
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, "3.33")
    assert double.wait_for_webhooks(5)
    article = receiver.payload()["article"]
    assert (article["accounted_time"], article["time_unit"]) == (3.33, "3.33")
    assert list(article)[-1] == "accounted_time"


def test_it_sends_an_empty_article_for_time_booked_without_one(
    double: ZammadDouble, receiver: Receiver
) -> None:
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10, article=False)
    assert double.wait_for_webhooks(5)
    assert receiver.payload()["article"] == {}


def test_it_fires_on_a_standalone_rest_change_in_always_mode(
    double: ZammadDouble, receiver: Receiver
) -> None:
    double.configure_webhook(receiver.url, execution_mode="always")
    book(api(double), time_unit=10)
    assert double.wait_for_webhooks(5)
    assert receiver.payload()["ticket"]["time_unit"] == "10.0"


def test_it_fires_nothing_on_a_type_only_edit(double: ZammadDouble, receiver: Receiver) -> None:
    entry = double.book_time(50, 3, 10)
    double.configure_webhook(receiver.url)
    double.edit_time(entry.id, type_id=3)
    assert double.wait_for_webhooks(5)
    assert receiver.requests == []


def test_it_fires_nothing_when_the_ticket_is_deleted(
    double: ZammadDouble, receiver: Receiver
) -> None:
    double.book_time(50, 3, 10)
    double.configure_webhook(receiver.url)
    double.delete_ticket(50)
    assert double.wait_for_webhooks(5)
    assert receiver.requests == []


def test_it_fires_only_with_an_article_in_selective_mode(
    double: ZammadDouble, receiver: Receiver
) -> None:
    double.configure_webhook(receiver.url, execution_mode="selective")
    double.book_time(50, 3, 10, article=False)
    with_note = double.book_time(50, 3, 5, article=True)
    assert double.wait_for_webhooks(5)
    assert [receiver.payload(i)["article"]["id"] for i in range(len(receiver.requests))] == [
        with_note.ticket_article_id
    ]


def test_it_rebuilds_the_payload_at_each_attempt(double: ZammadDouble, receiver: Receiver) -> None:
    receiver.statuses = [500]
    receiver.delay = 0.05
    double.webhook_retry_scale = 0.02  # the retry waits 0.2 s
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10)
    time.sleep(0.1)
    with double.lock:  # a change no trigger sees, made while the retry waits
        double.tickets[50].title = "Printer fixed"
    assert double.wait_for_webhooks(5)
    titles = [json.loads(body)["ticket"]["title"] for _, body in receiver.requests]
    assert titles == ["Printer broken", "Printer fixed"]


def test_it_discards_a_retry_when_the_ticket_was_deleted(
    double: ZammadDouble, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    double.webhook_retry_scale = 0.02
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10)
    time.sleep(0.05)
    double.delete_ticket(50)
    assert double.wait_for_webhooks(5)
    assert len(receiver.requests) == 1


def test_it_sends_nothing_for_an_inactive_webhook(double: ZammadDouble, receiver: Receiver) -> None:
    double.configure_webhook(receiver.url, active=False)
    double.book_time(50, 3, 10)
    assert double.wait_for_webhooks(5)
    assert receiver.requests == []


def test_it_delivers_from_a_background_thread(double: ZammadDouble, receiver: Receiver) -> None:
    """Booking returns while the receiver still holds the delivery: Zammad's webhook job runs
    after the transaction, never inside the request that booked the time."""
    receiver.hold.clear()
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10)
    assert receiver.answered == 0
    receiver.hold.set()
    assert double.wait_for_webhooks(30)
    assert receiver.answered == 1


def test_it_escapes_html_in_the_webhook_body_like_rails(
    double: ZammadDouble, receiver: Receiver
) -> None:
    double.configure_webhook(receiver.url)
    double.book_time(50, 3, 10, body="<p>Toner & drum</p>")
    assert double.wait_for_webhooks(5)
    body = receiver.requests[0][1]
    assert b"\\u003cp\\u003eToner \\u0026 drum" in body
    assert receiver.payload()["article"]["body"] == "<p>Toner & drum</p>"


def test_it_refuses_webhook_urls_off_loopback(double: ZammadDouble) -> None:
    with pytest.raises(ValueError):
        double.configure_webhook("https://hooks.example.com/zammad")


# -- serving and seeding --------------------------------------------------------------------------
def test_it_serves_the_api_over_loopback_http(double: ZammadDouble) -> None:
    with double.serve() as base_url:
        response = httpx.get(
            f"{base_url}/api/v1/tickets/50", headers={"Authorization": f"Token token={ADMIN}"}
        )
    assert (response.status_code, response.json()["id"]) == (200, 50)


def test_it_seeds_the_demo_dataset_consistently() -> None:
    dataset = demo_dataset(weeks=1, now=datetime(2026, 1, 9, 18, tzinfo=UTC))
    zammad = ZammadDouble()
    seed_from_dataset(zammad, dataset)
    client = api(zammad, dataset.zammad_token)
    entries = client.get("/api/v1/time_accountings", params={"per_page": 1000}).json()
    assert len(entries) == len(dataset.entries)
    ticket = client.get(f"/api/v1/tickets/{entries[0]['ticket_id']}").json()
    mine = [Decimal(e["time_unit"]) for e in entries if e["ticket_id"] == ticket["id"]]
    assert ticket["time_unit"] == format_decimal(sum(mine, Decimal(0)))


def _ignore_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited through exec, as some parents do


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["plain", "sigint-ignored"])
def test_it_runs_standalone_until_interrupted(sigint_ignored: bool) -> None:
    command = [sys.executable, "-m", "tests.doubles.zammad", "--port", "0", "--seed", "empty"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    process = subprocess.Popen(
        command, cwd=root, stdout=subprocess.PIPE, text=True,
        preexec_fn=_ignore_ctrl_c if sigint_ignored else None,  # noqa: PLW1509
    )  # fmt: skip
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().split()[-1]
        token = process.stdout.readline().split()[-1]
        assert base_url.startswith("http://127.0.0.1:")
        users = httpx.get(
            f"{base_url}/api/v1/users/me", headers={"Authorization": f"Token {token}"}
        )
        assert users.json()["login"] == "sync@example.com"
    finally:
        process.send_signal(signal.SIGINT)
        with suppress(subprocess.TimeoutExpired):  # the wait is for the exit, however loaded
            process.wait(timeout=60)
        stop_process_tree(process, grace=0)  # nothing of it is left, also if it did not stop
    assert process.returncode == 0  # Ctrl-C ended it cleanly
