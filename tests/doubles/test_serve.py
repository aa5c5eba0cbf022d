from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
from django.conf import settings


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
