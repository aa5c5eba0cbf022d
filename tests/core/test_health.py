from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.models import WorkerHeartbeat


def test_healthz_answers_without_login(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_503_naming_the_worker_when_no_worker_runs(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"] == {"ok": True, "detail": "all applied"}


@pytest.mark.django_db
def test_readyz_ignores_a_stale_heartbeat(client: Client) -> None:
    old = timezone.now() - timedelta(minutes=5)
    WorkerHeartbeat.objects.create(name="w", host="h", pid=1, started_at=old, seen_at=old)
    assert client.get("/readyz").json()["failing"] == ["worker"]


@pytest.mark.django_db
def test_readyz_is_200_with_a_fresh_heartbeat(client: Client) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(name="w", host="h", pid=1, started_at=now, seen_at=now)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
