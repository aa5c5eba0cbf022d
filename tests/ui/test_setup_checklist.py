"""The dashboard's setup checklist follows the rows, step by step, until the setup is done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from django.test import Client

from apps.connectors.models import Connection, WebhookDelivery
from apps.connectors.services import check_connection
from apps.mappings.models import ActivityMapping, Rule
from apps.mappings.services import refresh_pair, set_user_mapping
from apps.sync.engine import settings_of
from apps.sync.models import Conflict, Run
from apps.sync.services import confirm_plan
from apps.ui.setup import setup_checklist
from tests.sync.world import NOW, World, demo_world


@pytest.fixture
def world(db: None) -> Iterator[World]:
    # Refreshing finds the agents who booked in the last 90 days: the demo data's days.
    with time_machine.travel(NOW, tick=False), demo_world(weeks=1) as built:
        yield built


def _map_every_activity_type(world: World) -> None:
    onsite = next(t for t in world.dataset.activity_types if t.name == "Onsite")
    ActivityMapping.objects.create(
        profile=world.profile, zammad_type_id=str(onsite.zammad_id),
        kimai_activity_id=str(world.kimai_double.activity_id("Support")),
    )  # fmt: skip


def _done(*keys: str) -> dict[str, bool]:
    return {step.key: step.done for step in setup_checklist().steps if step.key in keys}


@pytest.mark.django_db
def test_a_fresh_install_shows_every_step_to_do_and_where_to_start(admin_client: Client) -> None:
    html = admin_client.get("/").content.decode()
    assert "Set up the sync" in html and "0 of 8 done" in html
    assert '<a class="button small primary-link" href="/connectors/new/zammad/">Add Zammad</a>' in (
        html
    )
    assert "Off: nothing syncs by itself until you switch the schedule on." in html
    assert not any(step.done for step in setup_checklist().steps)


@pytest.mark.django_db
def test_a_connection_counts_once_its_last_test_passed(world: World) -> None:
    assert _done("zammad", "kimai") == {"zammad": False, "kimai": False}
    check_connection(world.zammad)
    check_connection(world.kimai)
    assert _done("zammad", "kimai") == {"zammad": True, "kimai": True}
    Connection.objects.filter(pk=world.kimai.pk).update(last_error="Token refused")
    assert _done("kimai") == {"kimai": False}


@pytest.mark.django_db
def test_refresh_mapping_and_rules_follow_the_snapshots_people_and_rules(world: World) -> None:
    assert _done("refresh", "rules") == {"refresh": False, "rules": True}  # Zammad not fetched
    refresh_pair(world.zammad, world.kimai)
    steps = {step.key: step for step in setup_checklist().steps}
    assert steps["refresh"].done
    # The demo's temp agent has no Kimai user: the step says so and stays open.
    assert not steps["map"].done
    assert steps["map"].detail == "1 of 6 agents have no Kimai user; no Kimai activity for Onsite."
    world.profile.unmapped_policy = "fallback"
    world.profile.save()
    assert _done("map") == {"map": False}  # Onsite still has no Kimai activity
    _map_every_activity_type(world)
    assert _done("map") == {"map": True}
    Rule.objects.all().delete()
    assert _done("rules") == {"rules": False}


@pytest.mark.django_db
def test_plan_confirm_and_schedule_come_from_runs_and_settings(world: World) -> None:
    assert _done("plan", "confirm", "schedule") == {
        "plan": False, "confirm": False, "schedule": settings_of(world.profile).schedule_enabled,
    }  # fmt: skip
    sync_settings = settings_of(world.profile)
    sync_settings.schedule_enabled = False
    sync_settings.save()
    plan = world.run(dry_run=True)
    steps = {step.key: step for step in setup_checklist().steps}
    assert steps["plan"].done and not steps["confirm"].done
    assert steps["confirm"].url == f"/sync/runs/{plan.pk}/"
    assert steps["schedule"].detail.startswith("Off: nothing syncs by itself")
    run = confirm_plan(plan, "admin:1")
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED)
    sync_settings.schedule_enabled = True
    sync_settings.save()
    steps = {step.key: step for step in setup_checklist().steps}
    assert steps["confirm"].done and steps["schedule"].done
    assert "every 15 minutes" in steps["schedule"].detail


@pytest.mark.django_db
def test_the_checklist_leaves_the_dashboard_once_every_required_step_is_done(
    admin_client: Client, world: World
) -> None:
    check_connection(world.zammad)
    check_connection(world.kimai)
    refresh_pair(world.zammad, world.kimai)
    temp = next(a for a in world.dataset.agents if a.kimai_username is None)
    emma = str(world.kimai_double.user_id("emma"))
    set_user_mapping(world.zammad, world.kimai, str(temp.zammad_id), emma)
    _map_every_activity_type(world)
    plan = world.run(dry_run=True)
    world.run()
    assert not Conflict.objects.filter(status="open", kind__startswith="unmapped").exists()
    sync_settings = settings_of(world.profile)
    sync_settings.schedule_enabled = True
    sync_settings.save()
    checklist = setup_checklist()
    assert checklist.complete and plan.pk
    assert not checklist.steps[-1].done  # the optional webhook does not hold it up
    assert "Set up the sync" not in admin_client.get("/").content.decode()


@pytest.mark.django_db
def test_entries_that_wait_for_a_mapping_keep_the_mapping_step_open(world: World) -> None:
    refresh_pair(world.zammad, world.kimai)
    world.profile.unmapped_policy = "fallback"
    world.profile.save()
    _map_every_activity_type(world)
    assert _done("map") == {"map": True}
    Conflict.objects.create(
        profile=world.profile, source_id="x1", kind=Conflict.Kind.UNMAPPED_ACTIVITY,
        reason="No activity type: not mapped to a Kimai activity",
    )  # fmt: skip
    step = next(s for s in setup_checklist().steps if s.key == "map")
    assert not step.done and "1 synced entry waits for one" in step.detail
    assert step.url == "/sync/conflicts/?kind=unmapped_activity"


@pytest.mark.django_db
def test_the_webhook_step_is_done_when_zammad_delivered(world: World) -> None:
    assert _done("webhook") == {"webhook": False}
    WebhookDelivery.objects.create(
        connection=world.zammad, delivery_id="d1", ticket_id="50", outcome="queued"
    )
    assert _done("webhook") == {"webhook": True}


def test_strangers_see_no_checklist(client: Client, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302 and "Set up the sync" not in response.content.decode()
