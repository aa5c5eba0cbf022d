"""A small, explicit Kimai for connector tests: every value a test asserts on is set here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apps.connectors.kimai.connector import KimaiConnector
from tests.doubles.kimai import ROLE_ADMIN, ROLE_USER, KimaiDouble

ADMIN_TOKEN = "kimai-admin-token"
USER_TOKEN = "kimai-user-token"
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@dataclass
class SmallKimai:
    """The sync bot (admin, Europe/Berlin), Liam (New York) and Emma (Berlin, plain user);
    customer ACME with project "Support 2026", activities Support (global) and Onsite (of the
    project "Retainer" of customer Initech)."""

    double: KimaiDouble
    bot: int
    liam: int
    emma: int
    acme: int
    project: int
    retainer: int
    support: int
    onsite: int
    sleeps: list[float]

    def connector(self, token: str = ADMIN_TOKEN, **settings: Any) -> KimaiConnector:
        return KimaiConnector(
            "https://kimai.example.com",
            token,
            settings,
            transport=self.double.transport(),
            sleep=self.sleeps.append,
            connection_id=8,
        )

    def requests(self, method: str, path: str) -> list[Any]:
        return [r for r in self.double.requests_to(method, path) if r.path == path]


def small_kimai() -> SmallKimai:
    double = KimaiDouble(clock=lambda: NOW)
    bot = double.add_user(
        "sync-bot", "sync-bot@example.com", "Europe/Berlin", ROLE_ADMIN, ADMIN_TOKEN
    )
    liam = double.add_user("liam", "liam.johnson@example.com", "America/New_York")
    emma = double.add_user(
        "emma", "emma.schulz@example.com", "Europe/Berlin", ROLE_USER, USER_TOKEN
    )
    acme = double.add_customer("ACME")
    project = double.add_project("Support 2026", acme)
    initech = double.add_customer("Initech")
    retainer = double.add_project("Retainer", initech, global_activities=False)
    support = double.add_activity("Support")
    onsite = double.add_activity("Onsite", retainer)
    return SmallKimai(double, bot, liam, emma, acme, project, retainer, support, onsite, [])
