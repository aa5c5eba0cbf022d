"""A broken plugin or an uninstalled kind is said where people look, and stops nothing else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from apps.connectors.models import Connection
from apps.core.models import WorkerHeartbeat
from tests.connectors.plugins import FakeEnvironment, good_source

BROKEN = "could not be imported: ModuleNotFoundError: No module named 'jira_sdk_missing'"


@pytest.fixture
def broken_plugin(environment: FakeEnvironment) -> FakeEnvironment:
    environment.install_this_project()
    environment.install(
        "zks-connector-jira", "0.3.0", {"jira": "zks_jira_gone.connector:JiraConnector"},
        zks_jira_gone__connector="import jira_sdk_missing\n",
    )  # fmt: skip
    return environment


def _jira_connection() -> Connection:
    return Connection.objects.create(
        kind="jira", name="Jira Cloud", base_url="https://acme.atlassian.net", token="secret-t"
    )


@pytest.mark.django_db
def test_the_connectors_page_reports_a_plugin_that_did_not_load(
    admin_client: Client, broken_plugin: FakeEnvironment
) -> None:
    response = admin_client.get("/connectors/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 connector plugin could not be loaded" in html
    assert "<strong>jira</strong> from zks-connector-jira 0.3.0" in html
    assert BROKEN.replace("'", "&#x27;") in html
    assert "Add Zammad connection" in html and "Add Kimai connection" in html
    assert "Add Jira connection" not in html


@pytest.mark.django_db
def test_a_connection_whose_kind_is_missing_says_so_on_the_connectors_page(
    admin_client: Client, broken_plugin: FakeEnvironment
) -> None:
    connection = _jira_connection()

    html = admin_client.get("/connectors/").content.decode()
    assert "Jira · not installed" in html
    assert "Nothing syncs through this connection until its kind is installed again" in html
    check = admin_client.post(f"/connectors/{connection.pk}/test/")
    assert check.status_code == 409
    assert "could not be loaded" in check.content.decode()
    connection.refresh_from_db()
    assert connection.last_checked is None


@pytest.mark.django_db
def test_readyz_reports_plugins_and_stranded_connections_without_failing(
    client: Client, broken_plugin: FakeEnvironment
) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(name="w", host="h", pid=1, started_at=now, seen_at=now)
    _jira_connection()

    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200
    assert (body["failing"], body["warnings"]) == ([], ["connectors"])
    assert body["checks"]["connectors"] == {
        "ok": False,
        "detail": "kimai (built in); zammad (built in); "
        f"not loaded: jira (zks-connector-jira 0.3.0): {BROKEN}; "
        "connection 'Jira Cloud' uses the kind 'jira', which is not installed",
    }


@pytest.mark.django_db
def test_the_api_lists_a_connection_whose_kind_is_missing_and_refuses_to_test_it(
    api_client: Client, broken_plugin: FakeEnvironment
) -> None:
    connection = _jira_connection()

    listed = api_client.get("/api/v1/connections").json()
    assert [(c["kind"], c["kind_available"], c["role"]) for c in listed] == [("jira", False, None)]
    assert listed[0]["kind_problem"].startswith("The connector kind 'jira' could not be loaded")
    tested = api_client.post(f"/api/v1/connections/{connection.pk}/test")
    assert tested.status_code == 409
    assert tested.json()["detail"].endswith(BROKEN)


NEEDS_EMAIL = """
from pydantic import model_validator

class StrictSettings(AcmeSettings):
    email: str = Field(default="", title="E-mail", description="The token's account.")

    @model_validator(mode="after")
    def _needs_email(self):
        if not self.email:
            raise ValueError("Acme needs the e-mail address of the token's account")
        return self

AcmeConnector.settings_model = StrictSettings
"""


@pytest.mark.django_db
def test_the_form_of_a_plugin_whose_defaults_need_a_value_shows_its_settings(
    admin_client: Client, environment: FakeEnvironment
) -> None:
    environment.install(
        "zks-connector-acme", "1.0", {"acme": "zks_acme_strict.connector:AcmeConnector"},
        zks_acme_strict__connector=good_source("Acme", "acme") + NEEDS_EMAIL,
    )  # fmt: skip

    response = admin_client.get("/connectors/new/acme/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="settings.email"' in html and 'name="settings.page_size"' in html


@pytest.mark.django_db
def test_the_dashboard_says_a_connections_kind_is_missing_despite_its_last_good_check(
    admin_client: Client, broken_plugin: FakeEnvironment
) -> None:
    connection = _jira_connection()
    Connection.objects.filter(pk=connection.pk).update(
        last_checked=timezone.now(), last_check={"ok": True, "version": "10.3"}, last_error=""
    )

    html = admin_client.get("/").content.decode()
    assert '<strong>Jira Cloud</strong> <span class="muted small">Jira</span>' in html
    assert "The connector kind &#x27;jira&#x27; could not be loaded" in html
    assert "works, version 10.3" not in html
