"""Reading single Zammad entries and ticket details for the "try it" preview.

The Zammad connector reads entries in bulk; the preview needs one time accounting, or one
ticket's entries by its *number*, and the ticket details rules may ask about (group, customer,
tags) that :class:`TimeEntry` does not carry. These are read-only calls on the connector's own
HTTP seam, and the entries themselves always come from the connector's public
``fetch_entries_of_ticket``, so they are normalized exactly as the sync sees them.

Section numbers (§) refer to ``docs/reference/zammad-api.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from apps.connectors.base import SourceConnector
from apps.connectors.entry import TimeEntry
from apps.connectors.facts import TicketFacts
from apps.connectors.http import ExternalServiceError
from apps.connectors.models import Connection
from apps.connectors.zammad.connector import ZammadConnector

MAX_PREVIEW_ENTRIES = 50


class PreviewUnavailable(Exception):
    """The preview cannot show anything; the message says why in plain words.

    ``status`` is what the API answers: 404 nothing found, 422 bad input, 502 Zammad failed.
    """

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PreviewInput:
    entries: list[TimeEntry]
    facts: dict[str, TicketFacts] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    note: str = ""


def _zammad(source: Connection | None) -> ZammadConnector:
    if source is None:
        raise PreviewUnavailable(
            "There is no Zammad connection yet: add one on the Connectors page to preview "
            "real entries.",
            409,
        )
    connector = source.connector()
    if not isinstance(connector, ZammadConnector):
        connector.close()
        raise PreviewUnavailable(
            f"Previewing entries of a {source.kind} connection is not supported."
        )
    return connector


def read_preview_input(
    source: Connection | None,
    *,
    ticket_number: str = "",
    accounting_id: str = "",
    with_tags: bool = False,
) -> PreviewInput:
    """The entries to preview with their ticket details; raises PreviewUnavailable."""
    connector = _zammad(source)
    try:
        with connector:
            if accounting_id:
                entries = _entry_by_id(connector, accounting_id)
            else:
                entries = _entries_of_ticket_number(connector, ticket_number)
            facts, groups = ticket_facts(
                connector, {e.ticket.id for e in entries if e.ticket}, with_tags
            )
    except ExternalServiceError as error:
        message = f"Zammad did not answer as expected: {error.message}"
        raise PreviewUnavailable(message, 502) from error
    note = ""
    if len(entries) > MAX_PREVIEW_ENTRIES:
        note = f"The ticket has {len(entries)} entries; the newest {MAX_PREVIEW_ENTRIES} are shown."
        entries = entries[-MAX_PREVIEW_ENTRIES:]
    return PreviewInput(entries, facts, groups, note)


def _entry_by_id(connector: ZammadConnector, accounting_id: str) -> list[TimeEntry]:
    if not accounting_id.isdigit():
        raise PreviewUnavailable("A time accounting id is a number, e.g. 42.")
    try:
        # §1.3: the global show route needs admin.time_accounting (6.1+).
        row = connector.http.get(f"/api/v1/time_accountings/{int(accounting_id)}").data
    except ExternalServiceError as error:
        if error.status == 404:
            raise PreviewUnavailable(
                f"Zammad has no time accounting {accounting_id} (or this Zammad is older than "
                "6.1 and cannot look one up by id: enter the ticket number instead).",
                404,
            ) from error
        if error.status == 403:
            raise PreviewUnavailable(
                "This Zammad token may not look up a time accounting by id (that needs "
                "admin.time_accounting): enter the ticket number instead."
            ) from error
        raise
    ticket_id = row.get("ticket_id") if isinstance(row, dict) else None
    if not isinstance(ticket_id, int):
        message = f"Zammad sent time accounting {accounting_id} without its ticket."
        raise PreviewUnavailable(message, 502)
    entries = [
        e
        for e in connector.fetch_entries_of_ticket(str(ticket_id))
        if e.external_id == accounting_id
    ]
    if not entries:
        raise PreviewUnavailable(f"Time accounting {accounting_id} was deleted meanwhile.", 404)
    return entries


def _entries_of_ticket_number(connector: ZammadConnector, number: str) -> list[TimeEntry]:
    number = number.strip().lstrip("#")
    if not number:
        raise PreviewUnavailable("Enter a Zammad ticket number or a time accounting id.")
    # §2.2, §5.8: a SQL condition (no search-index lag); expand=true answers an array in 6.x.
    body = {
        "condition": {"ticket.number": {"operator": "is", "value": number}},
        "per_page": 1, "page": 1, "expand": True,
    }  # fmt: skip
    data = connector.http.request(
        "POST", "/api/v1/tickets/search", json_body=body, safe_to_repeat=True
    ).data
    tickets = [t for t in data if isinstance(t, dict)] if isinstance(data, list) else []
    if not tickets or not isinstance(tickets[0].get("id"), int):
        message = f"Zammad has no ticket #{number}, or this token cannot see it."
        raise PreviewUnavailable(message, 404)
    entries = connector.fetch_entries_of_ticket(str(tickets[0]["id"]))
    if not entries:
        raise PreviewUnavailable(f"Ticket #{number} has no time accountings yet.", 404)
    return entries


def ticket_facts(
    connector: SourceConnector, ticket_ids: Iterable[str], with_tags: bool
) -> tuple[dict[str, TicketFacts], dict[str, str]]:
    """What the source knows about each ticket beyond its entries (group, customer, project,
    and the tags if asked), and the group names seen."""
    facts = connector.fetch_ticket_facts(ticket_ids, with_tags=with_tags) if ticket_ids else {}
    groups: dict[str, str] = {}
    for item in facts.values():
        if item.group_id is not None and item.group_name:
            groups[item.group_id] = item.group_name
        for group_id, name in zip(item.group_ids or (), item.group_names, strict=False):
            groups[group_id] = name
    return facts, groups


# -- ticket customers for rule conditions -------------------------------------------------------
def _person_label(row: dict[str, Any]) -> str:
    name = " ".join(str(row.get(k) or "").strip() for k in ("firstname", "lastname")).strip()
    email = str(row.get("email") or "").strip()
    if name and email:
        return f"{name} ({email})"
    return name or email or str(row.get("login") or f"#{row.get('id')}")


def search_customers(source: Connection | None, query: str, limit: int = 20) -> list[Any]:
    """Zammad users matching ``query`` by name, login or e-mail: (id, label) pairs, read live
    and kept nowhere (only the ones a rule names are remembered, see remember_customers)."""
    query = query.strip()
    if len(query) < 2:
        return []
    connector = _zammad(source)
    try:
        with connector:
            rows = connector.client.search_users(query, limit)
    except ExternalServiceError as error:
        raise PreviewUnavailable(
            f"Zammad did not answer the search: {error.message}", 502
        ) from error
    return [(str(row["id"]), _person_label(row)) for row in rows if "id" in row]


def remember_customers(source: Connection, ids: Iterable[str]) -> None:
    """Keep the name of each ticket customer a rule names (as a Person, like every person
    this service knows), so rules read "customer is Jane Roe" without asking Zammad again."""
    from django.utils import timezone

    from apps.gdpr.models import Person

    known = set(
        Person.objects.filter(connection=source, external_id__in=list(ids)).values_list(
            "external_id", flat=True
        )
    )
    missing = [i for i in ids if i not in known and i.isdigit()]
    if not missing:
        return
    connector = _zammad(source)
    people = []
    try:
        with connector:
            for user_id in missing:
                row = connector.client.user(int(user_id))
                name = " ".join(
                    str(row.get(k) or "").strip() for k in ("firstname", "lastname")
                ).strip()
                people.append(
                    Person(
                        connection=source, external_id=user_id, kind=Person.Kind.CUSTOMER,
                        name=name, email=str(row.get("email") or ""),
                        username=str(row.get("login") or ""), updated_at=timezone.now(),
                    )
                )  # fmt: skip
    except ExternalServiceError:
        return  # names stay unknown ("customer #8") until the next save; the rule still works
    Person.objects.bulk_create(people, ignore_conflicts=True)
