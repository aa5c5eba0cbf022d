"""A seeded Zammad (two weeks, six agents, one without a Kimai account) synced into a Kimai that
already holds two timesheets typed by hand: the expected Kimai state and conflicts, then edits,
deletions and a second run that changes nothing."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from apps.core.models import AuditEvent
from apps.sync.models import Conflict, Link, Run, RunItem, SyncSettings
from tests.doubles.dataset import TimeEntry as SeedEntry
from tests.sync.world import World

ONSITE = 4
UNMAPPED_AGENT = 8  # Pat Temp has no Kimai account


def _org(world: World, entry: SeedEntry) -> int | None:
    return world.dataset.ticket(entry.ticket_id).organization_id


def _expected_conflict(world: World, entry: SeedEntry) -> str | None:
    if entry.agent_id == UNMAPPED_AGENT:
        return "unmapped_user"
    # "Onsite" has no mapping; only the Initech and catch-all rules name an activity.
    if entry.type_id == ONSITE and _org(world, entry) in (1, 2, 4):
        return "unmapped_activity"
    return None


def _marked(world: World) -> dict[str, int]:
    """Zammad entry id → how many Kimai timesheets carry its marker."""
    counts: Counter[str] = Counter()
    for sheet in world.kimai_double.all_timesheets():
        for entry in world.dataset.entries:
            if entry_marker(world, entry) in (sheet.description or ""):
                counts[str(entry.zammad_id)] += 1
    return dict(counts)


def entry_marker(world: World, entry: SeedEntry) -> str:
    return f"zks-{world.zammad.pk}-{entry.zammad_id}-z"


@pytest.mark.django_db
def test_a_first_sync_books_each_clear_entry_once_and_flags_the_rest(world: World) -> None:
    run = world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error

    manual_exact, _manual_longer = world.dataset.kimai_manual_timesheets
    adopted = Link.objects.get(origin=Link.Origin.ADOPTED)
    mismatch = Conflict.objects.get(kind="duration_mismatch")
    marked = _marked(world)
    expected_conflicts: Counter[str] = Counter()
    for entry in world.dataset.entries:
        kind = _expected_conflict(world, entry)
        if kind:
            expected_conflicts[kind] += 1
            assert str(entry.zammad_id) not in marked
        elif str(entry.zammad_id) not in (adopted.source_id, mismatch.source_id):
            assert marked.get(str(entry.zammad_id)) == 1, f"entry {entry.zammad_id}"
    conflicts = Counter(Conflict.objects.values_list("kind", flat=True))
    # The hand-made timesheet with ten minutes more is the duration mismatch; its entry waits.
    assert conflicts.pop("duration_mismatch") == 1
    assert conflicts == expected_conflicts
    assert not (set(marked) & {adopted.source_id})
    assert len(world.kimai_double.all_timesheets()) == Link.objects.count() + 1
    adopted_sheet = world.kimai_double.timesheet(int(adopted.kimai_id))
    assert manual_exact.description in (adopted_sheet.description or "")


@pytest.mark.django_db
def test_timesheets_land_on_the_mapped_user_at_the_right_instant(world: World) -> None:
    world.run()
    liam = next(a for a in world.dataset.agents if a.kimai_username == "liam")
    entry = next(e for e in world.dataset.entries if e.agent_id == liam.zammad_id
                 and _expected_conflict(world, e) is None)  # fmt: skip
    link = Link.objects.get(source_id=str(entry.zammad_id))
    sheet = world.kimai_double.timesheet(int(link.kimai_id))
    assert sheet.user_id == world.kimai_double.user_id("liam")
    # The Zammad booking instant is the end of the work (the default); Kimai keeps whole minutes.
    assert sheet.end is not None
    assert abs((sheet.end - entry.created_at).total_seconds()) < 61
    assert sheet.duration == round(float(entry.time_unit)) * 60 or sheet.duration // 60 == int(
        entry.time_unit
    )
    assert str(sheet.begin.tzinfo) == "America/New_York"


@pytest.mark.django_db
def test_rules_create_the_missing_customer_and_project_once(world: World) -> None:
    world.run()
    projects = [
        p for p in world.kimai_double.projects.values() if p.name == "Umbrella Health support"
    ]
    assert len(projects) == 1
    customer = world.kimai_double.customers[projects[0].customer_id]
    assert customer.name == "Umbrella Health"
    assert AuditEvent.objects.filter(action="kimai.project.create").count() == 1


@pytest.mark.django_db
def test_running_again_writes_nothing(world: World) -> None:
    world.run()
    writes_after_first = len(world.kimai_writes())
    second = world.run()
    assert second.status == Run.Status.SUCCEEDED
    assert "create" not in second.counts and "update" not in second.counts
    assert len(world.kimai_writes()) == writes_after_first


@pytest.mark.django_db
def test_every_kimai_write_is_an_audit_event(world: World) -> None:
    run = world.run()
    writes = [w for w in world.kimai_writes() if w.startswith("POST")]
    events = AuditEvent.objects.filter(action__startswith="kimai.timesheet.", run_id=run.pk)
    assert events.filter(action="kimai.timesheet.create").count() == len(writes)
    assert events.filter(action="kimai.timesheet.adopt").count() == 1
    first = events.filter(action="kimai.timesheet.create").first()
    assert first is not None and first.actor == "admin:1"
    assert "@" not in str(first.after), "audit events hold ids, never e-mail addresses"


@pytest.mark.django_db
def test_an_edit_in_zammad_updates_the_timesheet_in_kimai(world: World) -> None:
    world.run()
    link = Link.objects.filter(origin=Link.Origin.CREATED).first()
    assert link is not None
    world.served.zammad.edit_time(int(link.source_id), time_unit="95")
    run = world.run()
    assert run.counts.get("update") == 1
    sheet = world.kimai_double.timesheet(int(link.kimai_id))
    assert sheet.duration == 95 * 60
    assert [w for w in world.kimai_writes() if w.startswith("PATCH")] == [
        f"PATCH /api/timesheets/{link.kimai_id}"
    ]
    assert "update" not in world.run().counts


@pytest.mark.django_db
def test_a_deleted_entry_is_flagged_by_default(world: World) -> None:
    world.run()
    link = Link.objects.filter(origin=Link.Origin.CREATED).first()
    assert link is not None
    world.served.zammad.delete_time(int(link.source_id))
    world.run()
    conflict = Conflict.objects.get(kind="source_deleted")
    assert conflict.source_id == link.source_id
    assert conflict.kimai_id == link.kimai_id
    assert world.kimai_double.timesheet(int(link.kimai_id)) is not None


@pytest.mark.django_db
def test_with_the_delete_policy_the_kimai_timesheet_goes_too(world: World) -> None:
    SyncSettings.objects.update_or_create(
        profile=world.profile, defaults={"deletion_policy": SyncSettings.DeletionPolicy.DELETE}
    )
    world.run()
    link = Link.objects.filter(origin=Link.Origin.CREATED).first()
    assert link is not None
    world.served.zammad.delete_time(int(link.source_id))
    run = world.run()
    assert run.counts.get("delete") == 1
    assert int(link.kimai_id) not in world.kimai_double.timesheets
    assert not Link.objects.filter(pk=link.pk).exists()
    assert AuditEvent.objects.filter(action="kimai.timesheet.delete").count() == 1


@pytest.mark.django_db
def test_an_edit_on_both_sides_is_a_conflict_and_nothing_is_overwritten(world: World) -> None:
    world.run()
    link = Link.objects.filter(origin=Link.Origin.CREATED).first()
    assert link is not None
    stored = world.kimai_double.timesheets[int(link.kimai_id)]
    stored.description = (stored.description or "") + " (checked by Emma)"
    world.served.zammad.edit_time(int(link.source_id), time_unit="95")
    world.run()
    conflict = Conflict.objects.get(kind="changed_in_kimai")
    assert conflict.source_id == link.source_id
    assert "(checked by Emma)" in (
        world.kimai_double.timesheet(int(link.kimai_id)).description or ""
    )
    assert not [w for w in world.kimai_writes() if w.startswith("PATCH")]


@pytest.mark.django_db
def test_a_dry_run_writes_nothing_and_totals_hours_per_user(world: World) -> None:
    run = world.run(dry_run=True)
    assert run.counts["create"] > 0
    assert world.kimai_writes() == []
    assert not Link.objects.exists()
    assert RunItem.objects.filter(run=run, result=RunItem.Result.PLANNED).count() == run.total
    created_seconds = sum(v["create"] for v in run.hours.values())
    assert created_seconds == sum(
        i.duration_seconds for i in RunItem.objects.filter(run=run, planned="create")
    )


@pytest.mark.django_db
def test_a_ticket_run_resyncs_only_that_ticket(world: World) -> None:
    world.run()
    link = Link.objects.filter(origin=Link.Origin.CREATED).first()
    assert link is not None
    entry_id = int(link.source_id)
    ticket_id = next(e.ticket_id for e in world.dataset.entries if e.zammad_id == entry_id)
    world.served.zammad.book_time(ticket_id, 3, Decimal("25"), type_id=1, at=None)
    run = world.run(scope=Run.Scope.TICKET, ticket_id=str(ticket_id))
    assert run.counts.get("create") == 1
    assert RunItem.objects.filter(run=run).exclude(ticket_id=str(ticket_id)).count() == 0
    assert run.window_start is None


@pytest.mark.django_db
def test_rules_on_ticket_groups_cost_no_extra_ticket_requests(world: World) -> None:
    from django.db.models import F

    from apps.mappings.models import Rule

    Rule.objects.filter(profile=world.profile).update(position=F("position") + 1)
    Rule.objects.create(
        profile=world.profile, position=1, name="Billing group", group_ids=["3"],
        project_id=str(world.kimai_double.project_id("Internal Helpdesk")),
        activity_id=str(world.kimai_double.activity_id("Internal work")),
    )  # fmt: skip
    run = world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    searches = world.served.zammad.requests_to("POST", "/api/v1/tickets/search")
    assert len(searches) == 1, "tickets are read once per run (24 tickets, 200 per search)"
    billing = {t.zammad_id for t in world.dataset.tickets if t.group_id == 3}
    booked = RunItem.objects.filter(
        run=run, planned="create", ticket_id__in=[str(t) for t in billing]
    )
    assert booked.exists()
