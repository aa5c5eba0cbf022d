"""Reading 10,000 entries costs requests in proportion to pages, never to entries."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from apps.connectors.zammad.connector import ZammadConnector
from tests.doubles.dataset import scaled_dataset
from tests.doubles.zammad import ZammadDouble, seed_from_dataset


def test_it_reads_ten_thousand_entries_with_their_context_in_a_few_dozen_requests() -> None:
    dataset = scaled_dataset(10_000)  # 1,250 tickets, 4 organizations, 6 agents, 5 customers
    double = ZammadDouble(now=lambda: datetime(2026, 1, 10, 12, tzinfo=UTC))
    seed_from_dataset(double, dataset)
    connector = ZammadConnector(
        "https://zammad.example.com", dataset.zammad_token, transport=double.transport()
    )

    entries = list(connector.fetch_all_entries())
    assert len(entries) == 10_000
    assert all(e.ticket and e.ticket.number and e.agent and e.agent.email for e in entries)
    assert {e.organization.name for e in entries if e.organization} == {
        "Awesome Customer Inc.", "Globex Corporation", "Initech", "Umbrella Health",
    }  # fmt: skip
    assert Counter(f"{r.method} {r.path}" for r in double.requests) == {
        "GET /api/v1/time_accountings": 11,  # 10 full pages and an empty one (no probe)
        "POST /api/v1/tickets/search": 7,  # 1,250 tickets, 200 per search
        "GET /api/v1/users": 1,  # all 14 users on the first page of 1,000
        "GET /api/v1/time_accounting/types": 1,
        "GET /api/v1/settings": 1,  # the time unit
    }
    assert connector.request_count == 21
