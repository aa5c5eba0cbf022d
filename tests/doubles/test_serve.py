from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest
from django.conf import settings

from apps.gdpr.models import Person
from apps.mappings.models import MappingProfile, Rule
from tests.doubles.dataset import demo_dataset
from tests.support.processes import child_env, url_for_test_database


def test_it_serves_both_doubles_with_the_demo_data_until_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.serve", "--zammad-port", "0", "--kimai-port", "0"],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        zammad_url = re.search(r"(http://127\.0\.0\.1:\d+)", lines[0]).group(1)  # type: ignore[union-attr]
        kimai_url = re.search(r"(http://127\.0\.0\.1:\d+)", lines[1]).group(1)  # type: ignore[union-attr]
        me = httpx.get(
            f"{zammad_url}/api/v1/users/me",
            headers={"Authorization": "Token token=zammad-demo-token"},
        )
        assert me.json()["login"] == "sync@example.com"
        version = httpx.get(
            f"{kimai_url}/api/version", headers={"Authorization": "Bearer kimai-demo-token"}
        )
        assert version.json()["version"].startswith("2.")
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_it_adds_a_jira_double_on_request_after_the_usual_lines() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.serve", "--zammad-port", "0", "--kimai-port", "0",
         "--jira-port", "0"],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("Zammad double:") and lines[1].startswith("Kimai double:")
        jira_url = re.search(r"(http://127\.0\.0\.1:\d+)", lines[3]).group(1)  # type: ignore[union-attr]
        me = httpx.get(
            f"{jira_url}/rest/api/3/myself", auth=("sync@example.com", "jira-demo-token")
        )
        assert me.json()["displayName"] == "Time Sync"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


@pytest.mark.django_db(transaction=True)
def test_it_sets_up_the_demo_pair_in_the_database_once_it_is_migrated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.serve", "--zammad-port", "0", "--kimai-port", "0",
         "--configure-pair"],
        cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True,
        env=child_env(DATABASE_URL=url_for_test_database()),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        # Read up to the readiness line: log lines (structlog writes to stdout) may come between
        # the banner and it, e.g. the connection check's concurrency changes on a loaded machine.
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Demo pair ready"):
                break
        assert lines and lines[-1].strip() == "Demo pair ready: Demo Zammad → Demo Kimai.", lines
        profile = MappingProfile.objects.select_related("source", "target").get()
        assert (profile.source.name, profile.target.name) == ("Demo Zammad", "Demo Kimai")
        assert profile.source.last_check is not None and profile.source.last_check["ok"]
        assert [r.name for r in Rule.objects.order_by("position")] == [
            "Awesome", "Globex", "Initech", "Umbrella", "Everything else",
        ]  # fmt: skip
        booked = {e.agent_id for e in demo_dataset(weeks=4).entries}  # agents found by refresh
        assert Person.objects.filter(connection=profile.source, kind="agent").count() == len(booked)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_it_listens_off_loopback_only_when_asked_for_the_demo_network() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.doubles.serve", "--zammad-port", "0", "--kimai-port", "0",
         "--host", "0.0.0.0"],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "test doubles only listen on loopback" in result.stderr
