"""The Conflicts pages: filters, both sides, resolving one or many, quick fixes."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from apps.accounts.models import User
from apps.core.models import AuditEvent
from apps.gdpr.models import Person
from apps.mappings.models import ActivityMapping, UserMapping
from apps.sync.conflict_pages import PER_PAGE
from apps.sync.engine import execute_run
from apps.sync.locks import profile_lock
from apps.sync.models import Conflict, Run
from tests.doubles.base import Fault
from tests.sync.conflict_cases import open_conflict
from tests.sync.world import World

HTMX = {"HX-Request": "true"}


def _html(client: Client, url: str, **headers: str) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


# -- the list ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_it_counts_open_conflicts_per_kind(admin_client: Client, world: World) -> None:
    world.run()
    html = _html(admin_client, "/sync/conflicts/")
    unmapped = Conflict.objects.filter(kind=Conflict.Kind.UNMAPPED_USER).count()
    assert f"<strong>{unmapped}</strong> agent without Kimai user" in html
    assert f"<strong>{Conflict.objects.count()}</strong> open" in html
    assert "<strong>1</strong> a Kimai timesheet with another begin or duration" in html


@pytest.mark.django_db
def test_each_card_gives_the_reason_and_both_sides(admin_client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    html = _html(admin_client, f"/sync/conflicts/?kind={conflict.kind}")
    assert html.count('class="conflict-card"') == 1
    assert conflict.reason in html
    assert "Side by side: end, duration, description, tags differ" in html
    assert "0:20 h in Zammad, 0:30 h in Kimai" in html


@pytest.mark.django_db
def test_it_filters_by_agent_ticket_and_date(admin_client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    assert conflict.agent is not None and conflict.booked_at is not None
    by_agent = _html(admin_client, f"/sync/conflicts/?agent={conflict.agent_id}")
    assert by_agent.count('class="conflict-card"') == min(
        PER_PAGE, Conflict.objects.filter(agent=conflict.agent).count()
    )
    by_ticket = _html(admin_client, f"/sync/conflicts/?ticket=%23{conflict.ticket_number}")
    assert (
        by_ticket.count('class="conflict-card"')
        == Conflict.objects.filter(ticket_number=conflict.ticket_number).count()
    )
    day = conflict.booked_at.date().isoformat()
    by_day = _html(admin_client, f"/sync/conflicts/?since={day}&until={day}")
    assert (
        by_day.count('class="conflict-card"')
        == Conflict.objects.filter(booked_at__date=conflict.booked_at.date()).count()
    )
    assert f'id="conflict-{conflict.pk}"' in by_day


@pytest.mark.django_db
def test_the_list_refreshes_as_a_fragment(admin_client: Client, world: World) -> None:
    world.run()
    html = _html(admin_client, "/sync/conflicts/?kind=unmapped_user", **HTMX, **{
        "HX-Target": "conflict-list"
    })  # fmt: skip
    assert html.lstrip().startswith('<section id="conflict-list"')
    assert "<nav" not in html.split("conflict-cards")[0]


@pytest.mark.django_db
def test_the_list_says_when_nothing_is_open(admin_client: Client) -> None:
    html = _html(admin_client, "/sync/conflicts/")
    assert "No open conflicts: everything the sync saw is decided." in html


# -- one conflict --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_conflict_shows_both_sides_with_the_differences_marked(
    admin_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    html = _html(admin_client, f"/sync/conflicts/{conflict.pk}/")
    assert re.findall(r'data-differs="(\w+)"', html) == ["end", "duration", "description", "tags"]
    assert "<td>0:20 h</td>\n      <td>0:30 h</td>" in html
    assert [*re.findall(r'data-action="(\w+)"', html)] == ["update", "link", "create", "skip"]
    assert f"Kimai timesheet #{conflict.kimai_id}" in html


@pytest.mark.django_db
def test_an_unmapped_agent_is_marked_and_offers_the_quick_fix(
    admin_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    html = _html(admin_client, f"/sync/conflicts/{conflict.pk}/")
    assert '<tr class="missing">\n      <th scope="row">User <span class="badge fail">' in html
    assert f'href="/sync/conflicts/map-agent/{conflict.agent_id}/"' in html
    assert f'hx-get="/sync/conflicts/map-agent/{conflict.agent_id}/?conflict={conflict.pk}"' in html


@pytest.mark.django_db
def test_resolving_from_the_page_shows_the_outcome_inline(
    admin_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    response = admin_client.post(
        f"/sync/conflicts/{conflict.pk}/resolve/", {"action": "update"}, headers=HTMX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="conflict"')
    assert f"Updated Kimai timesheet #{conflict.kimai_id}." in html
    assert "Next open conflict" in html
    assert Conflict.objects.get(pk=conflict.pk).status == "resolved"


@pytest.mark.django_db
def test_without_htmx_a_resolution_redirects_with_a_message(
    admin_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    response = admin_client.post(
        f"/sync/conflicts/{conflict.pk}/resolve/",
        {"action": "link", "kimai_id": conflict.kimai_id}, follow=True,
    )  # fmt: skip
    assert response.redirect_chain == [(f"/sync/conflicts/{conflict.pk}/", 302)]
    html = response.content.decode()
    assert f"Linked Kimai timesheet #{conflict.kimai_id} as it is" in html
    assert (
        f"<dd>Linked Kimai timesheet #{conflict.kimai_id} as it was, by admin@example.com" in html
    )


@pytest.mark.django_db
def test_a_refused_resolution_is_an_inline_message_and_the_conflict_stays(
    admin_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.DURATION_MISMATCH)
    world.kimai_double.inject(Fault("error_before_commit", "PATCH", "/api/timesheets", status=400))
    url = f"/sync/conflicts/{conflict.pk}/resolve/"
    inline = admin_client.post(url, {"action": "update"}, headers=HTMX)
    assert inline.status_code == 200
    assert 'role="alert"><p>Kimai refused the write' in inline.content.decode()
    assert 'data-action="update"' in inline.content.decode()  # still offered
    plain = admin_client.post(url, {"action": "update", "version": "stale"})
    assert plain.status_code == 409
    assert "changed since you opened it" in plain.content.decode()
    assert Conflict.objects.get(pk=conflict.pk).status == "open"


@pytest.mark.django_db
def test_strangers_cannot_resolve_from_the_page(client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    response = client.post(f"/sync/conflicts/{conflict.pk}/resolve/", {"action": "skip"})
    assert response.status_code == 302
    assert Conflict.objects.get(pk=conflict.pk).status == "open"
    assert not AuditEvent.objects.filter(action="conflict.skip").exists()


# -- many at once --------------------------------------------------------------------------------
def _bulk(client: Client, data: dict[str, Any], **headers: str) -> Any:
    return client.post("/sync/conflicts/bulk/", data, headers=headers)


@pytest.mark.django_db
def test_a_bulk_skip_shows_progress_and_each_result(admin_client: Client, world: World) -> None:
    world.run()
    ids = list(Conflict.objects.filter(kind="unmapped_user").values_list("pk", flat=True)[:3])
    html = _bulk(admin_client, {"action": "skip", "ids": ids, "note": "temp"}, **HTMX)
    text = html.content.decode()
    assert '<progress max="3" value="3"' in text
    assert '3 of 3 · <strong class="ok">3 done</strong>' in text
    assert text.count('class="ok-row"') == 3
    assert 'id="conflict-list" class="panel" hx-swap-oob="true"' in text
    assert Conflict.objects.filter(pk__in=ids, status="skipped", note="temp").count() == 3


@pytest.mark.django_db
def test_a_long_bulk_continues_step_by_step(
    admin_client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.run()
    monkeypatch.setattr("apps.sync.conflict_views.BULK_STEP_SECONDS", 0)
    ids = list(Conflict.objects.filter(kind="unmapped_user").values_list("pk", flat=True)[:3])
    first = _bulk(admin_client, {"action": "skip", "ids": ids}, **HTMX).content.decode()
    assert '<progress max="3" value="1"' in first
    remaining = re.search(r'name="remaining" value="([\d,]+)"', first)
    assert remaining is not None and remaining.group(1) == f"{ids[1]},{ids[2]}"
    assert 'hx-trigger="load delay:50ms"' in first
    step = _bulk(
        admin_client,
        {"action": "skip", "remaining": remaining.group(1), "total": 3, "ok": 1, "failed": 0},
        **HTMX,
    ).content.decode()
    assert step.lstrip().startswith('<div id="bulk-progress">')
    assert '<progress max="3" value="2"' in step
    assert '<tbody hx-swap-oob="beforeend:#bulk-results">' in step
    assert Conflict.objects.filter(pk__in=ids, status="skipped").count() == 2


@pytest.mark.django_db
def test_a_bulk_can_take_every_conflict_that_matches_the_filters(
    admin_client: Client, world: World
) -> None:
    world.run()
    expected = Conflict.objects.filter(kind="unmapped_activity").count()
    response = _bulk(
        admin_client, {"action": "skip", "scope": "filtered", "kind": "unmapped_activity"}
    )
    assert response.status_code == 200
    assert f"{expected} of {expected}" in response.content.decode()
    assert not Conflict.objects.filter(kind="unmapped_activity", status="open").exists()
    assert Conflict.objects.filter(kind="unmapped_user", status="open").exists()


@pytest.mark.django_db
def test_a_bulk_without_a_selection_says_so(admin_client: Client, world: World) -> None:
    response = _bulk(admin_client, {"action": "skip"})
    assert response.status_code == 422
    assert "Select at least one conflict" in response.content.decode()


@pytest.mark.django_db
def test_a_bulk_action_that_needs_a_choice_is_refused(admin_client: Client, world: World) -> None:
    world.run()
    ids = list(Conflict.objects.values_list("pk", flat=True)[:2])
    response = _bulk(admin_client, {"action": "link", "ids": ids})
    assert response.status_code == 422
    assert "needs a choice per conflict" in response.content.decode()


# -- quick fixes ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_map_this_agent_maps_and_checks_their_conflicts_again(
    admin_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    url = f"/sync/conflicts/map-agent/{conflict.agent_id}/"
    form = _html(admin_client, url, **HTMX)
    assert form.lstrip().startswith('<section id="quick-fix"')
    waiting = Conflict.objects.filter(agent_id=conflict.agent_id, status="open").count()
    assert f"{waiting} open conflicts wait for this agent" in form
    emma = Person.objects.get(connection=world.kimai, external_id=str(
        world.kimai_double.user_id("emma")
    ))  # fmt: skip
    done = admin_client.post(url, {"kimai_user": emma.external_id}, headers=HTMX).content.decode()
    assert f"now books time as {emma.label} in Kimai; {waiting} conflicts waited" in done
    assert UserMapping.objects.get(agent_id=conflict.agent_id).kimai_user == emma
    queued = Run.objects.get(status="queued")  # their tickets are many: one window run
    execute_run(queued.pk)  # what the worker does next
    assert not Conflict.objects.filter(agent_id=conflict.agent_id, status="open").exists()


@pytest.mark.django_db
def test_a_quick_fix_on_a_conflicts_page_updates_that_page_and_follows_the_recheck(
    admin_client: Client, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    url = f"/sync/conflicts/map-agent/{conflict.agent_id}/"
    form = _html(admin_client, f"{url}?conflict={conflict.pk}", **HTMX)
    assert f'<input type="hidden" name="conflict" value="{conflict.pk}">' in form
    emma = str(world.kimai_double.user_id("emma"))
    response = admin_client.post(
        url, {"kimai_user": emma, "conflict": str(conflict.pk)}, headers=HTMX
    )
    assert (response["HX-Retarget"], response["HX-Reswap"]) == ("#conflict", "outerHTML")
    html = response.content.decode()
    queued = Run.objects.get(status="queued")
    assert '<section id="conflict"' in html[:300]
    assert "Checking again…" in html and "Waiting for a decision" not in html
    assert f"checking={queued.pk}" in html and 'hx-trigger="every 2s"' in html
    assert "conflicts waited for this" in html  # the quick fix's own message, in place
    execute_run(queued.pk)  # the worker
    followed = admin_client.get(
        f"/sync/conflicts/{conflict.pk}/?fragment=conflict&checking={queued.pk}", headers=HTMX
    )
    assert followed.status_code == 286  # htmx stops polling
    done = followed.content.decode()
    assert "Waiting for a decision" not in done and "Checking again" not in done
    assert 'hx-trigger="every 2s"' not in done


@pytest.mark.django_db
def test_map_this_activity_is_prefilled_and_queues_a_run(
    admin_client: Client, admin_user: User, world: World
) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_ACTIVITY)
    type_id = conflict.source_snapshot["entry"]["activity_type_id"]
    html = _html(admin_client, f"/sync/conflicts/map-activity/?type={type_id}")
    assert "Map Zammad activity type “Onsite”" in html
    onsite = str(world.kimai_double.activity_id("Support"))
    response = admin_client.post(
        f"/sync/conflicts/map-activity/?type={type_id}", {"kimai_activity": onsite}
    )
    assert response.status_code == 302
    assert response["Location"] == "/sync/conflicts/?kind=unmapped_activity"
    mapping = ActivityMapping.objects.get(profile=world.profile, zammad_type_id=type_id)
    assert mapping.kimai_activity_id == onsite
    assert Run.objects.filter(status="queued", actor=f"admin:{admin_user.pk}").count() == len(
        {c.ticket_id for c in Conflict.objects.filter(kind="unmapped_activity")}
    )


@pytest.mark.django_db
def test_a_quick_fix_without_a_choice_explains_itself(admin_client: Client, world: World) -> None:
    world.run()
    conflict = open_conflict(Conflict.Kind.UNMAPPED_USER)
    response = admin_client.post(f"/sync/conflicts/map-agent/{conflict.agent_id}/", {})
    assert response.status_code == 400
    assert "Choose the Kimai user this agent books time as." in response.content.decode()
    assert not UserMapping.objects.filter(agent_id=conflict.agent_id).exists()


@pytest.mark.django_db(transaction=True)
def test_a_bulk_waits_for_a_running_sync_and_tries_again(
    admin_client: Client, tx_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    tx_world.run()
    monkeypatch.setattr("apps.sync.resolutions.LOCK_WAIT_SECONDS", 0.2)
    ids = list(Conflict.objects.filter(kind="unmapped_user").values_list("pk", flat=True)[:2])
    held, release = threading.Event(), threading.Event()

    def run_holding_the_lock() -> None:
        with profile_lock(tx_world.profile.pk):
            held.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=run_holding_the_lock)
    thread.start()
    held.wait(5)
    try:
        text = _bulk(admin_client, {"action": "skip", "ids": ids}, **HTMX).content.decode()
    finally:
        release.set()
        thread.join()
    assert "A sync run is working on these entries right now." in text
    assert "Waiting, then trying again" in text
    assert 'hx-trigger="load delay:3s"' in text
    assert f'name="remaining" value="{ids[0]},{ids[1]}"' in text
    assert Conflict.objects.filter(pk__in=ids, status="open").count() == 2
    later = _bulk(admin_client, {"action": "skip", "remaining": f"{ids[0]},{ids[1]}"}, **HTMX)
    assert "2 of 2" in later.content.decode()
