"""The Zammad double's indexes (tests/doubles/zammad_index.py) never change what it answers.

An entry or article is found under its current ticket only, however it moved: through the
API, an agent's action, or an attribute assigned in place. The sorted global listing is kept
only while nothing changes, and a ticket search by ids answers what a scan of all tickets does.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.doubles.zammad import ManualClock, ZammadDouble

T0 = datetime(2026, 1, 5, 9, 0, 0, 123000, tzinfo=UTC)
ADMIN = "admin-token"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def double(clock: ManualClock) -> Iterator[ZammadDouble]:
    zammad = ZammadDouble(now=clock)
    zammad.add_group("Service Desk", id=1)
    zammad.add_agent("sync@example.com", "Time", "Sync", id=2, admin=True)
    zammad.add_agent("chris@chrispresso.com", "Christopher", "Miller", id=3, groups={1: "full"})
    zammad.add_customer_user("Emily", "Adams", "emily@example.com", id=8)
    zammad.add_token(2, ["admin.time_accounting", "ticket.agent"], ADMIN)
    for ticket_id in (50, 51):
        zammad.add_ticket(f"Ticket {ticket_id}", customer_id=8, group_id=1, id=ticket_id)
    yield zammad
    zammad.close()


def api(double: ZammadDouble) -> httpx.Client:
    headers = {"Authorization": f"Token token={ADMIN}"}
    return httpx.Client(transport=double.transport(), base_url="http://z.test", headers=headers)


def entry_ids(double: ZammadDouble, ticket_id: int) -> list[int]:
    """The ticket's entries by created_at: all booked at one instant, so in heap order."""
    params = {"sort_by": "created_at", "order_by": "asc"}
    response = api(double).get(f"/api/v1/tickets/{ticket_id}/time_accountings", params=params)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


def newest_first(double: ZammadDouble) -> list[int]:
    params: dict[str, Any] = {"sort_by": "created_at,id", "order_by": "desc,desc"}
    params["per_page"] = 1000
    return [row["id"] for row in api(double).get("/api/v1/time_accountings", params=params).json()]


def searched(double: ZammadDouble, ids: list[Any], **body: Any) -> list[dict[str, Any]]:
    condition = {"ticket.id": {"operator": "is", "value": ids}}
    payload = {"condition": condition, "expand": True, "per_page": 200, **body}
    response = api(double).post("/api/v1/tickets/search", json=payload)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_an_entry_moved_to_another_ticket_is_listed_under_that_ticket_only(
    double: ZammadDouble,
) -> None:
    moved = double.book_time(50, 3, 15).id
    kept = double.book_time(50, 3, 30).id
    double.edit_time(moved, ticket_id=51)
    assert (entry_ids(double, 50), entry_ids(double, 51)) == ([kept], [moved])
    tickets = {row["id"]: row["ticket_time_accounting_ids"] for row in searched(double, [50, 51])}
    assert tickets == {50: [kept], 51: [moved]}


def test_an_entry_moved_in_place_is_listed_under_its_new_ticket_in_heap_order(
    double: ZammadDouble,
) -> None:
    first, second, third = (double.book_time(t, 3, 15).id for t in (51, 50, 51))
    double.edit_time(first, time_unit=20)  # an update moves a row to the end of the heap
    double.time_accountings[second].ticket_id = 51  # in place: keeps its place in the heap
    assert (entry_ids(double, 50), entry_ids(double, 51)) == ([], [second, third, first])


def test_a_deleted_entry_leaves_every_listing(double: ZammadDouble) -> None:
    gone, kept = double.book_time(50, 3, 15).id, double.book_time(50, 3, 15).id
    assert newest_first(double) == [kept, gone]
    double.delete_time(gone)
    assert (newest_first(double), entry_ids(double, 50)) == ([kept], [kept])
    assert searched(double, [50])[0]["ticket_time_accounting_ids"] == [kept]


def test_the_global_listing_shows_a_new_or_edited_entry_at_once(
    double: ZammadDouble, clock: ManualClock
) -> None:
    older = double.book_time(50, 3, 15).id
    assert newest_first(double) == [older]
    clock.advance(minutes=1)
    newer = double.book_time(51, 3, 15).id
    assert newest_first(double) == [newer, older]
    double.time_accountings[older].created_at = T0 + timedelta(hours=1)  # assigned in place
    assert newest_first(double) == [older, newer]


def test_articles_merged_into_another_ticket_count_there(double: ZammadDouble) -> None:
    article = double.book_time(50, 3, 15).ticket_article_id
    double.merge_tickets(50, 51, by=3)
    rows = {row["id"]: row["article_ids"] for row in searched(double, [50, 51])}
    assert article in rows[51] and article not in rows[50]


def test_a_search_by_ids_answers_what_a_scan_of_all_tickets_answers(
    double: ZammadDouble, clock: ManualClock
) -> None:
    rng = random.Random(4)
    created = [50, 51]
    for ticket_id in rng.sample(range(60, 160), 60):  # stored out of id order
        clock.advance(seconds=rng.choice([0, 0, 1]))  # many updated_at ties
        double.add_ticket("Ticket", customer_id=8, group_id=1, id=ticket_id)
        created.append(ticket_id)
    del double.tickets[created.pop(7)]
    values: list[Any] = [str(i) for i in rng.sample(range(40, 170), 50)]
    values += ["0070", " 71", "", None, 72, "1e2", "٣", "-5", "abc", str(created[3])]
    for sort in ({}, {"sort_by": "updated_at", "order_by": "asc"}, {"sort_by": "id"}):
        wanted = {str(v) for v in values if v is not None and v != ""}
        scan = [t for t in double.tickets.values() if str(t.id) in wanted]
        column, order = sort.get("sort_by", "updated_at"), sort.get("order_by", "desc")
        expected = sorted(scan, key=lambda t: getattr(t, column), reverse=order == "desc")
        ids = [row["id"] for row in searched(double, values, **sort)]
        assert ids == [t.id for t in expected], sort
