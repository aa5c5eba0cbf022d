"""Kimai refusing a write: its own message becomes a conflict; a locked period is "locked"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.sync.models import Conflict, Link, Run
from tests.sync.world import NOW, World


@pytest.mark.django_db
def test_a_validation_refusal_keeps_kimais_message_as_a_conflict(world: World) -> None:
    world.kimai_double.configure(long_running_duration=20)  # minutes
    run = world.run()
    rejected = Conflict.objects.filter(kind="rejected")
    assert rejected.exists()
    # Not "succeeded": some writes went through, these were refused.
    assert run.status == Run.Status.PARTIAL
    assert run.results["refused"] == rejected.count() and run.results["written"] > 0
    assert all("Maximum 0:20 hours allowed." in c.reason for c in rejected)
    assert all(Link.objects.filter(source_id=c.source_id).exists() is False for c in rejected)


@pytest.mark.django_db
def test_a_locked_period_becomes_a_locked_conflict(world: World) -> None:
    # §7: a period that has ended (its grace too) is locked for everything that begins in it.
    world.kimai_double.set_lockdown(NOW - timedelta(days=60), NOW - timedelta(hours=1))
    for permission in ("lockdown_override_timesheet", "lockdown_grace_timesheet"):
        world.kimai_double.revoke("ROLE_SUPER_ADMIN", permission)  # admins may override
    world.run()
    locked = Conflict.objects.filter(kind="locked")
    assert locked.count() > 0
    assert "This period is locked" in locked.first().reason  # type: ignore[union-attr]
    assert all(
        link.booked_at > NOW - timedelta(hours=2)
        for link in Link.objects.filter(origin=Link.Origin.CREATED)
    )


@pytest.mark.django_db
def test_a_refused_entry_is_booked_once_kimai_accepts_it(world: World) -> None:
    world.kimai_double.configure(long_running_duration=20)
    world.run()
    refused = set(Conflict.objects.filter(kind="rejected").values_list("source_id", flat=True))
    world.kimai_double.configure(long_running_duration=0)
    world.run()
    assert refused <= set(Link.objects.values_list("source_id", flat=True))
    assert not Conflict.objects.filter(kind="rejected", status="open").exists()
