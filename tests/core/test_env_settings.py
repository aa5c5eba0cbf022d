from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_secret


def test_it_reads_booleans_in_the_usual_spellings() -> None:
    assert env_bool("X", environ={"X": "yes"}) is True
    assert env_bool("X", environ={"X": "0"}) is False
    assert env_bool("X", default=True, environ={}) is True


def test_it_names_the_variable_when_a_boolean_is_bad() -> None:
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env_bool("DEBUG", environ={"DEBUG": "maybe"})


def test_it_names_the_variable_when_an_integer_is_bad() -> None:
    with pytest.raises(ImproperlyConfigured, match="WEB_CONCURRENCY"):
        env_int("WEB_CONCURRENCY", 2, environ={"WEB_CONCURRENCY": "two"})
    with pytest.raises(ImproperlyConfigured, match="WORKERS must be at least 1"):
        env_int("WORKERS", 2, environ={"WORKERS": "0"}, minimum=1)


def test_it_reads_a_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    assert env_secret("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)}) == "s3cret"


def test_it_refuses_a_secret_given_twice_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY or SECRET_KEY_FILE"):
        env_secret("SECRET_KEY", environ={"SECRET_KEY": "a", "SECRET_KEY_FILE": "/x"})
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY_FILE"):
        env_secret("SECRET_KEY", environ={"SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_it_splits_lists() -> None:
    assert env_list("HOSTS", environ={"HOSTS": "a.example, b.example,"}) == [
        "a.example",
        "b.example",
    ]


def _import_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "DEBUG"))}
    base.update(env)
    # A DATABASE_URL that is never connected to: importing settings must not start a server.
    base.setdefault("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        env=base, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = _import_settings({"APP_ENV": "production", "ALLOWED_HOSTS": "sync.example"})
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_production_refuses_to_start_with_debug_on() -> None:
    result = _import_settings(
        {"APP_ENV": "production", "DEBUG": "1", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "a"}
    )
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_production_starts_with_a_secret_key_and_hosts() -> None:
    result = _import_settings(
        {"APP_ENV": "production", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "sync.example"}
    )
    assert result.returncode == 0, result.stderr


def test_a_local_run_generates_a_secret_key_once_and_keeps_it(tmp_path: Path) -> None:
    env = {"APP_ENV": "local", "DATA_DIR": str(tmp_path)}
    assert _import_settings(env).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert _import_settings(env).returncode == 0
    assert (tmp_path / "secret_key").read_text() == first
    assert len(first) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


def test_a_non_postgres_database_url_is_refused() -> None:
    result = _import_settings({"DATABASE_URL": "sqlite:///db.sqlite3"})
    assert result.returncode != 0
    assert "DATABASE_URL must be a postgres://" in result.stderr


def test_a_public_url_without_scheme_is_refused_by_name() -> None:
    result = _import_settings({"PUBLIC_URL": "sync.example.com"})
    assert result.returncode != 0
    assert "PUBLIC_URL must start with https:// or http://" in result.stderr
