"""/api/v1/mappings/settings: the time rules, description and tags, read and changed by API."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.mappings.models import MappingProfile
from tests.support.api import call_json

pytestmark = pytest.mark.django_db


def call(client: Client, method: str, body: Any = None) -> tuple[int, Any]:
    return call_json(client, method, "/api/v1/mappings/settings", body)


def test_it_reads_the_time_rules(api_client: Client, profile: MappingProfile) -> None:
    status, body = call(api_client, "GET")
    assert status == 200
    assert body["booking_instant"] == "end"
    assert body["keep_within_day"] is False
    assert body["rounding_minutes"] == 0


def test_a_patch_changes_only_what_it_names(api_client: Client, profile: MappingProfile) -> None:
    profile.rounding_minutes = 15
    profile.save()
    status, body = call(api_client, "PATCH", {"keep_within_day": True})
    assert status == 200
    profile.refresh_from_db()
    assert (profile.keep_within_day, profile.rounding_minutes) == (True, 15)
    assert body["keep_within_day"] is True


def test_a_put_sets_left_out_fields_to_their_defaults(
    api_client: Client, profile: MappingProfile
) -> None:
    profile.rounding_minutes = 15
    profile.save()
    status, _ = call(api_client, "PUT", {"booking_instant": "start"})
    assert status == 200
    profile.refresh_from_db()
    assert (profile.booking_instant, profile.rounding_minutes) == ("start", 0)


@pytest.mark.parametrize(
    "body",
    [
        {"booking_instant": "middle"},
        {"keep_within_day": "sometimes"},
        {"default_time_zone": "Mars/Olympus"},
        {"unknown": 1},
    ],
)
def test_it_refuses_bad_settings_with_422_and_saves_nothing(
    api_client: Client, profile: MappingProfile, body: dict[str, Any]
) -> None:
    status, answer = call(api_client, "PATCH", body)
    assert status == 422, answer
    assert answer["detail"]
    profile.refresh_from_db()
    assert (profile.booking_instant, profile.keep_within_day) == ("end", False)


def test_it_needs_an_api_key_or_a_login(client: Client, profile: MappingProfile) -> None:
    status, _ = call(client, "PATCH", {"keep_within_day": True})
    assert status == 401
    profile.refresh_from_db()
    assert profile.keep_within_day is False
