from __future__ import annotations

import re

import pytest
from django.test import Client
from django_q.models import Schedule

from apps.core.models import AuditEvent
from apps.sync.models import Run, SyncSettings
from apps.sync.schedules import schedule_names, switch_schedule_on
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
def test_the_run_polls_until_done_then_shows_the_hours_and_confirm_without_a_reload(
    admin_client: Client, world: World
) -> None:
    start, end = world.window()
    queued = Run.objects.create(
        profile=world.profile, trigger="manual", actor="admin:1", scope="window",
        window_start=start, window_end=end, coalesce_key="x", dry_run=True,
    )  # fmt: skip
    fragment = admin_client.get(
        f"/sync/runs/{queued.pk}/?fragment=run-body", headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert 'hx-trigger="every 1s"' in fragment.content.decode()
    assert "Confirm: sync" not in fragment.content.decode()
    done = world.run(dry_run=True)
    finished = admin_client.get(
        f"/sync/runs/{done.pk}/?fragment=run-body", headers={"HX-Request": "true"}
    )
    assert finished.status_code == 286  # htmx swaps it in, then stops polling
    html = finished.content.decode()
    assert "hx-trigger" not in html
    assert "Hours that would be written" in html and "Confirm: sync" in html
    assert 'id="entries"' in html


@pytest.mark.django_db
def test_a_confirmed_plan_links_the_run_that_carried_it_out_instead_of_offering_confirm(
    admin_client: Client, world: World
) -> None:
    plan = world.run(dry_run=True)
    admin_client.post(f"/sync/runs/{plan.pk}/confirm/")
    real = Run.objects.get(plan=plan)
    html = admin_client.get(f"/sync/runs/{plan.pk}/").content.decode()
    assert "Confirm: sync" not in html
    assert f'carried out by <a href="/sync/runs/{real.pk}/">run {real.pk}</a>' in html
    assert f'carries out the plan <a href="/sync/runs/{plan.pk}/">' in (
        admin_client.get(f"/sync/runs/{real.pk}/").content.decode()
    )


@pytest.mark.django_db
def test_confirming_a_plan_twice_asks_for_one_run(admin_client: Client, world: World) -> None:
    plan = world.run(dry_run=True)
    first = admin_client.post(f"/sync/runs/{plan.pk}/confirm/")
    second = admin_client.post(f"/sync/runs/{plan.pk}/confirm/", follow=True)
    assert Run.objects.filter(dry_run=False).count() == 1
    assert second.redirect_chain[0][0] == first["Location"]
    assert "confirmed already" in second.content.decode()


@pytest.mark.django_db
def test_a_run_that_is_not_a_finished_plan_cannot_be_confirmed(
    admin_client: Client, world: World
) -> None:
    start, end = world.window()
    queued = Run.objects.create(
        profile=world.profile, trigger="manual", actor="admin:1", scope="window",
        window_start=start, window_end=end, coalesce_key="x", dry_run=True,
    )  # fmt: skip
    response = admin_client.post(f"/sync/runs/{queued.pk}/confirm/", follow=True)
    assert "only a finished plan" in response.content.decode()
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_run_entries_are_filtered_by_outcome_and_paged_in_words(
    admin_client: Client, world: World
) -> None:
    run = world.run()
    conflicts, creates = run.counts["conflict"], run.counts["create"]
    assert creates > 25  # more than one page
    html = admin_client.get(f"/sync/runs/{run.pk}/").content.decode()
    assert f"<strong>{conflicts}</strong> conflict" in html
    page = admin_client.get(f"/sync/runs/{run.pk}/?outcome=conflict").content.decode()
    assert page.count('<span class="badge fail">conflict</span>') == min(conflicts, 25)
    assert ">create</span>" not in page
    fragment = admin_client.get(
        f"/sync/runs/{run.pk}/?outcome=create&page=2&fragment=entries",
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "<html" not in fragment and 'id="entries"' in fragment
    assert f"Page 2 of {(creates + 24) // 25} · {creates} entries" in fragment
    assert ">conflict</span>" not in fragment


@pytest.mark.django_db
def test_outcomes_read_as_words(admin_client: Client, world: World) -> None:
    world.run()
    run = world.run()  # the second run finds everything in sync
    html = admin_client.get(f"/sync/runs/{run.pk}/").content.decode()
    assert "</strong> in sync</a>" in html
    assert "in_sync</" not in html and "> in_sync" not in html
    assert "in sync" in admin_client.get("/sync/").content.decode()


@pytest.mark.django_db
def test_a_window_of_whole_days_reads_as_entered(admin_client: Client, world: World) -> None:
    admin_client.post("/sync/", {"start": "2026-03-01", "end": "2026-03-05", "dry_run": "on"})
    run = Run.objects.get()
    assert run.describe_scope() == "2026-03-01 to 2026-03-05"
    assert "2026-03-06" not in admin_client.get("/sync/").content.decode()


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
    pair = Schedule.objects.filter(name__in=schedule_names(world.profile.pk))
    assert pair.count() == 2
    admin_client.post("/sync/settings/", common)
    assert pair.count() == 0


@pytest.mark.django_db
def test_bad_schedule_values_are_explained_next_to_the_field(
    admin_client: Client, world: World
) -> None:
    switch_schedule_on(world.profile.pk)
    response = admin_client.post(
        "/sync/settings/",
        {"incremental_every_minutes": "0", "full_reconcile_hour_utc": "25",
         "full_lookback_days": "30", "deletion_policy": "flag"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 400  # htmx swaps it (responseHandling in ui/base.html)
    assert "Between 1 and 1440 minutes." in response.content.decode()
    assert Schedule.objects.get(name__startswith="zks-incremental").minutes == 15  # unchanged


@pytest.mark.django_db
def test_without_htmx_bad_schedule_values_come_back_as_a_message_on_the_settings_page(
    admin_client: Client, world: World
) -> None:
    response = admin_client.post(
        "/sync/settings/",
        {"incremental_every_minutes": "0", "full_reconcile_hour_utc": "2",
         "full_lookback_days": "30", "deletion_policy": "flag"},
        follow=True,
    )  # fmt: skip
    assert response.redirect_chain[0][0] == "/settings/#sync-settings"
    assert "Nothing was saved. Sync changes every (minutes): Between 1 and 1440 minutes." in (
        response.content.decode()
    )


@pytest.mark.django_db
def test_a_run_page_names_the_agent_and_says_how_long_it_took(
    admin_client: Client, world: World
) -> None:
    run = world.run()
    temp = next(a for a in world.dataset.agents if a.kimai_username is None)
    html = admin_client.get(f"/sync/runs/{run.pk}/?outcome=conflict").content.decode()
    assert f"Zammad agent {temp.firstname} {temp.lastname} has no Kimai user" in html
    assert f"Zammad agent #{temp.zammad_id}" not in html
    stored = run.items.filter(reason__startswith=f"Zammad agent #{temp.zammad_id} ")
    assert stored.exists()  # stored reasons keep the id: forgetting a person rewrites nothing
    assert re.search(r"· took \d+ (s|min \d+ s)</p>", html)
