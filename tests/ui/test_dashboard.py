from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.core.models import WorkerHeartbeat


@pytest.mark.django_db
def test_the_dashboard_shows_the_database_version_and_that_no_worker_runs(
    admin_client: Client,
) -> None:
    html = admin_client.get("/").content.decode()
    assert "PostgreSQL" in html
    assert "Not running" in html
    assert f"Version {settings.APP_VERSION}" in html


@pytest.mark.django_db
def test_the_dashboard_shows_a_live_worker(admin_client: Client) -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        name="h:1:c", host="worker-host", pid=4242, started_at=now, seen_at=now
    )
    html = admin_client.get("/").content.decode()
    assert "Alive" in html
    assert "worker-host (pid 4242)" in html


@pytest.mark.django_db
def test_the_dashboard_refreshes_its_health_cards_as_a_fragment(admin_client: Client) -> None:
    response = admin_client.get("/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="health"')
    assert "<nav" not in html


@pytest.mark.django_db
def test_the_navigation_links_only_pages_that_exist(admin_client: Client) -> None:
    html = admin_client.get("/").content.decode()
    assert 'href="/settings/"' in html
    assert "vendor/htmx-2.0.11.min.js" in html
    assert "X-CSRFToken" in html
