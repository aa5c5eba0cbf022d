"""Without the zks-connector-jira package (its entry point hidden, as after `pip uninstall`) the
service keeps running, says where the Jira kind is missing, and a Jira pair's run fails with
that reason, sending nothing; installed again, the kind is back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from importlib import metadata

import pytest
from django.test import Client
from django.utils import timezone
from zks_connector_jira.connector import JiraConnector

from apps.connectors.models import Connection
from apps.connectors.registry import ENTRY_POINT_GROUP, forget_discovery
from apps.connectors.testkit import assert_follows_contract, assert_installed
from apps.core.models import WorkerHeartbeat
from apps.mappings.models import MappingProfile
from apps.sync.engine import execute_run
from apps.sync.models import Run
from apps.sync.services import request_run


@pytest.fixture
def uninstalled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every entry point but the Jira package's, as after `pip uninstall zks-connector-jira`."""
    real = metadata.entry_points

    def entry_points(*, group: str) -> metadata.EntryPoints:
        found = real(group=group)
        if group != ENTRY_POINT_GROUP:
            return found
        return metadata.EntryPoints(
            ep for ep in found if ep.value.split(".")[0] != "zks_connector_jira"
        )

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    forget_discovery()
    yield
    forget_discovery()


def _jira_pair() -> MappingProfile:
    jira = Connection.objects.create(
        kind="jira", name="Jira Cloud", base_url="http://127.0.0.1:9", token="t",
        settings={"deployment": "cloud", "email": "sync@example.com"},
    )  # fmt: skip
    kimai = Connection.objects.create(
        kind="kimai", name="Kimai", base_url="http://127.0.0.1:9", token="k"
    )
    return MappingProfile.objects.create(source=jira, target=kimai)


def test_the_jira_connector_follows_the_contract_and_is_installed() -> None:
    assert_follows_contract(JiraConnector)
    assert_installed("jira")


@pytest.mark.django_db
def test_without_the_package_the_service_is_ready_and_says_the_kind_is_missing(
    client: Client, admin_client: Client, uninstalled: None
) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(name="w", host="h", pid=1, started_at=now, seen_at=now)
    _jira_pair()

    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["connectors"]["detail"].endswith(
        "connection 'Jira Cloud' uses the kind 'jira', which is not installed"
    )
    page = admin_client.get("/connectors/").content.decode()
    assert "Jira · not installed" in page


@pytest.mark.django_db
def test_a_run_of_a_jira_pair_without_the_package_fails_saying_so(uninstalled: None) -> None:
    profile = _jira_pair()
    end = timezone.now()
    run, _ = request_run(profile, scope=Run.Scope.WINDOW, trigger=Run.Trigger.MANUAL,
                         actor="admin:1", enqueue=False, start=end - timedelta(days=7),
                         end=end)  # fmt: skip

    finished = execute_run(run.pk)
    assert finished is not None and finished.status == Run.Status.FAILED
    assert finished.error.startswith("The connector kind 'jira' is not installed")
    assert finished.requests_made == 0


@pytest.mark.django_db
def test_installed_again_the_kind_is_back(
    uninstalled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.undo()
    assert_installed("jira")
    assert Connection(kind="jira").kind_available
