"""A signed webhook whose ticket id is not a Zammad ticket id gets a 400 with the reason and queues
nothing (its run could only fail, and would hold up the runs behind it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django_q.models import OrmQ

from apps.connectors.models import WebhookDelivery
from apps.sync.models import Run

# The signed-webhook helpers and the Zammad connection with a secret of the webhook tests.
from tests.connectors.test_zammad_webhook import post, sign, zammad  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("zammad")]


@pytest.mark.parametrize("ticket_id", ["abc", "12a", "-5", "0", "1.5", "٣", 1.5, [1], {"id": 1}])
def test_it_refuses_a_ticket_id_that_is_not_a_positive_number(
    client: Client, ticket_id: Any
) -> None:
    body = json.dumps({"ticket": {"id": ticket_id, "number": "24050"}}).encode()
    response = post(client, body, sign(body))
    assert response.status_code == 400
    assert "ticket.id" in response.json()["detail"]
    assert not WebhookDelivery.objects.exists()
    assert not Run.objects.exists() and not OrmQ.objects.exists()


@pytest.mark.parametrize("ticket_id", [50, "50", " 50 "])
def test_it_accepts_a_numeric_ticket_id_as_number_or_string(client: Client, ticket_id: Any) -> None:
    body = json.dumps({"ticket": {"id": ticket_id, "number": "24050"}}).encode()
    response = post(client, body, sign(body))
    assert response.status_code == 202
    assert Run.objects.get().ticket_id == "50"
