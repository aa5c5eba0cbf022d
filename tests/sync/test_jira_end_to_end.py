"""A Jira → Kimai pair end to end against the Jira and Kimai doubles: each visible worklog booked
once on the mapped Kimai user at the moment the work began, people without a Kimai user waiting
as conflicts, edits and deletions in Jira followed, and a second run that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db.models import F

from apps.mappings.models import MappingProfile, Rule
from apps.mappings.services import set_user_mapping
from apps.sync.models import Conflict, Link, Run, SyncSettings
from tests.doubles.base import Fault
from tests.doubles.jira.model import Flavour
from tests.sync.jira_world import JiraWorld, jira_world
from tests.sync.world import timesheets_per_marker


@pytest.fixture(params=["cloud", "datacenter"])
def flavour(request: pytest.FixtureRequest) -> Flavour:
    flavour: Flavour = request.param
    return flavour


@pytest.fixture
def jworld(db: None, flavour: Flavour) -> Iterator[JiraWorld]:
    with jira_world(weeks=1, flavour=flavour) as built:
        yield built


def _visible(world: JiraWorld) -> list[int]:
    """Worklogs the sync user may see: not deleted, not restricted to a group it is not in."""
    hidden = world.jira_data.hidden_group
    return [w.id for w in world.jira_data.live_worklogs() if w.visibility != ("group", hidden)]


def _author(world: JiraWorld, worklog_id: int) -> str:
    return next(w.author_email for w in world.jira_data.worklogs if w.id == worklog_id)


@pytest.mark.django_db
def test_a_first_run_books_each_visible_worklog_once_and_flags_people_without_a_kimai_user(
    jworld: JiraWorld,
) -> None:
    run = jworld.run()
    assert run.status == Run.Status.SUCCEEDED, run.error

    per_marker = timesheets_per_marker(jworld)
    assert set(per_marker.values()) == {1}
    booked = {int(m.split("-")[2]) for m in per_marker}
    waiting = {int(c.source_id) for c in Conflict.objects.filter(kind="unmapped_user")}
    assert booked | waiting == set(_visible(jworld))
    assert {_author(jworld, w) for w in waiting} <= {"sofia.rossi@example.com",
                                                     "pat.temp@example.com"}  # fmt: skip
    assert Link.objects.count() == len(booked)


@pytest.mark.django_db
def test_a_worklog_lands_on_the_kimai_user_at_the_moment_the_work_began(
    jworld: JiraWorld,
) -> None:
    jworld.run()
    worklog = next(w for w in jworld.jira_data.live_worklogs()
                   if w.author_email.startswith("liam") and w.visibility is None)  # fmt: skip
    link = Link.objects.get(source_id=str(worklog.id))
    sheet = jworld.kimai_double.timesheet(int(link.kimai_id))
    assert sheet.user_id == jworld.kimai_double.user_id("liam")
    assert sheet.begin == worklog.started.replace(second=0)
    assert sheet.duration == worklog.seconds


@pytest.mark.django_db
def test_running_again_writes_nothing(jworld: JiraWorld) -> None:
    jworld.run()
    writes = len(jworld.kimai_writes())
    second = jworld.run()
    assert second.status == Run.Status.SUCCEEDED
    assert "create" not in second.counts and "update" not in second.counts
    assert len(jworld.kimai_writes()) == writes


@pytest.mark.django_db
def test_an_edit_in_jira_updates_its_timesheet_on_the_next_incremental_run(
    jworld: JiraWorld,
) -> None:
    jworld.run()
    link = Link.objects.order_by("source_id").first()
    assert link is not None
    jworld.clock.advance(minutes=5)
    jworld.jira.edit_worklog(int(link.source_id), seconds=4 * 3600)
    jworld.clock.advance(minutes=2)  # past the feeds' one-minute blind spot (§3.1)

    run = jworld.run(Run.Scope.INCREMENTAL)
    assert run.counts == {"update": 1}, run.counts
    assert jworld.kimai_double.timesheet(int(link.kimai_id)).duration == 4 * 3600


def _delete_policy(world: JiraWorld) -> None:
    SyncSettings.objects.update_or_create(
        profile=world.profile, defaults={"deletion_policy": SyncSettings.DeletionPolicy.DELETE}
    )


@pytest.mark.django_db
def test_a_worklog_deleted_in_jira_asks_before_its_timesheet_goes(jworld: JiraWorld) -> None:
    jworld.run()
    link = Link.objects.order_by("source_id").first()
    assert link is not None
    jworld.clock.advance(minutes=5)
    jworld.jira.delete_worklog(int(link.source_id))
    jworld.clock.advance(minutes=2)

    jworld.run(Run.Scope.INCREMENTAL)
    conflict = Conflict.objects.get(kind="source_deleted")
    assert (conflict.source_id, conflict.kimai_id) == (link.source_id, link.kimai_id)
    assert jworld.kimai_double.timesheet(int(link.kimai_id)) is not None


@pytest.mark.django_db
def test_a_worklog_deleted_in_jira_is_deleted_in_kimai_by_the_next_incremental_run(
    jworld: JiraWorld,
) -> None:
    _delete_policy(jworld)
    jworld.run()
    link = Link.objects.order_by("source_id").first()
    assert link is not None
    jworld.clock.advance(minutes=5)
    jworld.jira.delete_worklog(int(link.source_id))
    jworld.clock.advance(minutes=2)

    run = jworld.run(Run.Scope.INCREMENTAL)
    assert run.counts == {"delete": 1}, run.counts
    assert int(link.kimai_id) not in {s.id for s in jworld.kimai_double.all_timesheets()}
    assert not Link.objects.filter(pk=link.pk).exists()


@pytest.mark.django_db
def test_a_worklog_deleted_in_jira_is_deleted_by_a_window_run_too(jworld: JiraWorld) -> None:
    _delete_policy(jworld)
    jworld.run()
    link = Link.objects.order_by("source_id").first()
    assert link is not None
    jworld.jira.delete_worklog(int(link.source_id))

    run = jworld.run()
    assert run.counts.get("delete") == 1, run.counts
    assert int(link.kimai_id) not in {s.id for s in jworld.kimai_double.all_timesheets()}


@pytest.mark.django_db
def test_a_new_worklog_is_booked_by_the_next_incremental_run(jworld: JiraWorld) -> None:
    jworld.run()
    jworld.clock.advance(minutes=5)
    worklog = jworld.jira.log_work("GLX-1", "liam.johnson@example.com",
                                   jworld.clock() - timedelta(hours=2), 1800)  # fmt: skip
    jworld.clock.advance(minutes=2)

    run = jworld.run(Run.Scope.INCREMENTAL)
    assert run.counts == {"create": 1}, run.counts
    assert Link.objects.filter(source_id=str(worklog.id)).exists()


@pytest.mark.django_db
def test_an_agent_with_a_hidden_email_is_booked_once_mapped_by_hand(jworld: JiraWorld) -> None:
    sofia = "sofia.rossi@example.com"
    jworld.run()
    waiting = [c for c in Conflict.objects.filter(kind="unmapped_user")
               if _author(jworld, int(c.source_id)) == sofia]  # fmt: skip
    if jworld.jira.flavour != "cloud":  # Data Center shows every e-mail (§5.2): she matches
        assert not waiting
        return
    assert waiting, "Sofia's worklogs wait: Jira Cloud hides her e-mail, so nothing matches"
    jira_user = jworld.jira.user(sofia)
    agent_id = jira_user.account_id if jworld.jira.flavour == "cloud" else jira_user.key
    kimai_sofia = str(jworld.kimai_double.user_id("sofia"))
    set_user_mapping(jworld.zammad, jworld.kimai, agent_id, kimai_sofia)

    jworld.run()
    booked = Link.objects.filter(source_id__in=[c.source_id for c in waiting])
    assert booked.count() == len(waiting)


@pytest.mark.django_db
def test_an_edit_in_kimai_and_in_jira_is_a_conflict_that_writes_nothing(
    jworld: JiraWorld,
) -> None:
    jworld.run()
    link = Link.objects.order_by("source_id").first()
    assert link is not None
    stored = jworld.kimai_double.timesheets[int(link.kimai_id)]
    stored.description = (stored.description or "") + " (checked by Emma)"
    jworld.clock.advance(minutes=5)
    jworld.jira.edit_worklog(int(link.source_id), seconds=5 * 3600)
    jworld.clock.advance(minutes=2)
    writes = len(jworld.kimai_writes())

    jworld.run(Run.Scope.INCREMENTAL)
    assert Conflict.objects.filter(source_id=link.source_id, kind="changed_in_kimai").exists()
    assert len(jworld.kimai_writes()) == writes


@pytest.mark.django_db
def test_jira_rate_limits_are_waited_out_and_the_run_succeeds(jworld: JiraWorld) -> None:
    jworld.jira.inject(Fault("rate_limit", path_prefix="/rest/api", retry_after=1, times=2))
    run = jworld.run()

    assert run.status == Run.Status.SUCCEEDED, run.error
    assert [r.status for r in jworld.jira.requests].count(429) == 2
    assert set(timesheets_per_marker(jworld).values()) == {1}


@pytest.mark.django_db
def test_a_jira_outage_fails_the_run_and_the_next_run_books_everything(
    jworld: JiraWorld,
) -> None:
    jworld.jira.inject(Fault("error_before_commit", path_prefix="/rest/api", times=10_000))
    failed = jworld.run()
    assert failed.status == Run.Status.FAILED
    assert "Jira" in failed.error
    assert not jworld.kimai_writes()

    jworld.jira.faults.clear()
    run = jworld.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert set(timesheets_per_marker(jworld).values()) == {1}


@pytest.mark.django_db
def test_rules_on_the_jira_project_and_component_and_the_comment_in_the_description(
    jworld: JiraWorld,
) -> None:
    glx = jworld.jira.projects["GLX"]
    backup = next(c for c in glx.components if c.name == "Backup")
    kimai = jworld.kimai_double
    managed = next(p for p in kimai.projects.values() if p.name == "Managed Service")
    consulting = next(a for a in kimai.activities.values() if a.name == "Consulting")
    Rule.objects.filter(profile=jworld.profile).update(position=F("position") + 1)
    Rule.objects.create(
        profile=jworld.profile, position=0, name="Globex backups", project_ids=[glx.id],
        group_ids=[backup.id], project_id=str(managed.id), activity_id=str(consulting.id),
    )  # fmt: skip
    MappingProfile.objects.filter(pk=jworld.profile.pk).update(
        description_template="{ticket_key} {comment}"
    )
    jworld.run()

    by_issue = {i.key: i for i in jworld.jira_data.issues}
    for worklog in jworld.jira_data.live_worklogs():
        link = Link.objects.filter(source_id=str(worklog.id)).first()
        if link is None:
            continue
        sheet = kimai.timesheet(int(link.kimai_id))
        issue = by_issue[worklog.issue_key]
        on_backup = issue.project_key == "GLX" and "Backup" in issue.components
        assert (sheet.activity_id == consulting.id) == on_backup, worklog.issue_key
        comment = " ".join((worklog.comment or "").split())  # one line in Kimai
        assert (sheet.description or "").startswith(f"{worklog.issue_key} {comment}".strip())
