"""The normalized time entry: immutable, UTC, and fingerprinted on what matters."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from apps.connectors.entry import (
    ActivityRef,
    AgentRef,
    OrganizationRef,
    TicketRef,
    TimeEntry,
    unique_tags,
)

BOOKED = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def entry(**changes: object) -> TimeEntry:
    values: dict[str, object] = {
        "source_kind": "zammad",
        "connection_id": 1,
        "external_id": "42",
        "booked_at": BOOKED,
        "duration_seconds": 900,
        "ticket": TicketRef("50", "24050", "Printer broken"),
        "organization": OrganizationRef("3", "Awesome Customer Inc."),
        "agent": AgentRef("3", "chris@chrispresso.com", "Christopher Miller"),
        "activity": ActivityRef("1", "Support"),
    }
    values.update(changes)
    return TimeEntry(**values)  # type: ignore[arg-type]


def test_it_cannot_be_changed_in_place() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry().duration_seconds = 60  # type: ignore[misc]


def test_it_keeps_the_booking_instant_in_utc() -> None:
    berlin = BOOKED.astimezone(ZoneInfo("Europe/Berlin"))

    assert entry(booked_at=berlin).booked_at.tzinfo == UTC
    assert entry(booked_at=berlin).booked_at == BOOKED


def test_it_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="aware"):
        entry(begin=datetime(2026, 1, 5, 9, 30))


def test_it_refuses_a_duration_that_is_not_whole_seconds() -> None:
    with pytest.raises(TypeError, match="int"):
        entry(duration_seconds=900.5)


def test_its_fingerprint_is_the_same_for_the_same_booking_in_any_time_zone() -> None:
    plus_two = timezone(timedelta(hours=2))

    assert entry().fingerprint == entry(booked_at=BOOKED.astimezone(plus_two)).fingerprint


def test_its_fingerprint_changes_with_the_duration() -> None:
    assert entry().fingerprint != entry(duration_seconds=901).fingerprint


def test_its_fingerprint_changes_with_the_activity() -> None:
    assert entry().fingerprint != entry(activity=ActivityRef("2", "Support")).fingerprint


def test_its_fingerprint_ignores_renames() -> None:
    renamed = entry(
        ticket=TicketRef("50", "24050", "Printer still broken"),
        organization=OrganizationRef("3", "Awesome Customer GmbH"),
        agent=AgentRef("3", "chris@new.example.com", "Chris Miller"),
    )

    assert renamed.fingerprint == entry().fingerprint


def test_its_fingerprint_ignores_tag_order() -> None:
    assert entry(tags=("a", "b")).fingerprint == entry(tags=("b", "a")).fingerprint


def test_its_fingerprint_ignores_when_the_vendor_last_touched_it() -> None:
    assert entry(changed_at=BOOKED + timedelta(hours=1)).fingerprint == entry().fingerprint


def test_its_fingerprint_is_recomputed_on_a_copy() -> None:
    original = entry()
    copy = dataclasses.replace(original, duration_seconds=60)

    assert copy.fingerprint == entry(duration_seconds=60).fingerprint != original.fingerprint


def test_it_stores_tags_as_a_tuple() -> None:
    assert entry(tags=["a", "b"]).tags == ("a", "b")


def test_unique_tags_trims_and_drops_duplicates_ignoring_case() -> None:
    assert unique_tags([" Billing ", "billing", "", "VIP"]) == ("Billing", "VIP")
