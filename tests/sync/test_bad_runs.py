"""One bad run stops nothing else: bad requests are refused before anything is queued, a crashing
run fails alone while the queue behind it goes on, and a dead worker's run is marked interrupted."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from apps.core.signals import worker_check
from apps.sync import engine
from apps.sync.locks import profile_lock
from apps.sync.models import Run
from apps.sync.services import request_run
from tests.sync.world import World


def queue(world: World, ticket_id: str) -> Run:
    run, _ = request_run(
        world.profile, scope=Run.Scope.TICKET, trigger=Run.Trigger.WEBHOOK, actor="webhook",
        ticket_id=ticket_id, enqueue=False,
    )  # fmt: skip
    return run


@pytest.mark.django_db
def test_the_api_refuses_a_ticket_run_for_a_ticket_id_that_is_no_number(
    api_client: Client, world: World
) -> None:
    response = api_client.post(
        "/api/v1/sync/runs", {"scope": "ticket", "ticket_id": "#24050"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 422
    assert "ticket id is a whole number" in response.json()["detail"]
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_a_crashing_run_fails_alone_and_the_runs_behind_it_go_on_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tickets = [t.zammad_id for t in world.dataset.tickets[:3]]
    first, crashing, last = (queue(world, str(t)) for t in tickets)
    real_execute = engine.SyncJob.execute

    def execute(job: engine.SyncJob) -> dict[str, int]:
        if job.run.pk == crashing.pk:
            raise ValueError("invalid literal for int() with base 10: 'abc'")
        return real_execute(job)

    monkeypatch.setattr(engine.SyncJob, "execute", execute)
    engine.execute_run(first.pk)  # the worker's task for the first; it drains the queue
    for run in (first, crashing, last):
        run.refresh_from_db()
    assert (first.status, last.status) == (Run.Status.SUCCEEDED, Run.Status.SUCCEEDED)
    assert crashing.status == Run.Status.FAILED
    assert (
        crashing.error
        == "Internal error: ValueError: invalid literal for int() with base 10: 'abc'"
    )


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_died_is_marked_interrupted_at_the_next_check(
    tx_world: World,
) -> None:
    run = queue(tx_world, "50")
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)  # its worker was killed
    worker_check.send_robust(sender=None)  # what a (re)started worker or `run` sends at once
    run.refresh_from_db()
    assert run.status == Run.Status.INTERRUPTED
    assert run.error.startswith("Interrupted: the worker stopped during the run.")


@pytest.mark.django_db(transaction=True)
def test_a_run_still_holding_its_lock_is_not_marked(tx_world: World) -> None:
    run = queue(tx_world, "50")
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    holding, release = threading.Event(), threading.Event()

    def worker_still_running() -> None:
        with profile_lock(tx_world.profile.pk):
            holding.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=worker_still_running)
    thread.start()
    try:
        assert holding.wait(10)
        worker_check.send_robust(sender=None)
        run.refresh_from_db()
        assert run.status == Run.Status.RUNNING
    finally:
        release.set()
        thread.join()
