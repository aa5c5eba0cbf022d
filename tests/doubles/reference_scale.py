"""A large pair's reference data in the doubles: agents who booked time lately, organizations,
Kimai users (one per agent's e-mail, and more) and projects. Shared by the reference-data test
and bench/reference_bench.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from tests.doubles.kimai import KimaiDouble
from tests.doubles.zammad import ZammadDouble


@dataclass(frozen=True)
class Sizes:
    agents: int = 150
    organizations: int = 200
    kimai_users: int = 1000
    kimai_projects: int = 1000


def add_large_reference(
    zammad: ZammadDouble, kimai: KimaiDouble, ticket_id: int, now: datetime, sizes: Sizes = Sizes()
) -> None:
    """Each agent books five minutes on ``ticket_id`` a day before ``now`` (so the last 90 days
    find them) and has a Kimai user of the same e-mail."""
    for i in range(sizes.agents):
        agent = zammad.add_agent(f"agent{i}", "Agent", f"{i}", f"agent{i}@example.com")
        zammad.book_time(
            ticket_id, agent.id, Decimal("5"), at=now - timedelta(days=1), article=False
        )
    for i in range(sizes.organizations):
        zammad.add_organization(f"Organization {i}")
    customer = kimai.add_customer("Large customer")
    for i in range(sizes.kimai_users):
        kimai.add_user(f"user{i}", f"agent{i}@example.com")
    for i in range(sizes.kimai_projects):
        kimai.add_project(f"Project {i}", customer)
