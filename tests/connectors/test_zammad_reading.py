"""Reading Zammad time accountings: routes, paging, fallbacks and normalization (zammad-api.md)."""

from __future__ import annotations

from datetime import timedelta

from apps.connectors.entry import ActivityRef, AgentRef, OrganizationRef, TicketRef, TimeEntry
from tests.connectors.zammad_setup import NOW, TOKEN, small_zammad


def test_it_authenticates_with_a_token_token_header() -> None:
    zammad = small_zammad()
    list(zammad.connector().fetch_all_entries())

    assert {r.headers["authorization"] for r in zammad.double.requests} == {f"Token token={TOKEN}"}


def test_it_normalizes_a_time_accounting() -> None:
    zammad = small_zammad()
    entry_id = zammad.book("15.0", minutes_ago=30)

    [entry] = zammad.connector().fetch_all_entries()
    assert entry == TimeEntry(
        source_kind="zammad",
        connection_id=7,
        external_id=str(entry_id),
        booked_at=NOW - timedelta(minutes=30),
        duration_seconds=900,
        ticket=TicketRef(str(zammad.ticket), "24050", "Printer broken"),
        organization=OrganizationRef(str(zammad.organization_id), "Awesome Customer Inc."),
        agent=AgentRef(str(zammad.chris), "chris@chrispresso.com", "Christopher Miller"),
        activity=ActivityRef(str(zammad.support), "Support"),
        changed_at=NOW - timedelta(minutes=30),
    )


def test_it_pages_the_global_list_newest_first_for_changes() -> None:
    zammad = small_zammad()
    for minutes_ago in range(25, 0, -1):
        zammad.book("5", minutes_ago=minutes_ago * 60)

    list(zammad.connector().fetch_entries_changed_since(NOW - timedelta(hours=1)))
    # No separate probe: the first page shows the global list exists.
    [first_page] = zammad.requests("GET", "/api/v1/time_accountings")
    assert first_page.query == {
        "sort_by": ["updated_at,id"],
        "order_by": ["desc,desc"],
        "per_page": ["1000"],
        "page": ["1"],
    }


def test_it_stops_paging_at_the_first_page_older_than_since_minus_overlap() -> None:
    zammad = small_zammad()
    ids = [zammad.book("5", minutes_ago=hours * 60) for hours in range(25, 0, -1)]

    since = NOW - timedelta(hours=4, minutes=3)  # the overlap reaches back to 4 h 8 min
    entries = list(zammad.connector(page_size=2).fetch_entries_changed_since(since))
    assert [e.external_id for e in entries] == [str(i) for i in reversed(ids[-4:])]
    pages = [r.param("page") for r in zammad.requests("GET", "/api/v1/time_accountings")]
    assert pages == ["1", "2", "3"]


def test_it_looks_back_by_the_overlap_before_since() -> None:
    zammad = small_zammad()
    inside = zammad.book("5", minutes_ago=62)
    zammad.book("5", minutes_ago=70)

    entries = zammad.connector(change_overlap_seconds=300).fetch_entries_changed_since(
        NOW - timedelta(hours=1)
    )
    assert [e.external_id for e in entries] == [str(inside)]


def test_it_sees_an_edit_that_changed_only_the_type() -> None:
    zammad = small_zammad()
    entry_id = zammad.book("5", minutes_ago=600)
    zammad.double.edit_time(entry_id, type_id=zammad.consulting, at=NOW - timedelta(minutes=1))

    [entry] = zammad.connector().fetch_entries_changed_since(NOW - timedelta(minutes=10))
    assert entry.activity == ActivityRef(str(zammad.consulting), "Consulting")
    assert entry.changed_at == NOW - timedelta(minutes=1)


def test_it_loads_everything_oldest_id_first() -> None:
    zammad = small_zammad()
    ids = [zammad.book("5", minutes_ago=m) for m in (10, 30, 20)]

    entries = list(zammad.connector(page_size=2).fetch_all_entries())
    assert [e.external_id for e in entries] == [str(i) for i in sorted(ids)]
    listing = zammad.requests("GET", "/api/v1/time_accountings")
    assert [(r.param("sort_by"), r.param("order_by"), r.param("page")) for r in listing] == [
        ("id", "asc", "1"),
        ("id", "asc", "2"),
    ]


