"""Every Zammad unit, from the Zammad double through the connector to the timesheet's minutes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from apps.connectors.registry import build_connector
from apps.connectors.zammad.connector import ZammadConnector
from apps.mappings.catalog import Catalog
from apps.mappings.engine import CompiledRule, MappingContext, plan_timesheet
from apps.mappings.rules import RuleSpec
from tests.doubles.zammad import ManualClock, ZammadDouble, seed_minimal
from tests.mappings.test_engine import REFERENCE

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _booked_minutes(zammad_unit: str, settings: dict[str, Any], time_unit: str) -> int:
    double = ZammadDouble(now=ManualClock(NOW))
    api_user = seed_minimal(double)
    double.set_setting("time_accounting_unit", zammad_unit)
    agent = double.add_agent("emma.schulz@example.com", "Emma", "Schulz", id=4)
    ticket = double.add_ticket("Printer broken", customer_id=api_user.id, group_id=1, id=50)
    double.book_time(ticket.id, agent.id, Decimal(time_unit), type_id=None)
    connector = build_connector(
        "zammad", "http://zammad.test", "zammad-demo-token", settings,
        transport=double.transport(), connection_id=1,
    )  # fmt: skip
    assert isinstance(connector, ZammadConnector)
    with connector:
        [entry] = connector.fetch_entries_of_ticket(str(ticket.id))
    context = MappingContext(
        source_id=1, target_id=2, catalog=Catalog.build(REFERENCE),
        rules=(CompiledRule.build(1, 1, RuleSpec(project_id="1", activity_id="1")),),
    )  # fmt: skip
    plan = plan_timesheet(entry, context)
    assert plan.draft is not None, plan.problems
    return plan.draft.duration_seconds // 60


@pytest.mark.parametrize(
    ("zammad_unit", "settings", "time_unit", "minutes"),
    [
        ("minute", {}, "45", 45),
        ("quarter", {}, "3", 45),
        ("hour", {}, "1.5", 90),
        ("custom", {"time_unit": "custom", "custom_unit_minutes": "6"}, "2.5", 15),
        ("", {"time_unit": "hour"}, "0.25", 15),
    ],
)
def test_it_books_the_minutes_each_zammad_unit_stands_for(
    zammad_unit: str, settings: dict[str, Any], time_unit: str, minutes: int
) -> None:
    assert _booked_minutes(zammad_unit, settings, time_unit) == minutes
