"""A new Zammad → Kimai pair writes nothing on its own: its schedule starts off, and the admin
switches it on (Settings, the API, or confirming the first plan); the dashboard says so."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django_q.models import OrmQ, Schedule

from apps.connectors.models import Connection
from apps.mappings.services import profile_for
from apps.sync.models import Run, SyncSettings
from apps.sync.schedules import schedule_enabled, switch_schedule_on
from tests.support.api import call_json
from tests.sync.world import World

pytestmark = pytest.mark.django_db


def api(client: Client, method: str, body: Any = None) -> tuple[int, Any]:
    return call_json(client, method, "/api/v1/sync/settings", body)


def sync_schedules() -> set[str]:
    """The django-q2 schedules of sync pairs (the nightly privacy prune is always there)."""
    return set(Schedule.objects.filter(name__startswith="zks-").values_list("name", flat=True))


def test_a_new_pair_has_no_schedule_and_the_scheduler_queues_nothing(world: World) -> None:
    assert not schedule_enabled(world.profile.pk)
    assert not sync_schedules()
    call_command("bootstrap", stdout=io.StringIO())  # what every start of the service does
    # The worker's scheduler turns Schedule rows into tasks: without a pair's rows, no sync is
    # queued (the nightly prune of expired history is the only schedule, and it is not due).
    assert not sync_schedules()
    assert set(Schedule.objects.values_list("func", flat=True)) <= {"apps.gdpr.tasks.prune_expired"}
    assert not OrmQ.objects.exists() and not Run.objects.exists()
    assert world.kimai_writes() == []


def test_a_pair_made_by_opening_the_mappings_is_off_too(admin_client: Client) -> None:
    zammad = Connection.objects.create(kind="zammad", name="Z", base_url="http://127.0.0.1:9",
                                       token="t")  # fmt: skip
    kimai = Connection.objects.create(kind="kimai", name="K", base_url="http://127.0.0.1:9",
                                      token="t")  # fmt: skip
    profile = profile_for(zammad, kimai)
    assert not schedule_enabled(profile.pk)
    assert not sync_schedules()


def test_the_dashboard_says_the_schedule_is_off(admin_client: Client, world: World) -> None:
    html = admin_client.get("/").content.decode()
    assert "The schedule of Zammad → Kimai is off: nothing is written to Kimai on its own." in html
    switch_schedule_on(world.profile.pk)
    assert "is off" not in admin_client.get("/").content.decode()


def test_confirming_a_plan_can_switch_the_schedule_on(admin_client: Client, world: World) -> None:
    plan = world.run(dry_run=True)
    page = admin_client.get(f"/sync/runs/{plan.pk}/").content.decode()
    assert 'name="schedule" checked' in page
    admin_client.post(f"/sync/runs/{plan.pk}/confirm/", {"schedule": "on"})
    assert schedule_enabled(world.profile.pk)
    assert Schedule.objects.filter(name=f"zks-incremental-{world.profile.pk}").exists()


def test_confirming_without_the_box_leaves_the_schedule_off(
    admin_client: Client, world: World
) -> None:
    plan = world.run(dry_run=True)
    admin_client.post(f"/sync/runs/{plan.pk}/confirm/", {})
    assert Run.objects.filter(dry_run=False).exists()
    assert not schedule_enabled(world.profile.pk)


def test_bootstrap_restores_the_schedule_of_a_pair_switched_on(world: World) -> None:
    switch_schedule_on(world.profile.pk)
    Schedule.objects.all().delete()  # e.g. a database restored without django-q's tables
    call_command("bootstrap", stdout=io.StringIO())
    assert sync_schedules() == {
        f"zks-incremental-{world.profile.pk}",
        f"zks-full-{world.profile.pk}",
    }


def test_the_api_reads_and_switches_the_schedule(api_client: Client, world: World) -> None:
    status, body = api(api_client, "GET")
    assert (status, body["schedule_enabled"], body["deletion_policy"]) == (200, False, "flag")
    status, body = api(
        api_client, "PATCH", {"schedule_enabled": True, "adopt_tolerance_minutes": 5}
    )
    assert (status, body["schedule_enabled"], body["adopt_tolerance_minutes"]) == (200, True, 5)
    assert Schedule.objects.filter(name=f"zks-full-{world.profile.pk}").exists()
    settings = SyncSettings.objects.get(profile=world.profile)
    assert (settings.incremental_every_minutes, settings.deletion_policy) == (15, "flag")


@pytest.mark.parametrize(
    "body",
    [
        {"schedule_enabled": "sometimes"},
        {"incremental_every_minutes": 0},
        {"deletion_policy": "shred"},
        {"adopt_tolerance_minutes": 1000},
        {"watermark": "2026-01-01T00:00:00Z"},
    ],
)
def test_the_api_refuses_bad_settings_and_changes_nothing(
    api_client: Client, world: World, body: dict[str, Any]
) -> None:
    status, answer = api(api_client, "PATCH", body)
    assert status == 422, answer
    assert answer["detail"]
    assert not schedule_enabled(world.profile.pk)
    assert not sync_schedules()


def test_the_settings_api_needs_a_key_or_a_login(client: Client, world: World) -> None:
    status, _ = api(client, "PATCH", {"schedule_enabled": True})
    assert status == 401
    assert not schedule_enabled(world.profile.pk)
