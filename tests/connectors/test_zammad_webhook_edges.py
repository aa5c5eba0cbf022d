"""Webhook edges: chunked bodies are read as sent, over-long ids are refused, not cut."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client

from apps.connectors.models import Connection, WebhookDelivery, WebhookRejection
from apps.connectors.zammad.webhook import MAX_BODY_BYTES
from apps.core.models import AuditEvent
from tests.connectors.test_zammad_webhook import SECRET, URL, body_of, post, sign
from tests.support.processes import child_env, free_port, url_for_test_database, wait_for


def _zammad_with_secret() -> Connection:
    Connection.objects.create(kind="kimai", name="Kimai", base_url="http://127.0.0.1:9", token="t")
    return Connection.objects.create(
        kind="zammad", name="Zammad", base_url="http://127.0.0.1:9", token="t",
        webhook_secret=SECRET,
    )  # fmt: skip


def _post_chunked(client: Client, body: bytes, signature: str) -> object:
    """What a WSGI server hands over for `Transfer-Encoding: chunked`: no Content-Length."""
    environ: dict[str, Any] = {
        "CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(body)
    }  # fmt: skip
    return client.generic(
        "POST", URL, b"", content_type="application/json",
        headers={"X-Hub-Signature": signature, "X-Zammad-Delivery": "chunked-1"}, **environ,
    )  # fmt: skip


@pytest.mark.django_db
def test_a_signed_chunked_delivery_without_content_length_is_accepted(client: Client) -> None:
    _zammad_with_secret()
    body = body_of()
    response = _post_chunked(client, body, sign(body))
    assert response.status_code == 202  # type: ignore[attr-defined]
    assert WebhookDelivery.objects.get().delivery_id == "chunked-1"


@pytest.mark.django_db
def test_a_chunked_body_over_one_mebibyte_is_refused_with_413(client: Client) -> None:
    _zammad_with_secret()
    body = b'{"ticket": {"id": 50}, "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = _post_chunked(client, body, sign(body))
    assert response.status_code == 413  # type: ignore[attr-defined]
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_delivery_id_longer_than_stored_is_refused_not_cut(client: Client) -> None:
    _zammad_with_secret()
    body = body_of()
    long_id = "d" * 100 + "-second"
    response = post(client, body, sign(body), delivery=long_id)
    assert response.status_code == 400
    assert response.json() == {"detail": "X-Zammad-Delivery is longer than 100 characters"}
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_two_deliveries_sharing_the_first_hundred_characters_stay_two(client: Client) -> None:
    _zammad_with_secret()
    body = body_of()
    assert post(client, body, sign(body), delivery="d" * 100).status_code == 202
    assert post(client, body, sign(body), delivery="d" * 99 + "e").status_code == 202
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.django_db
def test_a_nul_byte_in_the_ticket_id_is_refused_with_400(client: Client) -> None:
    _zammad_with_secret()
    body = b'{"ticket": {"id": "50\\u0000"}}'
    response = post(client, body, sign(body))
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_an_unsigned_request_with_an_over_long_id_is_counted_without_it(client: Client) -> None:
    _zammad_with_secret()
    events = AuditEvent.objects.count()
    response = post(client, body_of(), None, delivery="x" * 500)
    assert response.status_code == 401
    assert "x" * 20 not in WebhookRejection.objects.get().last_reason
    assert AuditEvent.objects.count() == events


@pytest.fixture
def served_app(transactional_db: None, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = child_env(DATABASE_URL=url_for_test_database(), LOG_LEVEL="WARNING")
    with (tmp_path / "gunicorn.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application",
             "--config", "python:config.gunicorn", "--bind", f"127.0.0.1:{port}"],
            env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, 60, "gunicorn to answer")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gunicorn_accepts_a_signed_chunked_delivery(served_app: str) -> None:
    _zammad_with_secret()
    body = body_of()

    def chunks() -> Iterator[bytes]:
        yield body[:10]
        yield body[10:]

    response = httpx.post(
        f"{served_app}{URL}", content=chunks(), timeout=30,
        headers={"X-Hub-Signature": sign(body), "X-Zammad-Delivery": "over-gunicorn",
                 "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 202, response.text
    assert WebhookDelivery.objects.get().delivery_id == "over-gunicorn"
