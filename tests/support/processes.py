"""Helpers for tests that run our real commands as separate processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
from django.conf import settings
from django.db import connection

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def url_for_test_database(name: str | None = None) -> str:
    """A DATABASE_URL reaching the test database (or another on the same server)."""
    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    port = db.get("PORT") or 5432
    return f"postgres://{db['USER']}{password}@{host}:{port}/{name or db['NAME']}"


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("DATABASE_URL", None)
    # Set in-process for Playwright's event loop (tests/conftest.py); never for real processes.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(overrides)
    return env


def start_manage(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, MANAGE, *args],
            env=env, cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop_process_tree(process: subprocess.Popen[Any], grace: float = 30) -> None:
    """SIGTERM (a worker's cluster stops its own processes), then SIGKILL for whatever is left
    of it after ``grace`` seconds."""
    try:
        family = [process.pid, *(c.pid for c in psutil.Process(process.pid).children(True))]
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    for pid in family:
        with suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    process.wait(timeout=10)
