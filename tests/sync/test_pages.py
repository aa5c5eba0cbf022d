from __future__ import annotations

import pytest
from django.test import Client
from django_q.models import Schedule

from apps.core.models import AuditEvent
from apps.sync.models import Run, SyncSettings
from apps.sync.schedules import switch_schedule_on
from tests.sync.world import World


@pytest.mark.django_db
def test_sync_now_plans_first_and_shows_the_run(admin_client: Client, world: World) -> None:
    start, end = world.window()
    response = admin_client.post(
        "/sync/", {"start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}", "dry_run": "on"}
    )
    run = Run.objects.get()
    assert response["Location"] == f"/sync/runs/{run.pk}/"
    assert run.dry_run and run.trigger == "manual" and run.actor.startswith("admin:")


@pytest.mark.django_db
def test_a_finished_dry_run_shows_hours_per_user_and_a_confirm_button(
    admin_client: Client, world: World
) -> None:
    run = world.run(dry_run=True)
    html = admin_client.get(f"/sync/runs/{run.pk}/").content.decode()
    assert "Hours that would be written" in html
    assert "Confirm: sync" in html
    assert "Emma" in html or "emma" in html
    response = admin_client.post(f"/sync/runs/{run.pk}/confirm/")
    real = Run.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/sync/runs/{real.pk}/"
    assert not real.dry_run and real.window_start == run.window_start


@pytest.mark.django_db
def test_the_progress_fragment_polls_until_the_run_is_done(
    admin_client: Client, world: World
) -> None:
    start, end = world.window()
    queued = Run.objects.create(
        profile=world.profile, trigger="manual", actor="admin:1", scope="window",
        window_start=start, window_end=end, coalesce_key="x",
    )  # fmt: skip
    fragment = admin_client.get(
        f"/sync/runs/{queued.pk}/?fragment=progress", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert 'hx-trigger="every 1s"' in fragment.content.decode()
    done = world.run()
    finished = admin_client.get(
        f"/sync/runs/{done.pk}/?fragment=progress", headers={"HX-Request": "true"}
    )
    assert finished.status_code == 286  # htmx stops polling
    assert "hx-trigger" not in finished.content.decode()


@pytest.mark.django_db
def test_a_bad_window_is_explained_and_nothing_is_queued(
    admin_client: Client, world: World
) -> None:
    response = admin_client.post("/sync/", {"start": "2026-03-05", "end": "2026-03-01"})
    assert response.status_code == 400
    assert "must not be before" in response.content.decode()
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_the_settings_page_sets_the_schedule_and_audits_it(
    admin_client: Client, world: World
) -> None:
    assert "Schedule and deletions" in admin_client.get("/settings/").content.decode()
    response = admin_client.post(
        "/sync/settings/",
        {"schedule_enabled": "on", "incremental_every_minutes": "5",
         "full_reconcile_hour_utc": "3", "full_lookback_days": "14", "deletion_policy": "delete"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 200
    settings = SyncSettings.objects.get(profile=world.profile)
    assert (settings.incremental_every_minutes, settings.deletion_policy) == (5, "delete")
    schedules = {s.name: s for s in Schedule.objects.all()}
    assert schedules[f"zks-incremental-{world.profile.pk}"].minutes == 5
    nightly = schedules[f"zks-full-{world.profile.pk}"]
    assert nightly.schedule_type == Schedule.DAILY
    assert (nightly.next_run.hour, nightly.next_run.minute) == (3, 0)
    event = AuditEvent.objects.get(action="sync.settings.update")
    assert event.after is not None and event.after["deletion_policy"] == "delete"


@pytest.mark.django_db
def test_switching_the_schedule_off_removes_it(admin_client: Client, world: World) -> None:
    common = {"incremental_every_minutes": "15", "full_reconcile_hour_utc": "2",
              "full_lookback_days": "30", "deletion_policy": "flag"}  # fmt: skip
    admin_client.post("/sync/settings/", {"schedule_enabled": "on", **common})
    assert Schedule.objects.count() == 2
    admin_client.post("/sync/settings/", common)
    assert Schedule.objects.count() == 0


@pytest.mark.django_db
def test_bad_schedule_values_are_explained(admin_client: Client, world: World) -> None:
    switch_schedule_on(world.profile.pk)
    response = admin_client.post(
        "/sync/settings/",
        {"incremental_every_minutes": "0", "full_reconcile_hour_utc": "25",
         "full_lookback_days": "30", "deletion_policy": "flag"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "Between 1 and 1440 minutes." in response.content.decode()
    assert Schedule.objects.get(name__startswith="zks-incremental").minutes == 15  # unchanged