def test_it_reads_the_entries_booked_in_a_window() -> None:
    zammad = small_zammad()
    zammad.book("5", minutes_ago=180)
    inside = zammad.book("5", minutes_ago=90)
    zammad.book("5", minutes_ago=30)

    entries = zammad.connector().fetch_entries_in_window(
        NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    )
    assert [e.external_id for e in entries] == [str(inside)]


def test_it_reads_one_tickets_entries_from_the_tickets_own_route() -> None:
    zammad = small_zammad()
    other = zammad.new_ticket()
    mine = zammad.book("5", minutes_ago=30)
    zammad.book("5", minutes_ago=20, ticket=other)

    entries = zammad.connector().fetch_entries_of_ticket(str(zammad.ticket))
    assert [e.external_id for e in entries] == [str(mine)]
    assert zammad.requests("GET", f"/api/v1/tickets/{zammad.ticket}/time_accountings")


def test_it_finds_no_entries_for_a_deleted_ticket() -> None:
    zammad = small_zammad()
    zammad.book("5", minutes_ago=30)
    zammad.double.delete_ticket(zammad.ticket)

    assert zammad.connector().fetch_entries_of_ticket(str(zammad.ticket)) == []


def test_it_keeps_entries_of_a_merged_ticket_on_the_ticket_they_were_booked_on() -> None:
    zammad = small_zammad()
    target = zammad.new_ticket("Printer broken (duplicate)")
    entry_id = zammad.book("15", minutes_ago=30)
    zammad.double.merge_tickets(zammad.ticket, target, by=zammad.chris)

    connector = zammad.connector()
    [entry] = connector.fetch_entries_of_ticket(str(zammad.ticket))
    assert entry.external_id == str(entry_id)
    assert entry.ticket == TicketRef(str(zammad.ticket), "24050", "Printer broken")
    assert connector.fetch_entries_of_ticket(str(target)) == []


def test_it_falls_back_to_ticket_routes_when_zammad_has_no_global_list() -> None:
    zammad = small_zammad(global_time_accountings_route=False)
    entry_id = zammad.book("15", minutes_ago=30)

    entries = list(zammad.connector().fetch_entries_changed_since(NOW - timedelta(hours=1)))
    assert [e.external_id for e in entries] == [str(entry_id)]
    assert entries[0].duration_seconds == 900
    [search] = zammad.requests("POST", "/api/v1/tickets/search")
    assert search.json["condition"] == {
        "ticket.updated_at": {"operator": "after (absolute)", "value": "2026-01-10T10:55:00Z"}
    }
    assert zammad.requests("GET", f"/api/v1/tickets/{zammad.ticket}/time_accountings")


def test_it_probes_the_global_list_once_per_connector() -> None:
    zammad = small_zammad(global_time_accountings_route=False)
    zammad.book("15", minutes_ago=30)
    connector = zammad.connector()

    list(connector.fetch_entries_changed_since(NOW - timedelta(hours=1)))
    list(connector.fetch_entries_in_window(NOW - timedelta(hours=1), NOW))
    assert len(zammad.requests("GET", "/api/v1/time_accountings")) == 1


def test_it_falls_back_to_ticket_routes_when_the_token_may_not_list_everything() -> None:
    zammad = small_zammad()
    zammad.double.add_token(2, ["ticket.agent"], "agent-token")
    entry_id = zammad.book("1.5", minutes_ago=30)

    connector = zammad.connector("agent-token", time_unit="hour")
    [entry] = connector.fetch_entries_in_window(NOW - timedelta(hours=1), NOW)
    assert (entry.external_id, entry.duration_seconds) == (str(entry_id), 5400)
    assert entry.activity == ActivityRef(str(zammad.support), None)  # types need admin


def test_it_reads_every_ticket_with_booked_time_when_loading_all_without_a_global_list() -> None:
    zammad = small_zammad(global_time_accountings_route=False)
    untouched = zammad.new_ticket("Nothing booked here")
    first = zammad.book("5", minutes_ago=30)

    entries = list(zammad.connector().fetch_all_entries())
    assert [e.external_id for e in entries] == [str(first)]
    assert not zammad.requests("GET", f"/api/v1/tickets/{untouched}/time_accountings")
