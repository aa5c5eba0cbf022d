"""A small, explicit Zammad for connector tests: every value a test asserts on is set here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apps.connectors.zammad.connector import ZammadConnector
from tests.doubles.zammad import ZammadDouble, seed_minimal

TOKEN = "zammad-test-token"
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@dataclass
class SmallZammad:
    """One organization, two agents, a customer, types Support/Consulting, ticket 24050."""

    double: ZammadDouble
    organization_id: int
    chris: int
    emma: int
    customer: int
    support: int
    consulting: int
    ticket: int

    def connector(self, token: str = TOKEN, **settings: Any) -> ZammadConnector:
        return ZammadConnector(
            "https://zammad.example.com",
            token,
            settings,
            transport=self.double.transport(),
            sleep=lambda _seconds: None,
            connection_id=7,
        )

    def book(self, minutes: str, minutes_ago: int, ticket: int | None = None, **kw: Any) -> int:
        entry = self.double.book_time(
            ticket or self.ticket,
            kw.pop("agent", self.chris),
            minutes,
            type_id=kw.pop("type_id", self.support),
            at=NOW - timedelta(minutes=minutes_ago),
            **kw,
        )
        return entry.id

    def new_ticket(self, title: str = "Another ticket") -> int:
        return self.double.add_ticket(
            title, customer_id=self.customer, group_id=1, at=NOW - timedelta(days=2)
        ).id

    def requests(self, method: str, path: str) -> list[Any]:
        return self.double.requests_to(method, path)


def small_zammad(unit: str = "minute", **double_options: Any) -> SmallZammad:
    double = ZammadDouble(now=lambda: NOW, **double_options)
    seed_minimal(double, TOKEN)
    organization = double.add_organization("Awesome Customer Inc.")
    chris = double.add_agent("chris@chrispresso.com", "Christopher", "Miller")
    emma = double.add_agent("emma.schulz@example.com", "Emma", "Schulz")
    customer = double.add_customer_user(
        "Emily", "Adams", "emily@example.com", organization_id=organization.id
    )
    support = double.add_time_accounting_type("Support")
    consulting = double.add_time_accounting_type("Consulting")
    double.set_setting("time_accounting_unit", unit)
    ticket = double.add_ticket(
        "Printer broken",
        customer_id=customer.id,
        group_id=1,
        number="24050",
        at=NOW - timedelta(days=3),
    )
    return SmallZammad(
        double, organization.id, chris.id, emma.id, customer.id, support.id, consulting.id,
        ticket.id,
    )  # fmt: skip
