"""The run command, the worker and the embedded PostgreSQL server, as real processes."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from django.db import connection
from django.test import Client

from tests.support.processes import (
    child_env,
    free_port,
    start_manage,
    url_for_test_database,
    wait_for,
)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _processes_mentioning(text: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if text in cmdline:
            found.append(proc)
    return found


@pytest.mark.django_db(transaction=True)
def test_readyz_turns_200_while_a_real_worker_runs_and_503_after_it_stops(
    client: Client, tmp_path: Path
) -> None:
    env = child_env(DATABASE_URL=url_for_test_database(), WORKER_HEARTBEAT_INTERVAL="1")
    worker = start_manage(["worker"], env, tmp_path / "worker.log")
    try:
        wait_for(lambda: client.get("/readyz").status_code == 200, 60, "worker heartbeat")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]


def _run_and_stop(env: dict[str, str], log: Path, bind_host: str = "127.0.0.1") -> str:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = start_manage(["run", "--bind", f"{bind_host}:{port}"], env, log)
    try:
        wait_for(lambda: _ready(url), 90, "the service to become ready")
        login = httpx.get(f"{url}/accounts/login/", timeout=5)
        assert login.status_code == 200
        assert "Log in" in login.text
        assert httpx.get(f"{url}/", timeout=5).status_code == 302
    finally:
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0, log.read_text()
    return log.read_text().replace(str(port), "<port>")


def test_run_serves_on_embedded_postgres_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = child_env(DATA_DIR=str(data_dir), APP_ENV="local", WORKER_HEARTBEAT_INTERVAL="1")

    first = _run_and_stop(env, tmp_path / "first.log")
    # The addresses printed are the ones really bound, not a default port.
    login = "Log in at http://127.0.0.1:<port>/accounts/login/ with e-mail admin@example.com"
    assert login in first
    assert "Serving on http://127.0.0.1:<port>/. Ctrl-C stops." in first
    assert "Generated password" in first
    assert not (data_dir / "pgdata" / "postmaster.pid").exists(), "embedded PostgreSQL still runs"
    assert _processes_mentioning(str(data_dir)) == []

    second = _run_and_stop(env, tmp_path / "second.log")
    assert "Generated password" not in second, "the admin from the first run was lost"
    assert _processes_mentioning(str(data_dir)) == []


@pytest.mark.django_db(transaction=True)
def test_run_uses_the_database_named_by_database_url(tmp_path: Path) -> None:
    name = "zks_run_command_test"
    params = connection.get_connection_params()
    params.pop("dbname", None)
    params.pop("database", None)
    with psycopg.connect(**params, dbname="postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        env = child_env(
            DATABASE_URL=url_for_test_database(name),
            DATA_DIR=str(tmp_path / "unused"),
            ADMIN_EMAIL="ops@example.com",
            ADMIN_PASSWORD="a-long-enough-password-1",
            WORKER_HEARTBEAT_INTERVAL="1",
        )
        output = _run_and_stop(env, tmp_path / "run.log", bind_host="0.0.0.0")
        assert "with e-mail ops@example.com" in output
        assert "Serving on every address of this machine, port <port>: " in output
        assert "http://127.0.0.1:<port>/ here." in output
        assert "Generated password" not in output
        assert not (tmp_path / "unused" / "pgdata").exists()
        with psycopg.connect(**params, dbname=name) as conn:
            row = conn.execute("SELECT email FROM accounts_user").fetchone()
        assert row == ("ops@example.com",)
    finally:
        with psycopg.connect(**params, dbname="postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
