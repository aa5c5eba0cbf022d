"""The nightly prune: rows older than the policy are gone, newer ones stay, in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django_q.models import Schedule, Task
from model_bakery import baker

from apps.connectors.models import WebhookDelivery, WebhookRejection
from apps.core import audit
from apps.core.models import AuditEvent
from apps.gdpr.models import RetentionPolicy
from apps.gdpr.retention import SCHEDULE_NAME, due, prune_expired
from apps.mappings.models import MappingProfile
from apps.sync.models import Conflict, Run, RunItem

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def history(profile: MappingProfile) -> dict[str, list[int]]:
    """For each kind of row, one just older than its default retention and one just newer."""
    kept: dict[str, list[int]] = {"old": [], "new": []}
    for age, bucket in ((91, "old"), (89, "new")):
        run = baker.make(Run, profile=profile, created_at=_ago(age), status=Run.Status.SUCCEEDED)
        baker.make(RunItem, run=run, _quantity=3)
        kept[bucket].append(run.pk)
        baker.make(
            Conflict, profile=profile, status=Conflict.Status.RESOLVED, resolved_at=_ago(age)
        )
    for age in (31, 29):
        baker.make(WebhookDelivery, connection=profile.source, received_at=_ago(age))
        baker.make(WebhookRejection, minute=_ago(age), last_at=_ago(age), count=5)
        baker.make(Task, id=f"task-{age}", started=_ago(age), stopped=_ago(age), success=True)
    for age in (401, 399):
        with time_machine.travel(_ago(age)):
            audit.record("schedule", "kimai.timesheet.create", "kimai.timesheet", age,
                         after={"description": f"#{age} Printer"})  # fmt: skip
    # A skipped conflict is a decision: it holds until the entry changes, whatever its age.
    baker.make(Conflict, profile=profile, status=Conflict.Status.SKIPPED, resolved_at=_ago(500))
    return kept


@time_machine.travel(NOW, tick=False)
def test_the_prune_deletes_what_is_older_than_the_policy_and_keeps_the_rest(
    history: dict[str, list[int]],
) -> None:
    report = prune_expired(batch=2)
    assert list(Run.objects.values_list("pk", flat=True)) == history["new"]
    assert RunItem.objects.count() == 3
    assert set(Conflict.objects.values_list("status", flat=True)) == {"resolved", "skipped"}
    assert Conflict.objects.count() == 2
    assert [d.received_at for d in WebhookDelivery.objects.all()] == [_ago(29)]
    assert [r.minute for r in WebhookRejection.objects.all()] == [_ago(29)]
    assert list(Task.objects.values_list("id", flat=True)) == ["task-29"]
    assert list(AuditEvent.objects.filter(object_type="kimai.timesheet")
                .values_list("object_id", flat=True)) == ["399"]  # fmt: skip
    assert report == {
        "webhook_deliveries": 1, "webhook_rejections": 1, "run_items": 3, "runs": 1,
        "conflicts": 1, "audit_events": 1, "task_results": 1,
    }  # fmt: skip


@time_machine.travel(NOW, tick=False)
def test_the_prune_records_what_it_deleted(history: dict[str, list[int]]) -> None:
    report = prune_expired()
    policy = RetentionPolicy.load()
    assert (policy.last_pruned_at, policy.last_report) == (NOW, report)
    event = AuditEvent.objects.get(action="retention.prune")
    assert (event.actor, event.after) == ("schedule", report)


@time_machine.travel(NOW, tick=False)
def test_it_says_how_many_rows_the_next_prune_removes(history: dict[str, list[int]]) -> None:
    RetentionPolicy.objects.update_or_create(pk=1, defaults={"runs_days": 100})
    counts = {row.key: row.rows for row in due()}
    assert counts["run_items"] == 0 and counts["runs"] == 0
    assert counts["audit_events"] == 1 and counts["conflicts"] == 1


def test_the_prune_runs_nightly_on_the_worker_schedule() -> None:
    schedule = Schedule.objects.get(name=SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type) == (
        "apps.gdpr.tasks.prune_expired", Schedule.DAILY,
    )  # fmt: skip
    assert schedule.next_run is not None and schedule.next_run.hour == 3


def test_the_command_says_what_would_go_and_then_prunes(
    history: dict[str, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    with time_machine.travel(NOW, tick=False):
        call_command("prune_expired", "--dry-run")
        assert "1 finished sync runs (older than 90 days)" in capsys.readouterr().out
        assert Run.objects.count() == 2
        call_command("prune_expired")
    assert "deleted 1 runs" in capsys.readouterr().out
    assert list(Run.objects.values_list("pk", flat=True)) == history["new"]
