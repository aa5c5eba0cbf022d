"""Resolving conflicts through the sync's exactly-once machinery, against the doubles."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from apps.core.models import AuditEvent
from apps.mappings.services import set_user_mapping
from apps.sync.engine import execute_run
from apps.sync.locks import profile_lock
from apps.sync.models import Conflict, Link, Run, WriteIntent
from apps.sync.resolutions import (
    ResolutionParams,
    ResolutionRefused,
    apply_bulk,
    choices,
    reevaluate,
    version_of,
)
from tests.doubles.base import Fault
from tests.sync.conflict_cases import (
    ACTOR,
    add_second_candidate,
    deleted_in_zammad,
    edited_on_both_sides,
    open_conflict,
    resolve,
)
from tests.sync.world import World


def _marked(world: World, conflict: Conflict) -> list[int]:
    marker = conflict.source_snapshot["marker"]
    return [s.id for s in world.kimai_double.all_timesheets() if marker in (s.description or "")]


# -- the actions -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_updates_the_kimai_timesheet_of_a_duration_mismatch_to_zammads_values(
    world: World,
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    zammad_seconds = conflict.source_snapshot["timesheet"]["duration"]["value"]
    done = resolve(conflict, "update")
    assert done.kimai_id == conflict.kimai_id
    assert world.kimai_double.timesheet(int(conflict.kimai_id)).duration == zammad_seconds
    conflict.refresh_from_db()
    assert conflict.status == Conflict.Status.RESOLVED and conflict.resolved_by == ACTOR
    assert Link.objects.get(source_id=conflict.source_id).kimai_id == conflict.kimai_id
    event = AuditEvent.objects.get(action="conflict.resolve", object_id=str(conflict.pk))
    assert event.actor == ACTOR
    assert (event.before or {})["status"] == "open"
    assert (event.after or {})["status"] == "resolved"
    assert AuditEvent.objects.filter(action="kimai.timesheet.update", actor=ACTOR).count() == 1


@pytest.mark.django_db
def test_linking_a_timesheet_as_it_is_writes_nothing_and_stays_in_sync(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    writes = len(world.kimai_writes())
    resolve(conflict, "link", kimai_id=conflict.kimai_id)
    assert len(world.kimai_writes()) == writes
    link = Link.objects.get(source_id=conflict.source_id)
    assert (link.kimai_id, link.origin) == (conflict.kimai_id, Link.Origin.LINKED)
    world.run()
    assert len(world.kimai_writes()) == writes
    assert not Conflict.objects.filter(source_id=conflict.source_id, status="open").exists()


@pytest.mark.django_db
def test_create_another_books_one_new_timesheet_with_the_marker(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    done = resolve(conflict, "create")
    assert _marked(world, conflict) == [int(done.kimai_id)]
    assert world.kimai_double.timesheet(int(conflict.kimai_id)) is not None  # the other stays
    world.run()
    assert _marked(world, conflict) == [int(done.kimai_id)]


@pytest.mark.django_db
def test_an_ambiguous_match_is_linked_to_the_chosen_candidate(world: World) -> None:
    add_second_candidate(world)
    world.run()
    conflict = open_conflict(Conflict.Kind.AMBIGUOUS_MATCH)
    offered = [c.kimai_id for c in choices(conflict) if c.action == "link"]
    assert len(offered) == 2
    resolve(conflict, "link", kimai_id=offered[1])
    assert Link.objects.get(source_id=conflict.source_id).kimai_id == offered[1]


@pytest.mark.django_db
def test_linking_a_timesheet_that_was_not_offered_is_refused(world: World) -> None:
    add_second_candidate(world)
    world.run()
    conflict = open_conflict(Conflict.Kind.AMBIGUOUS_MATCH)
    with pytest.raises(ResolutionRefused) as refused:
        resolve(conflict, "link", kimai_id="999999")
    assert refused.value.status == 422
    assert "Choose the Kimai timesheet" in refused.value.message
    assert not Link.objects.filter(source_id=conflict.source_id).exists()


@pytest.mark.django_db
def test_a_skip_keeps_its_note_and_holds_until_the_entry_changes(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    resolve(conflict, "skip", note="Emma booked this twice on purpose")
    conflict.refresh_from_db()
    assert (conflict.status, conflict.note) == ("skipped", "Emma booked this twice on purpose")
    event = AuditEvent.objects.get(action="conflict.skip")
    assert (event.after or {})["note_given"] is True
    assert "Emma" not in str(event.after)
    world.run()
    assert not Conflict.objects.filter(source_id=conflict.source_id, status="open").exists()
    world.served.zammad.edit_time(int(conflict.source_id), time_unit="33")
    world.run()
    assert Conflict.objects.filter(source_id=conflict.source_id, status="open").exists()


@pytest.mark.django_db
def test_deleting_in_kimai_removes_the_timesheet_of_a_deleted_entry(world: World) -> None:
    world.run()
    conflict = deleted_in_zammad(world)
    resolve(conflict, "delete")
    assert int(conflict.kimai_id) not in world.kimai_double.timesheets
    assert world.kimai_writes()[-1] == f"DELETE /api/timesheets/{conflict.kimai_id}"
    assert not Link.objects.filter(source_id=conflict.source_id).exists()
    assert AuditEvent.objects.filter(action="kimai.timesheet.delete", actor=ACTOR).count() == 1


@pytest.mark.django_db
def test_keeping_a_deleted_entrys_timesheet_is_not_asked_again(world: World) -> None:
    world.run()
    conflict = deleted_in_zammad(world)
    resolve(conflict, "skip")
    world.run()
    assert not Conflict.objects.filter(source_id=conflict.source_id, status="open").exists()
    assert int(conflict.kimai_id) in world.kimai_double.timesheets


@pytest.mark.django_db
def test_zammad_wins_over_an_edit_in_kimai(world: World) -> None:
    world.run()
    conflict = edited_on_both_sides(world)
    resolve(conflict, "update")
    sheet = world.kimai_double.timesheet(int(conflict.kimai_id))
    assert sheet.duration == 95 * 60
    assert "(checked by Emma)" not in (sheet.description or "")


@pytest.mark.django_db
def test_kimai_wins_keeps_the_edit_and_the_next_run_leaves_it_alone(world: World) -> None:
    world.run()
    conflict = edited_on_both_sides(world)
    writes = len(world.kimai_writes())
    resolve(conflict, "link", kimai_id=conflict.kimai_id)
    world.run()
    assert len(world.kimai_writes()) == writes
    assert "(checked by Emma)" in (
        world.kimai_double.timesheet(int(conflict.kimai_id)).description or ""
    )
    assert not Conflict.objects.filter(source_id=conflict.source_id, status="open").exists()


@pytest.mark.django_db
def test_a_timesheet_deleted_in_kimai_is_booked_again_once(world: World) -> None:
    world.run()
    link = Link.objects.filter(origin=Link.Origin.CREATED).order_by("id").first()
    assert link is not None
    del world.kimai_double.timesheets[int(link.kimai_id)]
    world.run()
    conflict = Conflict.objects.get(kind=Conflict.Kind.CHANGED_IN_KIMAI, source_id=link.source_id)
    done = resolve(conflict, "create")
    assert _marked(world, conflict) == [int(done.kimai_id)]
    assert Link.objects.get(source_id=link.source_id).kimai_id == done.kimai_id


@pytest.mark.django_db
def test_a_create_that_times_out_after_kimai_committed_is_found_by_its_marker(
    world: World,
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    world.kimai_double.inject(
        Fault("timeout_after_commit", "POST", "/api/timesheets", timeout_seconds=1.0)
    )
    done = resolve(conflict, "create")
    assert _marked(world, conflict) == [int(done.kimai_id)]
    assert WriteIntent.objects.get(source_id=conflict.source_id).state == "done"


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_resolving_an_already_resolved_conflict_changes_nothing(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    resolve(conflict, "link", kimai_id=conflict.kimai_id)
    writes = len(world.kimai_writes())
    with pytest.raises(ResolutionRefused) as refused:
        resolve(conflict, "update")
    assert refused.value.reason == "done" and refused.value.status == 409
    assert "already resolved by admin:1" in refused.value.message
    assert len(world.kimai_writes()) == writes


@pytest.mark.django_db
def test_a_conflict_that_changed_since_it_was_shown_is_not_resolved(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    shown = version_of(conflict)
    Conflict.objects.filter(pk=conflict.pk).update(reason="a run saw it again")
    with pytest.raises(ResolutionRefused) as refused:
        resolve(conflict, "update", version=shown)
    assert "changed since you opened it" in refused.value.message
    conflict.refresh_from_db()
    assert conflict.status == "open"
    assert (
        world.kimai_double.timesheet(int(conflict.kimai_id)).duration
        != (conflict.source_snapshot["timesheet"]["duration"]["value"])
    )


@pytest.mark.django_db
def test_linking_a_timesheet_deleted_meanwhile_leaves_the_conflict_open(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    del world.kimai_double.timesheets[int(conflict.kimai_id)]
    with pytest.raises(ResolutionRefused) as refused:
        resolve(conflict, "link", kimai_id=conflict.kimai_id)
    assert f"#{conflict.kimai_id} was deleted in Kimai" in refused.value.message
    conflict.refresh_from_db()
    assert conflict.status == "open"
    assert not Link.objects.filter(source_id=conflict.source_id).exists()


@pytest.mark.django_db
def test_kimai_refusing_the_write_leaves_the_conflict_open_with_its_message(
    world: World,
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    world.kimai_double.inject(Fault("error_before_commit", "PATCH", "/api/timesheets", status=400))
    with pytest.raises(ResolutionRefused) as refused:
        resolve(conflict, "update")
    assert refused.value.reason == "refused"
    assert refused.value.message.startswith("Kimai refused the write")
    conflict.refresh_from_db()
    assert conflict.status == "open"
    assert not Link.objects.filter(source_id=conflict.source_id).exists()
    assert WriteIntent.objects.get(source_id=conflict.source_id).state == "failed"
    assert AuditEvent.objects.filter(action="conflict.resolve_failed").count() == 1


@pytest.mark.django_db
def test_an_entry_changed_in_zammad_is_decided_again_instead(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    world.served.zammad.edit_time(int(conflict.source_id), time_unit="41")
    with pytest.raises(ResolutionRefused) as refused:
        resolve(conflict, "update")
    assert "changed in Zammad" in refused.value.message
    run = Run.objects.get(scope=Run.Scope.TICKET)
    assert run.ticket_id == conflict.ticket_id
    assert f"Run {run.pk} was asked for" in refused.value.message


@pytest.mark.django_db
def test_an_action_that_does_not_fit_the_kind_is_refused(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    with pytest.raises(ResolutionRefused) as refused:
        resolve(conflict, "create")
    assert refused.value.status == 422
    assert "does not fit" in refused.value.message
    with pytest.raises(ResolutionRefused):
        resolve(conflict, "merge")


@pytest.mark.django_db(transaction=True)
def test_a_resolution_waits_for_a_run_and_then_gives_up_politely(
    tx_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx_world.run()
    monkeypatch.setattr("apps.sync.resolutions.LOCK_WAIT_SECONDS", 0.3)
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    held, release = threading.Event(), threading.Event()

    def run_holding_the_lock() -> None:
        with profile_lock(conflict.profile_id):
            held.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=run_holding_the_lock)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(ResolutionRefused) as refused:
            resolve(conflict, "skip")
    finally:
        release.set()
        thread.join()
    assert refused.value.reason == "busy"
    assert Conflict.objects.get(pk=conflict.pk).status == "open"


# -- many at once, and deciding again --------------------------------------------------------------
@pytest.mark.django_db
def test_a_bulk_skip_reports_each_conflict(world: World) -> None:
    world.run()
    unmapped = list(Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_USER)[:3])
    resolve(unmapped[0], "skip")
    outcome = apply_bulk([c.pk for c in unmapped] + [987654], "skip", ResolutionParams(), ACTOR)
    by_id = {r.conflict_id: r for r in outcome.results}
    assert [by_id[c.pk].ok for c in unmapped] == [False, True, True]
    assert by_id[unmapped[0].pk].reason == "done"
    assert by_id[987654].message == "There is no conflict 987654."
    assert Conflict.objects.filter(pk__in=[c.pk for c in unmapped], status="skipped").count() == 3


@pytest.mark.django_db
def test_a_bulk_resolution_stops_at_its_time_budget_and_names_the_rest(world: World) -> None:
    world.run()
    ids = list(Conflict.objects.values_list("pk", flat=True)[:4])
    outcome = apply_bulk(ids, "skip", ResolutionParams(), ACTOR, budget_seconds=0)
    assert len(outcome.results) == 1
    assert outcome.remaining == ids[1:]


@pytest.mark.django_db
def test_a_bulk_link_is_refused_as_a_whole(world: World) -> None:
    world.run()
    with pytest.raises(ResolutionRefused) as refused:
        apply_bulk([1], "link", ResolutionParams(kimai_id="2"), ACTOR)
    assert refused.value.status == 422


@pytest.mark.django_db
def test_mapping_the_agent_and_checking_again_resolves_their_conflicts(world: World) -> None:
    world.run()
    conflicts = list(Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_USER, status="open"))
    agent = conflicts[0].agent
    assert agent is not None
    emma = str(world.kimai_double.user_id("emma"))
    set_user_mapping(world.zammad, world.kimai, agent.external_id, emma)
    runs = reevaluate(conflicts, ACTOR)
    assert [r.scope for r in runs] == [Run.Scope.WINDOW]  # many tickets: one window run
    execute_run(runs[0].pk)
    assert not Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_USER, status="open").exists()
    assert Link.objects.filter(source_id__in=[c.source_id for c in conflicts]).count() == len(
        conflicts
    )


@pytest.mark.django_db
def test_check_again_asks_for_a_run_of_the_conflicts_ticket(world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_ACTIVITY)
    done = resolve(conflict, "recheck")
    assert done.run_id is not None
    run = Run.objects.get(pk=done.run_id)
    assert (run.scope, run.ticket_id, run.actor) == ("ticket", conflict.ticket_id, ACTOR)
    assert "Queued a sync of ticket" in done.message


@pytest.mark.django_db
def test_a_skipped_refusal_is_not_sent_to_kimai_again(world: World) -> None:
    world.kimai_double.inject(
        Fault("error_before_commit", "POST", "/api/timesheets", status=400, times=1)
    )
    world.run()
    conflict = open_conflict(Conflict.Kind.REJECTED)
    assert [c.action for c in choices(conflict)] == ["create", "recheck", "skip"]
    resolve(conflict, "skip")
    posts = len(world.kimai_double.requests_to("POST", "/api/timesheets"))
    world.run()
    assert len(world.kimai_double.requests_to("POST", "/api/timesheets")) == posts
    assert not Conflict.objects.filter(source_id=conflict.source_id, status="open").exists()


@pytest.mark.django_db
def test_trying_a_refused_create_again_books_it(world: World) -> None:
    world.kimai_double.inject(
        Fault("error_before_commit", "POST", "/api/timesheets", status=400, times=1)
    )
    world.run()
    conflict = open_conflict(Conflict.Kind.REJECTED)
    done = resolve(conflict, "create")
    assert _marked(world, conflict) == [int(done.kimai_id)]
    assert done.conflict.status == "resolved"
    assert done.conflict.resolution == f"create: {done.kimai_id}"
