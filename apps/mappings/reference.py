"""Reference data kept for mapping: the cached snapshot, people, and what the sync created.

People (Zammad agents, Kimai users) go to :class:`apps.gdpr.models.Person` only; the snapshot
holds customers, projects, activities, tags and groups, which are not personal data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from apps.connectors.base import (
    Connector,
    ReferenceActivity,
    ReferenceCustomer,
    ReferenceData,
    ReferenceProject,
    ReferenceUser,
    Role,
    SourceConnector,
)
from apps.connectors.entry import AgentRef
from apps.connectors.http import ExternalServiceError
from apps.connectors.models import Connection
from apps.gdpr.models import Person
from apps.mappings.models import (
    ActivityMapping,
    KimaiLink,
    MappingProfile,
    ReferenceSnapshot,
    Rule,
    UserMapping,
)

logger = structlog.get_logger(__name__)
AGENT_DISCOVERY_DAYS = 90


# -- the snapshot ---------------------------------------------------------------------------------
def _rows(items: Iterable[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(item) for item in items]


def _records(cls: type, rows: Any) -> tuple[Any, ...]:
    names = {f.name for f in dataclasses.fields(cls)}
    return tuple(
        cls(**{k: v for k, v in row.items() if k in names})
        for row in rows or ()
        if isinstance(row, dict)
    )


def snapshot_reference(snapshot: ReferenceSnapshot | None) -> ReferenceData:
    """The snapshot as reference data, without users (they live in Person)."""
    if snapshot is None:
        return ReferenceData()
    return ReferenceData(
        customers=_records(ReferenceCustomer, snapshot.customers),
        projects=_records(ReferenceProject, snapshot.projects),
        activities=_records(ReferenceActivity, snapshot.activities),
        tags=tuple(str(tag) for tag in snapshot.tags or ()),
    )


def users_of(people: Iterable[Person]) -> list[ReferenceUser]:
    """Forgotten Kimai users stay, nameless ("forgotten person #N"): their mappings and
    timesheets still work (apps/gdpr/purge.py); they only cannot be matched by e-mail."""
    return [
        ReferenceUser(
            id=person.external_id,
            username=person.username,
            email=person.email or None,
            name=person.label,
            timezone=person.time_zone or None,
            active=person.active,
        )
        for person in people
    ]


def kimai_people(target: Connection, *, forgotten: bool = False) -> list[Person]:
    people = Person.objects.filter(connection=target, kind=Person.Kind.TARGET_USER)
    return list(people if forgotten else people.filter(purged_at__isnull=True))


def snapshot_of(connection: Connection) -> ReferenceSnapshot | None:
    return ReferenceSnapshot.objects.filter(connection=connection).first()


def kimai_reference(target: Connection) -> tuple[ReferenceData, ReferenceSnapshot | None]:
    """The cached Kimai data with its users from Person: two queries."""
    snapshot = snapshot_of(target)
    data = snapshot_reference(snapshot)
    return (
        dataclasses.replace(data, users=tuple(users_of(kimai_people(target, forgotten=True)))),
        snapshot,
    )


# -- refreshing -----------------------------------------------------------------------------------
def refresh_reference(
    connection: Connection, connector: Connector | None = None
) -> ReferenceSnapshot:
    """Fetch the connection's reference data now; a failure is kept on the snapshot. A run
    passes its own ``connector``: what it reads here (the caller, the tags) it then knows, so
    a run reads reference data once."""
    snapshot, _ = ReferenceSnapshot.objects.get_or_create(connection=connection)
    try:
        if connector is not None:
            data = connector.fetch_reference_data()
        else:
            with connection.connector() as opened:
                data = opened.fetch_reference_data()
    except ExternalServiceError as error:
        logger.warning("reference_refresh_failed", connection=connection.pk, error=error.message)
        snapshot.last_error = error.message
        snapshot.save(update_fields=["last_error"])
        return snapshot
    with transaction.atomic():
        snapshot.customers = _rows(data.customers)
        snapshot.projects = _rows(data.projects)
        snapshot.activities = _rows(data.activities)
        snapshot.tags = list(data.tags)
        if data.groups:  # else keep the groups seen on tickets (the token may not list them)
            snapshot.groups = [
                {"id": g.id, "name": g.name, "active": g.visible}
                for g in sorted(data.groups, key=lambda g: g.name.casefold())
            ]
        snapshot.users_listed = bool(data.users)
        snapshot.fetched_at = timezone.now()
        snapshot.last_error = ""
        snapshot.save()
        if connection.role == Role.TARGET:
            _store_kimai_users(connection, data.users)
    if connection.role == Role.TARGET:
        for profile in MappingProfile.objects.filter(target=connection).select_related("source"):
            match_users_by_email(profile.source, connection)
    return snapshot


def _store_kimai_users(target: Connection, users: Iterable[ReferenceUser]) -> None:
    now = timezone.now()
    _upsert_people(
        target,
        Person.Kind.TARGET_USER,
        [
            Person(
                connection=target, external_id=user.id, kind=Person.Kind.TARGET_USER,
                email=user.email or "", name=user.name or "", username=user.username,
                time_zone=user.timezone or "", active=user.active, updated_at=now,
            )
            for user in users
        ],
        ["email", "name", "username", "time_zone", "active", "updated_at"],
    )  # fmt: skip


def _upsert_people(
    connection: Connection, kind: str, people: list[Person], fields: list[str]
) -> None:
    """Insert or update by (connection, external id); forgotten people stay forgotten."""
    purged = set(
        Person.objects.filter(connection=connection, purged_at__isnull=False).values_list(
            "external_id", flat=True
        )
    )
    fresh = [p for p in people if p.external_id not in purged]
    if fresh:
        Person.objects.bulk_create(
            fresh,
            update_conflicts=True,
            unique_fields=["connection", "external_id"],
            update_fields=fields,
        )


def remember_agents(source: Connection, agents: Iterable[AgentRef]) -> int:
    """Record the agents of entries the sync or a preview saw; returns how many."""
    now = timezone.now()
    unique = {agent.id: agent for agent in agents}
    rows = [
        Person(
            connection=source, external_id=agent.id, kind=Person.Kind.AGENT,
            email=agent.email or "", name=agent.name or "", updated_at=now,
        )
        for agent in unique.values()
    ]  # fmt: skip
    _upsert_people(source, Person.Kind.AGENT, rows, ["email", "name", "updated_at"])
    return len(rows)


def discover_agents(source: Connection, days: int = AGENT_DISCOVERY_DAYS) -> int:
    """Find the agents who booked time in the last ``days`` days (Zammad lists every user,
    customers included, without saying who is an agent: bookings say it)."""
    end = timezone.now()
    with source.connector() as connector:
        if not isinstance(connector, SourceConnector):
            raise ValueError(f"connection {source.pk} is not a source")
        entries = connector.fetch_entries_in_window(end - timedelta(days=days), end)
        agents = [entry.agent for entry in entries if entry.agent is not None]
    return remember_agents(source, agents)


def match_users_by_email(source: Connection, target: Connection) -> int:
    """Map every agent without a hand-made mapping to the Kimai user with the same e-mail
    (ignoring case); drop automatic mappings that no longer hold. Returns mappings made."""
    kimai_by_email = {
        person.email.casefold(): person
        for person in kimai_people(target)
        if person.email and person.active
    }
    agents = list(
        Person.objects.filter(connection=source, kind=Person.Kind.AGENT, purged_at__isnull=True)
    )
    existing = {
        m.agent_id: m for m in UserMapping.objects.filter(target=target, agent__connection=source)
    }
    made, stale = [], []
    for agent in agents:
        current = existing.get(agent.pk)
        if current is not None and current.method == UserMapping.Method.MANUAL:
            continue
        match = kimai_by_email.get(agent.email.casefold()) if agent.email else None
        if current is not None and (match is None or current.kimai_user_id != match.pk):
            stale.append(current.pk)
            current = None
        if match is not None and current is None:
            made.append(
                UserMapping(
                    agent=agent, target=target, kimai_user=match, method=UserMapping.Method.EMAIL
                )
            )
    with transaction.atomic():
        UserMapping.objects.filter(pk__in=stale).delete()
        UserMapping.objects.bulk_create(made, ignore_conflicts=True)
    return len(made)


def remember_groups(source: Connection, groups: dict[str, str]) -> None:
    """Groups seen on tickets (Zammad's reference data has none): choices for the editor."""
    if not groups:
        return
    snapshot, _ = ReferenceSnapshot.objects.get_or_create(connection=source)
    known = {str(g["id"]): g["name"] for g in snapshot.groups if isinstance(g, dict)}
    if all(known.get(k) == v for k, v in groups.items()):
        return
    known.update(groups)
    snapshot.groups = [{"id": k, "name": v} for k, v in sorted(known.items(), key=lambda kv: kv[1])]
    snapshot.save(update_fields=["groups"])


# -- what the sync created ------------------------------------------------------------------------
def record_created(
    target: Connection,
    link_scope: str,
    link_key: str,
    record: ReferenceCustomer | ReferenceProject,
) -> None:
    """After the sync engine created a plan's ``customer_to_create`` or ``project_to_create``:
    link it to its Zammad organization or ticket and add it to the cached Kimai data."""
    with transaction.atomic():
        KimaiLink.objects.update_or_create(
            target=target, scope=link_scope, source_key=link_key,
            defaults={"kimai_id": record.id},
        )  # fmt: skip
        snapshot, _ = ReferenceSnapshot.objects.select_for_update().get_or_create(connection=target)
        column = "customers" if isinstance(record, ReferenceCustomer) else "projects"
        rows = [row for row in getattr(snapshot, column) if row.get("id") != record.id]
        rows.append(dataclasses.asdict(record))
        setattr(snapshot, column, rows)
        snapshot.save(update_fields=[column])


# -- loading a context ----------------------------------------------------------------------------
@dataclass
class ContextRows:
    profile: MappingProfile
    rules: list[Rule]
    reference: ReferenceData
    user_mappings: dict[str, tuple[str, str]]
    activity_mappings: dict[str, str]
    links: dict[tuple[str, str], str]
    fetched_at: datetime | None


def load_context_rows(
    source: Connection, target: Connection, reference: ReferenceData | None = None
) -> ContextRows:
    """Seven queries at most (five with ``reference`` given), whatever the sizes."""
    profile = (
        MappingProfile.objects.filter(source=source, target=target)
        .select_related("fallback_user")
        .first()
    ) or MappingProfile(source=source, target=target)
    rules = list(Rule.objects.filter(profile=profile)) if profile.pk else []
    activity_mappings = (
        dict(
            ActivityMapping.objects.filter(profile=profile).values_list(
                "zammad_type_id", "kimai_activity_id"
            )
        )
        if profile.pk
        else {}
    )
    user_mappings = {
        agent: (user, method)
        for agent, user, method in UserMapping.objects.filter(
            # Mappings of forgotten people still hold: their entries keep syncing by id.
            target=target,
            agent__connection=source,
        ).values_list("agent__external_id", "kimai_user__external_id", "method")
    }
    fetched_at = None
    if reference is None:
        snapshot = snapshot_of(target)
        reference = snapshot_reference(snapshot)
        fetched_at = snapshot.fetched_at if snapshot else None
    if not reference.users:
        forgotten_too = kimai_people(target, forgotten=True)
        reference = dataclasses.replace(reference, users=tuple(users_of(forgotten_too)))
    links = {
        (scope, key): kimai_id
        for scope, key, kimai_id in KimaiLink.objects.filter(target=target).values_list(
            "scope", "source_key", "kimai_id"
        )
    }
    return ContextRows(
        profile, rules, reference, user_mappings, activity_mappings, links, fetched_at
    )
