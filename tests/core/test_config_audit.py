"""Every configuration change is an audit event naming who made it; secrets never appear."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client

from apps.accounts.models import ApiKey
from apps.connectors.models import Connection
from apps.core import audit
from apps.core.models import AuditEvent
from apps.mappings.models import MappingProfile, Rule
from tests.support.servers import Served, served_doubles


@pytest.fixture
def servers() -> Iterator[Served]:
    with served_doubles() as served:
        yield served


@pytest.mark.django_db
def test_a_connection_made_through_the_api_is_audited_without_its_token(
    api_client: Client, api_key: tuple[ApiKey, str], servers: Served
) -> None:
    body = {"kind": "zammad", "name": "Z", "base_url": servers.zammad_url,
            "token": servers.dataset.zammad_token}  # fmt: skip
    api_client.post("/api/v1/connections", json.dumps(body), content_type="application/json")
    event = AuditEvent.objects.get(action="connection.create")
    assert event.actor == f"api-key:{api_key[0].prefix}"
    assert event.after is not None and event.after["name"] == "Z"
    assert event.after["token"] == "set"
    assert servers.dataset.zammad_token not in json.dumps(event.after)


@pytest.mark.django_db
def test_a_changed_token_is_recorded_as_changed_only(servers: Served) -> None:
    connection = Connection.objects.create(
        kind="zammad", name="Z", base_url=servers.zammad_url, token="first-secret-token"
    )
    connection.token = "second-secret-token"
    connection.name = "Zammad"
    connection.save()
    event = AuditEvent.objects.get(action="connection.update")
    assert event.before == {"name": "Z", "token": "previous"}
    assert event.after == {"name": "Zammad", "token": "changed"}
    assert "secret-token" not in json.dumps([event.before, event.after])


@pytest.mark.django_db
def test_a_connection_check_is_not_a_configuration_change(servers: Served) -> None:
    from apps.connectors.services import check_connection

    connection = Connection.objects.create(
        kind="zammad", name="Z", base_url=servers.zammad_url, token=servers.dataset.zammad_token
    )
    check_connection(connection)
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["connection.create"]


@pytest.mark.django_db
def test_rules_and_mappings_changed_by_the_admin_name_the_admin(admin_client: Client) -> None:
    zammad = Connection.objects.create(kind="zammad", name="Z", base_url="http://127.0.0.1:9",
                                       token="t")  # fmt: skip
    kimai = Connection.objects.create(kind="kimai", name="K", base_url="http://127.0.0.1:9",
                                      token="t")  # fmt: skip
    profile = MappingProfile.objects.create(source=zammad, target=kimai)
    token = audit.act_as("admin:7")
    try:
        rule = Rule.objects.create(profile=profile, position=1, name="All", project_id="1")
        rule.name = "Everything"
        rule.save()
        rule.delete()
    finally:
        audit.stop_acting(token)
    actions = list(
        AuditEvent.objects.filter(object_type="mappings.rule")
        .order_by("id")
        .values_list("action", "actor")
    )
    assert actions == [
        ("mappings.rule.create", "admin:7"),
        ("mappings.rule.update", "admin:7"),
        ("mappings.rule.delete", "admin:7"),
    ]


@pytest.mark.django_db
def test_api_keys_are_audited_when_created_and_revoked(admin_client: Client) -> None:
    admin_client.post("/settings/api-keys/", {"name": "n8n"})
    key = ApiKey.objects.get()
    admin_client.post(f"/settings/api-keys/{key.pk}/revoke/")
    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor"))
    assert [a for a, _ in events] == ["api_key.create", "api_key.revoke"]
    assert all(actor.startswith("admin:") for _, actor in events)
    created = AuditEvent.objects.get(action="api_key.create")
    assert created.after is not None and created.after["key_hash"] == "set"
