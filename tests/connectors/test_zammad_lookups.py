"""Tickets, users, organizations and types are fetched in bulk and remembered for the run."""

from __future__ import annotations

from datetime import timedelta

from tests.connectors.zammad_setup import NOW, small_zammad


def test_it_looks_up_the_tickets_of_a_page_with_one_search_by_id() -> None:
    zammad = small_zammad()
    tickets = [zammad.ticket, zammad.new_ticket("B"), zammad.new_ticket("C")]
    for ticket in tickets:
        zammad.book("5", minutes_ago=30, ticket=ticket)

    list(zammad.connector().fetch_all_entries())
    [search] = zammad.requests("POST", "/api/v1/tickets/search")
    assert search.json == {
        "condition": {"ticket.id": {"operator": "is", "value": [str(t) for t in tickets]}},
        "sort_by": "id",
        "order_by": "asc",
        "per_page": 200,
        "page": 1,
        "expand": True,
    }
    assert not zammad.requests("GET", "/api/v1/tickets/")


def test_it_remembers_tickets_users_and_types_for_the_whole_run() -> None:
    zammad = small_zammad()
    zammad.book("5", minutes_ago=30)
    zammad.book("5", minutes_ago=20, agent=zammad.emma)
    connector = zammad.connector()

    list(connector.fetch_all_entries())
    list(connector.fetch_entries_changed_since(NOW - timedelta(hours=1)))
    connector.fetch_entries_of_ticket(str(zammad.ticket))
    assert len(zammad.requests("POST", "/api/v1/tickets/search")) == 1
    assert len(zammad.requests("GET", "/api/v1/users")) == 1
    assert len(zammad.requests("GET", "/api/v1/time_accounting/types")) == 1
    assert len(zammad.requests("GET", "/api/v1/settings")) == 1


def test_it_takes_organization_names_from_the_expanded_tickets() -> None:
    zammad = small_zammad()
    zammad.book("5", minutes_ago=30)

    [entry] = zammad.connector().fetch_all_entries()
    assert entry.organization is not None
    assert entry.organization.name == "Awesome Customer Inc."
    assert not zammad.requests("GET", "/api/v1/organizations")


def test_it_reads_users_a_thousand_at_a_time_and_only_as_far_as_needed() -> None:
    zammad = small_zammad()
    zammad.book("5", minutes_ago=30)

    list(zammad.connector().fetch_all_entries())
    [users] = zammad.requests("GET", "/api/v1/users")
    assert (users.param("per_page"), users.param("page")) == ("1000", "1")


def test_it_forgets_what_it_looked_up_when_asked() -> None:
    zammad = small_zammad()
    zammad.book("5", minutes_ago=30)
    connector = zammad.connector()
    list(connector.fetch_all_entries())
    zammad.double.update_ticket(zammad.ticket, by=zammad.chris, title="Printer fixed")

    connector.forget_lookups()
    [entry] = connector.fetch_all_entries()
    assert entry.ticket is not None and entry.ticket.title == "Printer fixed"


def test_it_lists_agents_organizations_and_types_as_reference_data() -> None:
    zammad = small_zammad()

    reference = zammad.connector().fetch_reference_data()
    assert {u.email for u in reference.users} >= {"chris@chrispresso.com", "emily@example.com"}
    assert [c.name for c in reference.customers] == ["Awesome Customer Inc."]
    assert [a.name for a in reference.activities] == ["Support", "Consulting"]


def test_it_reads_tickets_from_a_zammad_with_the_older_search_answer() -> None:
    zammad = small_zammad(search_response_format="6.0")
    zammad.book("5", minutes_ago=30)

    [entry] = zammad.connector().fetch_all_entries()
    assert entry.ticket is not None
    assert (entry.ticket.number, entry.ticket.title) == ("24050", "Printer broken")
