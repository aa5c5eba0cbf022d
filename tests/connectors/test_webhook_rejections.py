"""Refused webhook requests are counted per source and minute and rate limited, never stored
one row each: callers without the secret cannot grow a table."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client, override_settings

from apps.connectors.models import Connection, WebhookDelivery, WebhookRejection
from apps.connectors.rejections import count_rejection
from apps.core.models import AuditEvent
from apps.sync.models import Run
from tests.connectors.test_zammad_webhook import body_of, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def zammad() -> Connection:
    return Connection.objects.create(
        kind="zammad", name="Zammad", base_url="http://127.0.0.1:9", token="t",
        webhook_secret="the-secret",
    )  # fmt: skip


def _rows() -> int:
    return sum(
        model.objects.count() for model in (AuditEvent, WebhookRejection, WebhookDelivery, Run)
    )


@time_machine.travel("2026-03-06 10:00:05Z", tick=False)
def test_a_thousand_unsigned_posts_add_one_counter_row(client: Client, zammad: Connection) -> None:
    before = _rows()
    statuses = [post(client, body_of(), None, delivery=f"d-{n}").status_code for n in range(1000)]
    assert _rows() - before == 1
    counted = WebhookRejection.objects.get()
    assert (counted.source, counted.count) == ("127.0.0.1", 1000)
    assert statuses.count(401) == 30 and statuses.count(429) == 970


@override_settings(WEBHOOK_REJECTIONS_PER_MINUTE=3)
def test_a_source_over_the_limit_gets_429_with_retry_after_until_the_next_minute(
    client: Client, zammad: Connection
) -> None:
    with time_machine.travel("2026-03-06 10:00:45Z", tick=False):
        for _ in range(3):
            assert post(client, body_of(), None).status_code == 401
        refused = post(client, body_of(), None)
        assert refused.status_code == 429
        assert refused["Retry-After"] == "15"
        assert "try again in 15 s" in refused.json()["detail"]
    with time_machine.travel("2026-03-06 10:01:00Z", tick=False):
        assert post(client, body_of(), None).status_code == 401
    assert list(WebhookRejection.objects.order_by("minute").values_list("count", flat=True)) == [
        4, 1,
    ]  # fmt: skip


@override_settings(WEBHOOK_REJECTIONS_PER_MINUTE=1)
def test_another_source_is_not_limited_by_a_noisy_one(client: Client, zammad: Connection) -> None:
    count_rejection("203.0.113.9", "the request has no X-Hub-Signature header")
    count_rejection("203.0.113.9", "the request has no X-Hub-Signature header")
    assert post(client, body_of(), None).status_code == 401


def test_settings_and_the_dashboard_show_recent_refusals_with_why(
    admin_client: Client, zammad: Connection
) -> None:
    post(admin_client, body_of(), "sha1=" + "0" * 40)
    post(admin_client, body_of(), "sha1=" + "0" * 40)
    for page in ("/settings/", "/"):
        html = admin_client.get(page).content.decode()
        assert "Refused requests (last 24 hours)" in html
        assert "<code>127.0.0.1</code>" in html and "<td>2</td>" in html
        assert "the signature does not match the configured secret" in html
