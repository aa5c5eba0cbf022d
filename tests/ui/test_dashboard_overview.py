"""The dashboard: runs, open conflicts, hours synced per day, connections, webhook deliveries."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_q.models import Schedule

from apps.connectors.models import Connection, WebhookDelivery
from apps.core.models import AuditEvent
from apps.mappings.models import MappingProfile
from apps.sync.models import Conflict, Run, SyncSettings
from apps.sync.schedules import apply_schedule
from apps.ui.dashboard import hours_chart

NOW = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)


@pytest.fixture
def pair(db: None) -> MappingProfile:
    zammad = Connection.objects.create(
        kind="zammad", name="Zammad", base_url="http://127.0.0.1:9", token="z"
    )
    kimai = Connection.objects.create(
        kind="kimai", name="Kimai", base_url="http://127.0.0.1:9", token="k"
    )
    return MappingProfile.objects.create(source=zammad, target=kimai)


def _written(
    at: datetime,
    minutes: int,
    action: str = "kimai.timesheet.create",
    begin: datetime | None = None,
) -> AuditEvent:
    """A timesheet written at ``at``; the work began ``begin`` (by default, just before)."""
    begin = begin or at - timedelta(minutes=minutes)
    return AuditEvent(
        at=at, actor="schedule", action=action, object_type="kimai.timesheet",
        object_id="1", after={"duration_seconds": minutes * 60, "begin": begin.isoformat()},
    )  # fmt: skip


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_it_shows_the_last_run_and_the_next_scheduled_ones(
    admin_client: Client, pair: MappingProfile
) -> None:
    Run.objects.create(
        profile=pair, trigger="schedule", actor="schedule", scope="incremental",
        coalesce_key="x", status="succeeded", counts={"create": 3, "conflict": 1},
        created_at=NOW - timedelta(minutes=5), finished_at=NOW - timedelta(minutes=4),
    )  # fmt: skip
    settings, _ = SyncSettings.objects.update_or_create(
        profile=pair, defaults={"incremental_every_minutes": 15, "schedule_enabled": True}
    )
    apply_schedule(settings)
    html = admin_client.get("/").content.decode()
    assert "3 create, 1 conflict" in html
    assert "Changes since the last run (every 15 minutes)" in html
    nightly = Schedule.objects.get(name=f"zks-full-{pair.pk}").next_run
    assert f'<time datetime="{nightly.isoformat()}">2026-03-07 02:00 UTC</time>' in html
    assert "They start once a worker runs." in html


@pytest.mark.django_db
def test_it_counts_open_conflicts_by_kind_with_links(
    admin_client: Client, pair: MappingProfile
) -> None:
    Conflict.objects.bulk_create(
        [Conflict(profile=pair, source_id=str(i), kind="unmapped_user", reason="r")
         for i in range(3)]
        + [Conflict(profile=pair, source_id="9", kind="locked", reason="r")]
        + [Conflict(profile=pair, source_id="10", kind="locked", reason="r", status="skipped")]
    )  # fmt: skip
    html = admin_client.get("/").content.decode()
    assert "4 waiting for a decision" in html
    assert (
        '<a href="/sync/conflicts/?kind=unmapped_user"><strong>3</strong> agent without Kimai'
        in html
    )
    assert '<a href="/sync/conflicts/?kind=locked"><strong>1</strong> locked in Kimai' in html


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_chart_draws_hours_created_and_updated_per_day(db: None) -> None:
    AuditEvent.objects.bulk_create(
        [
            _written(NOW - timedelta(hours=2), 90),
            _written(NOW - timedelta(hours=3), 30),
            _written(NOW - timedelta(hours=4), 60, "kimai.timesheet.update"),
            _written(NOW - timedelta(days=2), 120),
            _written(NOW - timedelta(days=40), 600),  # outside the 30 days
            _written(NOW, 45, "kimai.timesheet.adopt"),  # nothing written
        ]
    )
    chart = hours_chart(mode="written")
    assert len(chart.bars) == 30
    today, two_days_ago = chart.bars[-1], chart.bars[-3]
    assert (today.day, today.created_hours, today.updated_hours) == (date(2026, 3, 6), 2.0, 1.0)
    assert two_days_ago.created_hours == 2.0
    assert chart.top == 4.0
    assert (today.created_height, today.updated_height) == (50.0, 25.0)
    assert (chart.total_created, chart.total_updated) == (4.0, 1.0)


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_backfill_counts_on_the_days_the_work_was_done_unless_switched_to_days_written(
    admin_client: Client,
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    work = [datetime(2026, 2, day, 0, 30, tzinfo=berlin) for day in (10, 11, 12)]
    AuditEvent.objects.bulk_create([_written(NOW, 60, begin=begin) for begin in work])
    worked = hours_chart()
    # The day in the Kimai user's zone, as Kimai shows it (00:30 in Berlin is the day before
    # in UTC).
    days = {b.day: b.created_hours for b in worked.bars if b.hours}
    assert days == {date(2026, 2, 10): 1.0, date(2026, 2, 11): 1.0, date(2026, 2, 12): 1.0}
    written = hours_chart(mode="written")
    assert {b.day: b.created_hours for b in written.bars if b.hours} == {date(2026, 3, 6): 3.0}
    page = admin_client.get("/").content.decode()
    assert "by the day the work was done" in page
    assert '<a href="?chart=written" hx-get="?chart=written" hx-target="#chart"' in page
    fragment = admin_client.get(
        "/?chart=written", headers={"HX-Request": "true", "HX-Target": "chart"}
    )
    html = fragment.content.decode()
    assert html.lstrip().startswith('<section class="panel chart-panel" id="chart"')
    assert "by the day it was written to Kimai (UTC)" in html


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_the_chart_is_an_inline_svg_with_a_title_per_day(admin_client: Client) -> None:
    AuditEvent.objects.bulk_create([_written(NOW - timedelta(hours=1), 150)])
    html = admin_client.get("/").content.decode()
    assert '<svg class="chart-svg" viewBox="0 0 300 100"' in html
    assert "<title>Fri, Mar 06: 2.50 h created</title>" in html
    assert "2.5 h created" in html
    assert "<script" not in html.split("<svg")[1].split("</svg>")[0]


@pytest.mark.django_db
def test_without_writes_the_chart_says_so(admin_client: Client) -> None:
    html = admin_client.get("/").content.decode()
    assert "No work done in the last 30 days was written to Kimai." in html


@pytest.mark.django_db
def test_it_shows_each_connections_health(admin_client: Client, pair: MappingProfile) -> None:
    Connection.objects.filter(kind="kimai").update(
        last_checked=NOW, last_check={"ok": True, "version": "2.66.0"}
    )
    Connection.objects.filter(kind="zammad").update(
        last_checked=NOW, last_check={"ok": False}, last_error="The token was refused (401)."
    )
    html = admin_client.get("/").content.decode()
    assert re.search(r"healthy</span> <strong>Kimai</strong>.*?works, version 2\.66\.0", html, re.S)
    assert re.search(r"failing</span> <strong>Zammad</strong>.*?The token was refused", html, re.S)


@pytest.mark.django_db
def test_it_lists_the_last_ten_webhook_deliveries(
    admin_client: Client, pair: MappingProfile
) -> None:
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                connection=pair.source,
                delivery_id=f"d{i}",
                ticket_id="55",
                ticket_number=str(24000 + i),
                received_at=NOW + timedelta(minutes=i),
                outcome="queued",
            )  # fmt: skip
            for i in range(12)
        ]
    )
    html = admin_client.get("/").content.decode()
    shown = re.findall(r"<td>#(\d+)", html)
    assert shown == [str(24000 + i) for i in range(11, 1, -1)]
    assert "ticket sync queued" in html


@pytest.mark.django_db
def test_the_dashboard_costs_the_same_queries_with_much_history(
    admin_client: Client, pair: MappingProfile
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get("/").status_code == 200
        return len(captured.captured_queries)

    few = queries()
    now = datetime.now(UTC)
    AuditEvent.objects.bulk_create(
        [_written(now - timedelta(minutes=17 * i), 20) for i in range(20_000)], batch_size=5000
    )
    Conflict.objects.bulk_create(
        [Conflict(profile=pair, source_id=str(i), kind="rejected", reason="r") for i in range(5000)]
    )
    Run.objects.bulk_create(
        [Run(profile=pair, trigger="schedule", actor="schedule", scope="incremental",
             coalesce_key=str(i), status="succeeded") for i in range(500)]
    )  # fmt: skip
    assert queries() == few


@pytest.mark.django_db
def test_a_moment_under_a_minute_ago_reads_just_now(
    admin_client: Client, pair: MappingProfile
) -> None:
    Connection.objects.filter(pk=pair.target_id).update(
        last_checked=datetime.now(UTC), last_check={"ok": True, "version": "2.28.0"}
    )
    html = admin_client.get("/").content.decode()
    assert "works, version 2.28.0 · tested just now" in html
    assert "0 minutes" not in html
