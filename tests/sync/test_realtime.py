"""End to end: time booked in the Zammad double reaches the Kimai double through its signed
webhook, our endpoint and a worker process running as in production."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from pytest_django.live_server_helper import LiveServer

from apps.connectors.models import WebhookDelivery
from apps.connectors.zammad.webhook import rotate_secret
from tests.support.processes import child_env, start_manage, url_for_test_database, wait_for
from tests.sync.world import World


@pytest.mark.django_db(transaction=True)
def test_time_booked_in_zammad_reaches_kimai_through_the_signed_webhook(
    tx_world: World, live_server: LiveServer, tmp_path: Path
) -> None:
    world = tx_world
    world.run()  # the history is synced; now only the new booking is news
    secret = rotate_secret(world.zammad, "admin:1")
    world.served.zammad.webhook_retry_scale = 0.01
    world.served.zammad.configure_webhook(
        f"{live_server.url}/api/v1/webhooks/zammad", signature_token=secret
    )
    worker = start_manage(
        ["worker"], child_env(DATABASE_URL=url_for_test_database(), WORKER_HEARTBEAT_INTERVAL="1"),
        tmp_path / "worker.log",
    )  # fmt: skip
    try:
        wait_for(lambda: b"started" in (tmp_path / "worker.log").read_bytes(), 30, "the worker")
        ticket = world.dataset.tickets[0]
        emma = next(a for a in world.dataset.agents if a.kimai_username == "emma")
        entry = world.served.zammad.book_time(ticket.zammad_id, emma.zammad_id, "35", type_id=1)
        marker = f"zks-{world.zammad.pk}-{entry.id}-z"

        def in_kimai() -> bool:
            return any(marker in (s.description or "") for s in world.kimai_double.all_timesheets())

        # How fast is bench/webhook_bench.py's business; here only that it arrives, unasked.
        wait_for(in_kimai, 60, "the timesheet in Kimai")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    delivery = WebhookDelivery.objects.get()
    assert delivery.ticket_id == str(ticket.zammad_id)
    assert delivery.outcome == "queued"
    assert world.served.zammad.webhook_attempts[0].ok
