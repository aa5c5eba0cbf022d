"""Dockerfile, Compose and CI files are validated here, and their commands run outside a container.

No Docker engine runs on the machines that test this project, so we lint the Dockerfile with
hadolint, validate Compose, GitHub workflow and Dependabot files against their JSON schemas, and
start the exact web and worker commands of compose.yml with the production settings.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client
from ruamel.yaml import YAML

from tests.support.processes import child_env, free_port, url_for_test_database, wait_for

ROOT = Path(settings.BASE_DIR)
BIN = Path(sys.executable).parent
PRODUCTION_ENV = {
    "APP_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_COOKIES": "false",
}


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=120, env=child_env(**env)
    )


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((ROOT / "compose.yml").read_text())
    return data


def test_the_dockerfile_passes_hadolint() -> None:
    result = _run(str(BIN / "hadolint"), "docker/Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ("vendor.compose-spec", "compose.yml"),
        ("vendor.github-workflows", ".github/workflows/ci.yml"),
        ("vendor.github-workflows", ".github/workflows/release.yml"),
        ("vendor.dependabot", ".github/dependabot.yml"),
        ("vendor.github-issue-forms", ".github/ISSUE_TEMPLATE/bug.yml"),
        ("vendor.github-issue-forms", ".github/ISSUE_TEMPLATE/feature.yml"),
    ],
)
def test_the_file_matches_its_schema(schema: str, path: str) -> None:
    result = _run(str(BIN / "check-jsonschema"), "--builtin-schema", schema, path)
    assert result.returncode == 0, result.stdout + result.stderr


def _yaml(path: str) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((ROOT / path).read_text())
    return data


def test_compose_runs_web_worker_and_postgres_from_one_image() -> None:
    services = _compose()["services"]
    assert {name for name, s in services.items() if not s.get("profiles")} == {
        "db", "web", "worker"
    }  # fmt: skip
    assert services["web"]["image"] == services["worker"]["image"]
    assert services["worker"]["command"][:3] == ["python", "manage.py", "worker"]


def test_the_worker_starts_after_the_web_container_migrated_and_waits_itself_too() -> None:
    worker = _compose()["services"]["worker"]
    assert worker["depends_on"]["web"] == {"condition": "service_healthy"}
    assert worker["command"][3:] == ["--wait", "600"]


def test_the_worker_service_can_be_scaled() -> None:
    services = _compose()["services"]
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert services["db"]["command"] == [
        "postgres", "-c", "max_connections=${POSTGRES_MAX_CONNECTIONS:-200}"
    ]  # fmt: skip


def test_the_demo_profile_adds_the_doubles_with_the_pair_from_the_same_image() -> None:
    services = _compose()["services"]
    doubles = services["doubles"]
    assert doubles["profiles"] == ["demo"]
    assert doubles["image"] == services["web"]["image"]
    assert doubles["command"][:3] == ["python", "-m", "tests.doubles.serve"]
    assert {"--configure-pair", "--on-network", "--reach-as=doubles"} <= set(doubles["command"])
    assert "ports" not in doubles  # reachable from the service only, on the Compose network


def test_compose_pulls_the_name_the_release_workflow_pushes() -> None:
    image = _compose()["services"]["web"]["image"]
    default = image.split(":-", 1)[1].split("}", 1)[0]
    release = _yaml(".github/workflows/release.yml")
    meta = next(s for s in release["jobs"]["image"]["steps"] if s.get("id") == "meta")
    assert meta["with"]["images"] == default


def test_a_pre_release_tag_never_becomes_latest() -> None:
    release = _yaml(".github/workflows/release.yml")
    meta = next(s for s in release["jobs"]["image"]["steps"] if s.get("id") == "meta")
    assert meta["with"]["flavor"].split() == ["latest=false"]
    tags = meta["with"]["tags"].splitlines()
    latest = [t for t in tags if "value=latest" in t]
    assert latest == ["type=raw,value=latest,enable=${{ !contains(github.ref_name, '-') }}"]
    moving = [t for t in tags if "{{major}}" in t]
    assert all("enable=${{ !contains(github.ref_name, '-') }}" in t for t in moving)


def test_dependabot_watches_the_lock_files_that_are_installed() -> None:
    """The Makefile and the image install requirements/*.txt: Dependabot's pip ecosystem reads
    compiled requirements files there (not *.lock), from the repository root."""
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "docker/Dockerfile").read_text()
    assert "LOCK := requirements/dev.txt" in makefile
    assert "COPY requirements/prod.txt" in dockerfile
    for lock in ("requirements/dev.txt", "requirements/prod.txt"):
        header = (ROOT / lock).read_text().splitlines()[1]
        assert header.strip().startswith("#    uv pip compile pyproject.toml")
        assert header.endswith(f"-o {lock}")
    updates = _yaml(".github/dependabot.yml")["updates"]
    pip = next(u for u in updates if u["package-ecosystem"] == "pip")
    assert pip["directory"] == "/"
    assert {u["package-ecosystem"] for u in updates} == {"pip", "github-actions", "docker"}


def test_the_image_collects_static_files_with_production_settings(tmp_path: Path) -> None:
    result = _run(
        sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0",
        **PRODUCTION_ENV, STATIC_ROOT=str(tmp_path),
        DATABASE_URL="postgres://placeholder@localhost:5432/placeholder",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "staticfiles.json").exists()
    assert list(tmp_path.glob("ui/app.*.css"))


def test_the_deploy_checklist_is_clean_with_production_settings() -> None:
    result = _run(
        sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        **{**PRODUCTION_ENV, "SECURE_COOKIES": "true", "SECURE_SSL_REDIRECT": "true"},
        DATABASE_URL="postgres://placeholder@localhost:5432/placeholder",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db(transaction=True)
def test_the_compose_web_and_worker_commands_serve_with_production_settings(
    client: Client, tmp_path: Path
) -> None:
    services = _compose()["services"]
    port = free_port()
    static_root = tmp_path / "static"
    env = child_env(
        **PRODUCTION_ENV,
        DATABASE_URL=url_for_test_database(),
        BIND=f"127.0.0.1:{port}",
        STATIC_ROOT=str(static_root),
        WORKER_HEARTBEAT_INTERVAL="1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, timeout=120,
    )  # fmt: skip
    processes = []
    for name in ("web", "worker"):
        command = services[name]["command"]
        assert command[:2] == ["python", "manage.py"]
        processes.append(
            subprocess.Popen(
                [sys.executable, *command[1:]], cwd=ROOT, env=env,
                stdout=(tmp_path / f"{name}.log").open("wb"), stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, 90, "web and worker to be ready")
        login = httpx.get(f"{base}/accounts/login/", timeout=5)
        assert login.status_code == 200
        css = next(static_root.glob("ui/app.*.css")).name
        assert css in login.text, "production pages must link the hashed static file"
        assert httpx.get(f"{base}/static/ui/{css}", timeout=5).status_code == 200
        assert "default-src 'self'" in login.headers["Content-Security-Policy"]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            assert process.wait(timeout=60) == 0


def test_the_image_installs_each_connector_package_with_its_entry_point(tmp_path: Path) -> None:
    """The image's plugin step installs every package of plugins/ (its build is the wheel pip
    makes here, without the network); each declares its connector in the entry-point group."""
    dockerfile = (ROOT / "docker/Dockerfile").read_text()
    assert "COPY plugins /src/plugins" in dockerfile
    assert 'for plugin in /src/plugins/*/; do /opt/venv/bin/pip install --no-deps "$plugin"' in (
        dockerfile
    )
    plugins = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    assert plugins, "no connector package in plugins/"
    wheels = tmp_path / "wheels"
    for plugin in plugins:
        source = shutil.copytree(plugin, tmp_path / "src" / plugin.name)  # builds leave build/
        result = _run(
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
            "--disable-pip-version-check", "--wheel-dir", str(wheels), str(source),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
            assert "[zammad_kimai_sync.connectors]" in archive.read(points).decode()
    assert len(list(wheels.glob("*.whl"))) == len(plugins)
