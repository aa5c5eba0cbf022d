from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from apps.core.signals import worker_check
from config.embedded_db import database_url

PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 20
# A worker that dies is started again after this many seconds, longer each time in a row; once it
# has stayed up for STABLE_SECONDS, the next restart is quick again.
RESTART_BACKOFF_SECONDS = (1, 2, 4, 8, 16, 30, 60)
STABLE_SECONDS = 60
LISTEN_WAIT_SECONDS = 60
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}


def address_of(bind: str) -> tuple[str, int | None, bool]:
    """``host:port`` as gunicorn takes it → (host to connect to, port, every address?)."""
    if bind.startswith(("unix:", "fd://")):
        return bind, None, False
    host, _, port = bind.rpartition(":")
    every = host in WILDCARD_HOSTS
    connect_host = "127.0.0.1" if every else host.strip("[]")
    return connect_host, int(port) if port.isdigit() else None, every


def local_url(bind: str) -> str | None:
    host, port, _every = address_of(bind)
    if port is None:
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _die_with_parent() -> None:
    """Child setup: a new session (Ctrl-C reaches only us) and SIGTERM if we die (Linux)."""
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = (
        "Run the service: migrate, create the admin on first start, then serve HTTP and run a "
        "worker cluster together. Ctrl-C (or SIGTERM) stops all of it, the embedded "
        "PostgreSQL server included."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1:8000"))
        parser.add_argument("--without-worker", action="store_true")
        parser.add_argument("--without-web", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["without_worker"] and options["without_web"]:
            raise CommandError("Nothing to run: --without-worker and --without-web together")
        bind = options["bind"]
        call_command("bootstrap", address=local_url(bind), stdout=self.stdout, stderr=self.stderr)

        env = os.environ.copy()
        if not settings.DATABASE_URL:
            # Children reuse the embedded server this process owns; it stops when we exit.
            env["DATABASE_URL"] = database_url(settings.DATABASES["default"])
        manage = str(settings.BASE_DIR / "manage.py")
        commands: dict[str, list[str]] = {}
        if not options["without_web"]:
            commands["web"] = [
                sys.executable, "-m", "gunicorn", "config.wsgi:application",
                "--config", "python:config.gunicorn", "--bind", bind,
            ]  # fmt: skip
        if not options["without_worker"]:
            commands["worker"] = [sys.executable, manage, "worker"]

        stopping = False

        def request_stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)

        def start(name: str) -> subprocess.Popen[bytes]:
            cmd = commands[name]
            return subprocess.Popen(
                cmd, env=env, cwd=settings.BASE_DIR, preexec_fn=_die_with_parent
            )

        children = {name: start(name) for name in commands}
        worker = WorkerRestarts()
        exit_code = 0
        try:
            if "web" in children:
                self._announce(bind, children["web"], lambda: stopping)
            while not stopping:
                if "web" in children and children["web"].poll() is not None:
                    self.stderr.write("web exited unexpectedly; stopping.")
                    exit_code = 1
                    break
                if "worker" in children and worker.due(children["worker"], self.stderr.write):
                    children["worker"] = start("worker")
                time.sleep(0.3)
        finally:
            self._stop(children)
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)

    def _announce(
        self, bind: str, web: subprocess.Popen[bytes], stopping: Callable[[], bool]
    ) -> None:
        """Say where the service answers once it does: the address really bound, and for a
        wildcard bind the one to open on this machine and the public one."""
        host, port, every = address_of(bind)
        if port is None:
            self.stdout.write(self.style.SUCCESS(f"Serving on {bind} (Ctrl-C stops)."))
            return
        deadline = time.monotonic() + LISTEN_WAIT_SECONDS
        while not stopping() and web.poll() is None and time.monotonic() < deadline:
            try:
                with socket.create_connection((host, port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            if web.poll() is not None or time.monotonic() >= deadline:
                self.stderr.write(f"Nothing answers on {bind}: see the web server's log above.")
            return
        url = local_url(bind)
        if every:
            message = f"Serving on every address of this machine, port {port}: {url}/ here"
            public = settings.PUBLIC_URL
            message += f", {public}/ for others (PUBLIC_URL)." if public else "."
        else:
            message = f"Serving on {url}/"
            if settings.PUBLIC_URL and url != settings.PUBLIC_URL:
                message += f", reached as {settings.PUBLIC_URL}/ (PUBLIC_URL)"
            message += "."
        self.stdout.write(self.style.SUCCESS(f"{message} Ctrl-C stops."))

    def _stop(self, children: dict[str, subprocess.Popen[bytes]]) -> None:
        for process in children.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, process in children.items():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in {STOP_GRACE_SECONDS}s; killing it.")
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class WorkerRestarts:
    """Restarts a worker that died, with back-off, instead of stopping the service: the web
    keeps serving and webhooks keep queueing while the worker comes back."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.failures = 0
        self.restart_at: float | None = None

    def due(self, process: subprocess.Popen[bytes], say: Callable[[str], object]) -> bool:
        """Whether to start the worker again now (it died, and its back-off has passed)."""
        now = time.monotonic()
        if process.poll() is None:
            if now - self.started > STABLE_SECONDS:
                self.failures = 0
            return False
        if self.restart_at is None:
            # What the dead worker's cluster left running goes too (it shares its process
            # group), so its database sessions end and the locks of its runs are released.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            delay = RESTART_BACKOFF_SECONDS[min(self.failures, len(RESTART_BACKOFF_SECONDS) - 1)]
            self.failures += 1
            self.restart_at = now + delay
            say(f"worker exited with code {process.returncode}; starting it again in {delay} s.")
            # Runs the dead worker was doing are marked interrupted now, not when one restarts.
            close_old_connections()
            for receiver, outcome in worker_check.send_robust(sender=WorkerRestarts):
                if isinstance(outcome, Exception):
                    say(f"{receiver.__name__} failed: {outcome.__class__.__name__}: {outcome}")
            return False
        if now < self.restart_at:
            return False
        self.restart_at = None
        self.started = now
        return True
