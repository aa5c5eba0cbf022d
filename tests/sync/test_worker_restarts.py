"""When the worker dies, `manage.py run` starts it again (with back-off) instead of stopping the
service, and the run the dead worker was doing is marked interrupted at once. Real processes."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest

from apps.connectors.models import Connection
from apps.core.models import WorkerHeartbeat
from apps.mappings.models import MappingProfile
from apps.sync.models import Run
from tests.support.processes import child_env, start_manage, url_for_test_database, wait_for


def _workers(run_pid: int) -> list[psutil.Process]:
    return [
        child
        for child in psutil.Process(run_pid).children()
        if "worker" in " ".join(child.cmdline())
    ]


@pytest.mark.django_db(transaction=True)
def test_run_restarts_a_killed_worker_and_marks_its_run_interrupted(tmp_path: Path) -> None:
    zammad = Connection.objects.create(kind="zammad", name="Z", base_url="http://127.0.0.1:9",
                                       token="t")  # fmt: skip
    kimai = Connection.objects.create(kind="kimai", name="K", base_url="http://127.0.0.1:9",
                                      token="t")  # fmt: skip
    profile = MappingProfile.objects.create(source=zammad, target=kimai)
    env = child_env(DATABASE_URL=url_for_test_database(), WORKER_HEARTBEAT_INTERVAL="1")
    log = tmp_path / "run.log"
    service = start_manage(["run", "--without-web"], env, log)
    try:
        wait_for(lambda: WorkerHeartbeat.objects.exists(), 90, "the first worker's heartbeat")
        [first] = _workers(service.pid)
        run = Run.objects.create(
            profile=profile, trigger="webhook", actor="webhook", scope="ticket", ticket_id="50",
            coalesce_key="ticket:real:50", status=Run.Status.RUNNING,
        )  # fmt: skip
        first.send_signal(signal.SIGKILL)
        wait_for(
            lambda: Run.objects.get(pk=run.pk).status == Run.Status.INTERRUPTED,
            15, "the dead worker's run to be marked interrupted",
        )  # fmt: skip
        wait_for(
            lambda: [w.pid for w in _workers(service.pid)] not in ([], [first.pid]),
            30, "a new worker",
        )  # fmt: skip
        assert service.poll() is None, log.read_text()
        assert "worker exited with code -9; starting it again in 1 s." in log.read_text()
    finally:
        service.send_signal(signal.SIGINT)
        assert service.wait(timeout=60) == 0, log.read_text()
