"""POST /api/v1/webhooks/zammad: signatures, limits, deduplication, and one transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from typing import Any

import pytest
from django.test import Client
from django_q.models import OrmQ

from apps.connectors.models import Connection, WebhookDelivery, WebhookRejection
from apps.connectors.zammad.webhook import end_rotation, rotate_secret
from apps.core.models import AuditEvent
from apps.sync.models import Run

URL = "/api/v1/webhooks/zammad"
SECRET = "zammad-webhook-secret"
PAYLOAD = {"article": {}, "ticket": {"id": 50, "number": "24050", "title": "Printer broken"}}


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def post(
    client: Client, body: bytes, signature: str | None = None, delivery: str = "d-1", **headers: str
) -> Any:
    sent = {"X-Zammad-Delivery": delivery, "X-Zammad-Trigger": "sync time accounting", **headers}
    if signature is not None:
        sent["X-Hub-Signature"] = signature
    return client.post(URL, body, content_type="application/json; charset=utf-8", headers=sent)


@pytest.fixture
def zammad(db: None) -> Connection:
    source = Connection.objects.create(
        kind="zammad", name="Zammad", base_url="http://127.0.0.1:9", token="t",
        webhook_secret=SECRET,
    )  # fmt: skip
    Connection.objects.create(kind="kimai", name="Kimai", base_url="http://127.0.0.1:9", token="t")
    return source


def body_of(payload: dict[str, Any] = PAYLOAD) -> bytes:
    return json.dumps(payload).encode()


def test_it_queues_a_ticket_sync_for_a_signed_delivery(client: Client, zammad: Connection) -> None:
    body = body_of()
    response = post(client, body, sign(body))
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.delivery_id, delivery.ticket_id, delivery.ticket_number) == (
        "d-1", "50", "24050",
    )  # fmt: skip
    run = Run.objects.get()
    assert (run.scope, run.ticket_id, run.trigger, run.actor) == (
        "ticket", "50", "webhook", "webhook",
    )  # fmt: skip
    assert delivery.run == run
    assert OrmQ.objects.count() == 1


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        (None, "no X-Hub-Signature"),
        ("md5=abc", "must start with sha1="),
        ("sha1=" + "0" * 40, "does not match"),
        ("sha1=not-hex", "does not match"),
    ],
)
def test_it_refuses_missing_malformed_and_wrong_signatures(
    client: Client, zammad: Connection, signature: str | None, reason: str
) -> None:
    response = post(client, body_of(), signature)
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert not WebhookDelivery.objects.exists() and not Run.objects.exists()
    counted = WebhookRejection.objects.get()
    assert (counted.count, counted.source) == (1, "127.0.0.1")
    assert reason in counted.last_reason


def test_it_refuses_a_tampered_body(client: Client, zammad: Connection) -> None:
    signature = sign(body_of())
    tampered = body_of({**PAYLOAD, "ticket": {"id": 51, "number": "24051"}})
    assert post(client, tampered, signature).status_code == 401
    assert not Run.objects.exists()


def test_it_refuses_everything_while_no_secret_is_configured(client: Client, db: None) -> None:
    Connection.objects.create(kind="zammad", name="Z", base_url="http://127.0.0.1:9", token="t")
    body = body_of()
    response = post(client, body, sign(body, "guess"))
    assert response.status_code == 401
    assert "no webhook secret" in response.json()["detail"]


def test_the_previous_secret_works_during_a_rotation_and_not_after(
    client: Client, zammad: Connection
) -> None:
    new = rotate_secret(zammad, "admin:1")
    body = body_of()
    assert post(client, body, sign(body), delivery="old").status_code == 202
    assert post(client, body, sign(body, new), delivery="new").status_code == 202
    end_rotation(zammad, "admin:1")
    assert post(client, body, sign(body), delivery="late").status_code == 401
    assert post(client, body, sign(body, new), delivery="later").status_code == 202


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "not JSON"), (b'{"article": {}}', "no ticket.id"), (b"[1]", "no ticket.id")],
)
def test_it_refuses_a_signed_body_that_names_no_ticket(
    client: Client, zammad: Connection, body: bytes, message: str
) -> None:
    response = post(client, body, sign(body))
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert not WebhookDelivery.objects.exists() and not Run.objects.exists()


def test_it_refuses_a_body_over_one_mebibyte_before_reading_it(
    client: Client, zammad: Connection
) -> None:
    body = b"x" * (1024 * 1024 + 1)  # not JSON: parsing it would say 400, checking it 401
    response = post(client, body, sign(body))
    assert response.status_code == 413
    assert WebhookRejection.objects.get().last_reason == "the body is too large"


def test_a_retried_delivery_is_recorded_once(client: Client, zammad: Connection) -> None:
    body = body_of()
    first = post(client, body, sign(body)).json()
    second = post(client, body, sign(body)).json()
    assert (first["status"], second["status"]) == ("queued", "duplicate")
    assert WebhookDelivery.objects.count() == 1 and Run.objects.count() == 1


def test_a_burst_for_one_ticket_coalesces_into_one_run(client: Client, zammad: Connection) -> None:
    body = body_of()
    outcomes = [post(client, body, sign(body), delivery=f"d-{i}").json() for i in range(5)]
    assert [o["status"] for o in outcomes] == ["queued"] + ["merged"] * 4
    assert WebhookDelivery.objects.count() == 5
    assert Run.objects.count() == 1 and OrmQ.objects.count() == 1


def test_an_error_after_queueing_leaves_neither_row(
    zammad: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_enqueue(run: Run) -> None:
        raise RuntimeError("the queue is gone")

    monkeypatch.setattr("apps.sync.services.enqueue_run", broken_enqueue)
    body = body_of()
    response = post(Client(raise_request_exception=False), body, sign(body))
    assert response.status_code == 500  # Zammad retries; nothing was recorded
    assert not WebhookDelivery.objects.exists()
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_eight_threads_posting_the_same_delivery_make_one_delivery_and_one_run() -> None:
    Connection.objects.create(
        kind="zammad", name="Zammad", base_url="http://127.0.0.1:9", token="t",
        webhook_secret=SECRET,
    )  # fmt: skip
    Connection.objects.create(kind="kimai", name="Kimai", base_url="http://127.0.0.1:9", token="t")
    body = body_of()
    statuses: list[int] = []
    start = threading.Barrier(8)

    def send() -> None:
        from django.db import connection

        start.wait()
        statuses.append(post(Client(), body, sign(body), delivery="storm").status_code)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [202] * 8
    assert WebhookDelivery.objects.count() == 1
    assert Run.objects.count() == 1


def test_it_only_accepts_post(client: Client, zammad: Connection) -> None:
    assert client.get(URL).status_code == 405


def test_the_settings_page_shows_the_url_and_a_new_token_once(
    admin_client: Client, zammad: Connection, settings: Any
) -> None:
    settings.PUBLIC_URL = "https://sync.example.com"
    html = admin_client.get("/settings/").content.decode()
    assert "https://sync.example.com/api/v1/webhooks/zammad" in html
    assert "Execution mode: <strong>Always</strong>" in html
    response = admin_client.post(
        f"/connectors/{zammad.pk}/webhook-secret/", headers={"HX-Request": "true"}
    )
    zammad.refresh_from_db()
    assert zammad.webhook_secret and zammad.webhook_secret in response.content.decode()
    assert zammad.webhook_previous_secret == SECRET
    assert zammad.webhook_secret not in admin_client.get("/settings/").content.decode()
    assert AuditEvent.objects.filter(action="webhook.secret.rotate").count() == 1


def test_the_settings_page_lists_recent_deliveries(
    admin_client: Client, client: Client, zammad: Connection
) -> None:
    body = body_of()
    post(client, body, sign(body))
    html = admin_client.get("/settings/").content.decode()
    assert "#24050" in html
    assert "ticket sync queued" in html
