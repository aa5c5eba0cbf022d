"""Zammad's time_unit is a bare decimal string: converting it to seconds (zammad-api.md §1.2)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.connectors.http import ExternalServiceError
from apps.connectors.zammad.config import ZammadSettings
from tests.connectors.zammad_setup import small_zammad


def booked_seconds(units: str, zammad_unit: str = "minute", **settings: Any) -> int:
    zammad = small_zammad(unit=zammad_unit)
    zammad.book(units, minutes_ago=30)
    [entry] = zammad.connector(**settings).fetch_all_entries()
    return entry.duration_seconds


@pytest.mark.parametrize(
    ("zammad_unit", "time_unit", "seconds"),
    [("minute", "7.5", 450), ("quarter", "3.0", 2700), ("hour", "1.25", 4500)],
)
def test_it_converts_with_the_unit_zammad_declares(
    zammad_unit: str, time_unit: str, seconds: int
) -> None:
    assert booked_seconds(time_unit, zammad_unit) == seconds


def test_it_reads_the_unit_from_zammads_settings() -> None:
    zammad = small_zammad(unit="hour")
    zammad.connector().time_unit()

    assert len(zammad.requests("GET", "/api/v1/settings")) == 1


def test_it_converts_in_decimal_where_floats_would_lose_a_second() -> None:
    # 0.29 * 3600 is 1043.9999999999998 in binary floating point.
    assert booked_seconds("0.29", "hour") == 1044


def test_it_rounds_half_a_second_up() -> None:
    # 3.33 units of 7.5 minutes are 1498.5 seconds.
    assert booked_seconds("3.33", "custom", custom_unit_minutes="7.5") == 1499


def test_it_converts_a_custom_unit_with_the_minutes_from_the_settings() -> None:
    assert booked_seconds("2", "custom", custom_unit_minutes="45") == 5400


def test_it_uses_the_unit_chosen_in_the_settings_over_zammads_label() -> None:
    assert booked_seconds("2", "minute", time_unit="hour") == 7200


@pytest.mark.parametrize(
    ("time_unit", "settings", "seconds"),
    [
        ("2", {"time_unit": "minute"}, 120),
        ("2", {"time_unit": "quarter"}, 1800),
        ("2", {"time_unit": "hour"}, 7200),
        ("2", {"time_unit": "custom", "custom_unit_minutes": "7.5"}, 900),
    ],
)
def test_it_converts_every_configurable_unit(
    time_unit: str, settings: dict[str, Any], seconds: int
) -> None:
    assert booked_seconds(time_unit, "", **settings) == seconds


def test_it_keeps_a_negative_time_unit_for_the_engine_to_judge() -> None:
    assert booked_seconds("-5", "minute") == -300


def test_it_says_when_the_token_may_not_read_the_unit() -> None:
    zammad = small_zammad()
    zammad.double.add_token(2, ["ticket.agent"], "agent-token")
    zammad.book("5", minutes_ago=30)

    with pytest.raises(ExternalServiceError) as raised:
        list(zammad.connector("agent-token").fetch_entries_of_ticket(str(zammad.ticket)))
    assert raised.value.permanent is True
    assert raised.value.message == (
        "This Zammad token may not read the time unit setting (it needs admin.time_accounting): "
        "choose the unit in the connection settings"
    )


def test_it_says_when_zammad_has_no_unit() -> None:
    zammad = small_zammad(unit="")
    zammad.book("5", minutes_ago=30)

    with pytest.raises(ExternalServiceError, match="Zammad has no time unit set"):
        list(zammad.connector().fetch_all_entries())


def test_it_asks_for_the_length_of_zammads_custom_unit() -> None:
    zammad = small_zammad(unit="custom")
    zammad.book("5", minutes_ago=30)

    with pytest.raises(ExternalServiceError, match="enter how many minutes one unit is"):
        list(zammad.connector().fetch_all_entries())


def test_its_settings_refuse_a_custom_unit_without_minutes() -> None:
    with pytest.raises(ValueError, match="custom_unit_minutes"):
        ZammadSettings(time_unit="custom")


def test_its_settings_keep_custom_minutes_as_a_decimal() -> None:
    assert ZammadSettings.model_validate({"custom_unit_minutes": "7.5"}).custom_unit_minutes == (
        Decimal("7.5")
    )
