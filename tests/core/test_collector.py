"""The worker and `manage.py sync` run with the collector tuned for batch work."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command

from apps.core.collector import SWITCH_INTERVAL_SECONDS, YOUNG_THRESHOLD
from apps.core.management.commands import worker


@pytest.fixture
def collector() -> Iterator[None]:
    """This process's collector as it was, afterwards."""
    threshold, switch = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    sys.setswitchinterval(switch)


@pytest.mark.django_db
def test_the_sync_command_freezes_what_start_up_made_collects_less_often_and_switches_sooner(
    collector: None,
) -> None:
    with pytest.raises(CommandError):  # no pair set up: the command stops after tuning
        call_command("sync", "--incremental")
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_freeze_count() > 10_000  # Django and the apps, never scanned again
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)


def test_the_worker_tunes_it_before_its_cluster_forks(
    collector: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_migrated(timeout: float) -> None:
        raise CommandError("not migrated")

    monkeypatch.setattr(worker, "wait_until_migrated", not_migrated)
    with pytest.raises(CommandError, match="not migrated"):
        call_command("worker")
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 10_000
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)


def test_cycles_are_still_collected(collector: None) -> None:
    from apps.core.collector import tune_for_batch_work

    tune_for_batch_work()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2
