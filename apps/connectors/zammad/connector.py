"""Zammad as a source: time accountings normalized into :class:`TimeEntry`.

Section numbers (§) refer to ``docs/reference/zammad-api.md``.

Request budget: entries come in pages of up to 1000; the tickets, users and organizations they
refer to are looked up in bulk (200 tickets per search, 1000 users or organizations per page) and
remembered for the life of the connector, so a run costs requests in proportion to pages, never to
entries. Make one connector per run (see ``Connector``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx
import structlog

from apps.connectors.base import (
    CONTRACT_VERSION,
    Capability,
    CheckReport,
    CheckReportDraft,
    ReferenceActivity,
    ReferenceCustomer,
    ReferenceData,
    ReferenceGroup,
    ReferenceUser,
    SourceConnector,
)
from apps.connectors.entry import ActivityRef, AgentRef, OrganizationRef, TicketRef, TimeEntry
from apps.connectors.facts import Fact, TicketFacts
from apps.connectors.http import ExternalServiceError, OutboundHttpClient, display_url
from apps.connectors.paging import read_ahead
from apps.connectors.zammad.client import Row, ZammadClient, parse_zammad_time
from apps.connectors.zammad.config import MINUTES_PER_UNIT, ZammadSettings

logger = structlog.get_logger(__name__)

SECONDS_PER_MINUTE = Decimal(60)


@dataclass(frozen=True)
class TimeUnit:
    """What one Zammad ``time_unit`` is worth, and where we learned it."""

    name: str  # minute | quarter | hour | custom
    minutes: Decimal
    origin: str  # "Zammad setting" or "connection settings"

    def seconds(self, time_unit: Any) -> int:
        """``"15.0"`` → seconds, in Decimal all the way (§1.2: a decimal(6,2) sent as a string)."""
        try:
            units = Decimal(str(time_unit))
        except InvalidOperation:
            raise ExternalServiceError(
                f"Zammad sent a time_unit that is not a number: {time_unit!r}",
                permanent=True,
                service="Zammad",
            ) from None
        exact = units * self.minutes * SECONDS_PER_MINUTE
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class _PagedLookup:
    """Rows by id from a paged listing, fetched only as far as needed and then remembered."""

    def __init__(self, pages: Callable[[], Iterator[list[Row]]]) -> None:
        self._start_pages = pages
        self._pages: Iterator[list[Row]] | None = None
        self._exhausted = False
        self.rows: dict[int, Row] = {}

    def resolve(self, ids: Iterable[int]) -> None:
        wanted = {i for i in ids if i not in self.rows}
        while wanted and not self._exhausted:
            if self._pages is None:
                self._pages = self._start_pages()
            page = next(self._pages, None)
            if page is None:
                self._exhausted = True
                break
            for row in page:
                if isinstance(row.get("id"), int):
                    self.rows[row["id"]] = row
            wanted -= self.rows.keys()

    def all(self) -> list[Row]:
        while not self._exhausted:
            self.resolve([-1])  # an id that never exists: read to the end
        return list(self.rows.values())


class ZammadConnector(SourceConnector):
    kind = "zammad"
    contract_version = CONTRACT_VERSION
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ENTRIES_CHANGED_SINCE,
            Capability.ENTRIES_IN_WINDOW,
            Capability.ENTRIES_OF_TICKET,
            Capability.ALL_ENTRIES,
            Capability.REFERENCE_DATA,
        }
    )
    settings_model = ZammadSettings
    settings: ZammadSettings
    facts: ClassVar[frozenset[Fact]] = frozenset(Fact) - {Fact.PROJECT}
    fact_labels: ClassVar[Mapping[Fact, str]] = {
        Fact.ORGANIZATION: "Zammad organization",
        Fact.CUSTOMER: "Ticket customer",
        Fact.GROUP: "Zammad group",
        Fact.WORK_TYPE: "Zammad activity type",
        Fact.TAGS: "A ticket tag",
        Fact.TICKET: "Ticket title",
    }

    def _open_http(
        self,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
    ) -> OutboundHttpClient:
        self.client = ZammadClient(
            base_url, token, tuning=self.settings.http, transport=transport, sleep=sleep
        )
        return self.client.http

    def forget_lookups(self) -> None:
        self._time_unit: TimeUnit | None = None
        self._tickets: dict[int, Row | None] = {}
        self._users = _PagedLookup(self.client.user_pages)
        self._organizations = _PagedLookup(self.client.organization_pages)
        self._types: dict[int, Row] | None = None

    # -- reading entries --------------------------------------------------------------------------
    def fetch_entries_changed_since(
        self, since: datetime, known: Mapping[str, datetime] | None = None
    ) -> Iterator[TimeEntry]:
        """Created or edited at or after ``since − change_overlap_seconds``.

        With the global list (§1.5.1): newest ``updated_at`` first, with an ``id`` tie-break, until
        a page's oldest row is older than the floor. Without it: tickets whose ``updated_at``
        moved (§1.5.3), then each one's entries; that path cannot see an edit that changed only
        the type or left the ticket's total as it was.

        ``known`` maps entry ids to the ``updated_at`` the caller already synced: such rows (the
        overlap re-reads them) are skipped before their tickets and users are looked up, so an
        incremental run with nothing new costs one request.
        """
        floor = since - timedelta(seconds=self.settings.change_overlap_seconds)
        known = known or {}

        def unseen(row: Row) -> bool:
            return known.get(str(row["id"])) != _updated_at(row)

        pages = self._global_pages("updated_at,id", "desc,desc")
        if pages is not None:
            yield from self._newest_first(pages, "updated_at", floor, None, unseen)
            return
        for tickets in self.client.tickets_updated_since(floor):
            rows = self._entries_of_tickets(tickets)
            yield from self._normalize([r for r in rows if _updated_at(r) >= floor and unseen(r)])

    def fetch_entries_in_window(self, start: datetime, end: datetime) -> Iterator[TimeEntry]:
        """Entries booked in ``[start, end)`` (booked-at per the ``booked_at`` setting)."""
        column = self.settings.booked_at
        pages = self._global_pages(f"{column},id", "desc,desc")
        if pages is not None:
            # The next page is on its way while this one is normalized, planned and written.
            yield from self._newest_first(read_ahead(pages), column, start, end, None)
            return
        # An entry's creation changes its ticket's total, which bumps the ticket (§1.5.3), so
        # every ticket with an entry created since `start` has updated_at >= start.
        for tickets in self.client.tickets_updated_since(start):
            rows = self._entries_of_tickets(tickets)
            yield from self._normalize(
                [r for r in rows if start <= parse_zammad_time(r[column]) < end]
            )

    def fetch_all_entries(self) -> Iterator[TimeEntry]:
        """Every entry, oldest id first (§1.5.1 first load, §1.5.2 full id scan for deletions)."""
        pages = self._global_pages("id", "asc")
        if pages is not None:
            for page in pages:
                yield from self._normalize(page)
            return
        for tickets in self.client.ticket_pages():
            # §2.1: a ticket's time_unit is null until time was first booked on it.
            booked = [t for t in tickets if t.get("time_unit") is not None]
            yield from self._normalize(self._entries_of_tickets(booked))

    def fetch_entries_of_ticket(self, ticket_id: str) -> list[TimeEntry]:
        # §5.3: entries of a merged ticket keep ticket_id = source; we key on it and never join
        # through the article.
        return list(self._normalize(self.client.time_accountings_of_ticket(int(ticket_id))))

    def _global_pages(self, sort_by: str, order_by: str) -> Iterator[list[Row]] | None:
        """Pages of the global list, or None where it is missing or forbidden (§1.3, §5.9).

        The first page doubles as the probe: no extra request just to learn the route exists.
        """
        if self.client.global_route_known in ("missing", "forbidden"):
            return None
        # §5.7: an id tie-break keeps rows with the same instant in a stable order across pages.
        pages = self.client.time_accounting_pages(
            sort_by, order_by, page_size=self.settings.page_size
        )
        try:
            first = next(pages, None)
        except ExternalServiceError as error:
            if error.status == 404:
                self.client.remember_global_route("missing")
                return None
            if error.status == 403:
                self.client.remember_global_route("forbidden")
                return None
            raise
        self.client.remember_global_route("available")
        return itertools.chain([first], pages) if first is not None else iter(())

    def _newest_first(
        self,
        pages: Iterator[list[Row]],
        column: str,
        floor: datetime,
        until: datetime | None,
        keep: Callable[[Row], bool] | None,
    ) -> Iterator[TimeEntry]:
        for page in pages:
            wanted = [
                row
                for row in page
                if parse_zammad_time(row[column]) >= floor
                and (until is None or parse_zammad_time(row[column]) < until)
                and (keep is None or keep(row))
            ]
            yield from self._normalize(wanted)
            if parse_zammad_time(page[-1][column]) < floor:
                return

    def _entries_of_tickets(self, tickets: list[Row]) -> list[Row]:
        for ticket in tickets:
            if isinstance(ticket.get("id"), int):
                self._tickets[ticket["id"]] = ticket
        rows: list[Row] = []
        for ticket in tickets:
            rows.extend(self.client.time_accountings_of_ticket(ticket["id"]))
        return rows

    # -- normalizing ------------------------------------------------------------------------------
    def _normalize(self, rows: list[Row]) -> Iterator[TimeEntry]:
        if not rows:
            return
        unit = self.time_unit()
        self._resolve_tickets(row["ticket_id"] for row in rows)
        self._users.resolve(row["created_by_id"] for row in rows if row.get("created_by_id"))
        organization_ids = [
            ticket["organization_id"]
            for ticket in (self._tickets.get(row["ticket_id"]) for row in rows)
            if ticket and ticket.get("organization_id") and not ticket.get("organization")
        ]
        self._organizations.resolve(organization_ids)
        types = self._activity_types()
        for row in rows:
            yield self._entry(row, unit, types)

    def _entry(self, row: Row, unit: TimeUnit, types: dict[int, Row]) -> TimeEntry:
        ticket = self._tickets.get(row["ticket_id"])
        return TimeEntry(
            source_kind=self.kind,
            connection_id=self.connection_id,
            external_id=str(row["id"]),
            booked_at=parse_zammad_time(row[self.settings.booked_at]),
            duration_seconds=unit.seconds(row["time_unit"]),
            ticket=TicketRef(
                id=str(row["ticket_id"]),
                number=str(ticket["number"]) if ticket and ticket.get("number") else None,
                title=ticket.get("title") if ticket else None,
            ),
            organization=self._organization_of(ticket),
            agent=self._agent(row.get("created_by_id")),
            activity=self._activity(row.get("type_id"), types),
            changed_at=parse_zammad_time(row["updated_at"]) if row.get("updated_at") else None,
        )

    def _organization_of(self, ticket: Row | None) -> OrganizationRef | None:
        if not ticket or not ticket.get("organization_id"):
            return None
        organization_id = ticket["organization_id"]
        # With expand=true the ticket carries the organization's name (§2.1).
        name = ticket.get("organization")
        if not isinstance(name, str):
            row = self._organizations.rows.get(organization_id)
            name = row.get("name") if row else None
        return OrganizationRef(id=str(organization_id), name=name)

    def _agent(self, user_id: Any) -> AgentRef | None:
        if not isinstance(user_id, int):
            return None
        user = self._users.rows.get(user_id)
        if user is None:
            return AgentRef(id=str(user_id))
        return AgentRef(id=str(user_id), email=user.get("email") or None, name=_full_name(user))

    def _activity(self, type_id: Any, types: dict[int, Row]) -> ActivityRef | None:
        if not isinstance(type_id, int):
            return None
        row = types.get(type_id)
        return ActivityRef(id=str(type_id), name=row.get("name") if row else None)

    def tickets(self, ticket_ids: Iterable[int]) -> list[Row]:
        """Ticket rows (group, customer, ...) from this connector's per-run cache; only the
        ones not seen yet cost a request (one search per 200)."""
        wanted = {int(i) for i in ticket_ids}
        self._resolve_tickets(wanted)
        return [row for i in sorted(wanted) if (row := self._tickets.get(i)) is not None]

    def fetch_ticket_facts(
        self, ticket_ids: Iterable[str], *, with_tags: bool
    ) -> dict[str, TicketFacts]:
        """Group and customer of each ticket, from this run's cache (the entries' tickets were
        read with them), and its tags when asked: one request per ticket (§2.3)."""
        ids = sorted({int(i) for i in ticket_ids if str(i).isdigit()})
        facts: dict[str, TicketFacts] = {}
        for row in self.tickets(ids) if ids else []:
            group_id, customer_id = row.get("group_id"), row.get("customer_id")
            facts[str(row["id"])] = TicketFacts(
                ticket_id=str(row["id"]),
                group_id=str(group_id) if group_id is not None else None,
                group_name=row.get("group") if isinstance(row.get("group"), str) else None,
                customer_id=str(customer_id) if customer_id is not None else None,
                tags=self._ticket_tags(int(row["id"])) if with_tags else None,
            )
        return facts

    def _ticket_tags(self, ticket_id: int) -> tuple[str, ...] | None:
        """``GET /api/v1/tags?object=Ticket&o_id=N`` answers ``{"tags": [...]}``; None if the
        token may not read them."""
        try:
            data = self.client.http.get("/api/v1/tags", {"object": "Ticket", "o_id": ticket_id})
        except ExternalServiceError as error:
            if error.status in (403, 404):
                return None
            raise
        tags = data.data.get("tags") if isinstance(data.data, dict) else None
        return tuple(str(t) for t in tags) if isinstance(tags, list) else None

    def _resolve_tickets(self, ticket_ids: Iterable[int]) -> None:
        missing = {i for i in ticket_ids if i not in self._tickets}
        if not missing:
            return
        for ticket in self.client.tickets_by_ids(missing):
            self._tickets[ticket["id"]] = ticket
        for ticket_id in missing:
            # Deleted since, or out of the token's group access: remember that too.
            self._tickets.setdefault(ticket_id, None)

    def _activity_types(self) -> dict[int, Row]:
        if self._types is None:
            try:
                rows = self.client.time_accounting_types()
            except ExternalServiceError as error:
                # §1.1: types need admin.time_accounting and Zammad 6.0+; without them entries
                # keep their type id and the name stays unknown.
                if error.status not in (403, 404):
                    raise
                rows = []
            self._types = {row["id"]: row for row in rows if isinstance(row.get("id"), int)}
        return self._types

    # -- the time unit ----------------------------------------------------------------------------
    def time_unit(self) -> TimeUnit:
        """The configured unit, or Zammad's ``time_accounting_unit`` setting when "auto"."""
        if self._time_unit is None:
            self._time_unit = self._resolve_time_unit()
        return self._time_unit

    def _resolve_time_unit(self) -> TimeUnit:
        configured = self.settings.time_unit
        if configured != "auto":
            return self._unit(configured, "connection settings")
        try:
            values = self.client.setting_values()
        except ExternalServiceError as error:
            if error.status != 403:
                raise
            values = {}
        name = values.get("time_accounting_unit")
        if not isinstance(name, str) or "time_accounting_unit" not in values:
            raise ExternalServiceError(
                "This Zammad token may not read the time unit setting (it needs "
                "admin.time_accounting): choose the unit in the connection settings",
                permanent=True,
                service="Zammad",
            )
        if name == "":
            raise ExternalServiceError(
                "Zammad has no time unit set (time_accounting_unit is empty): choose minutes, "
                "quarter-hours, hours or a custom length in the connection settings",
                permanent=True,
                service="Zammad",
            )
        return self._unit(name, "Zammad setting")

    def _unit(self, name: str, origin: str) -> TimeUnit:
        if name == "custom":
            minutes = self.settings.custom_unit_minutes
            if minutes is None:
                raise ExternalServiceError(
                    "Zammad counts time in a custom unit: enter how many minutes one unit is "
                    "in the connection settings",
                    permanent=True,
                    service="Zammad",
                )
            return TimeUnit("custom", minutes, origin)
        if name not in MINUTES_PER_UNIT:
            raise ExternalServiceError(
                f"Zammad's time unit {name!r} is unknown to us: choose the unit in the "
                "connection settings",
                permanent=True,
                service="Zammad",
            )
        return TimeUnit(name, MINUTES_PER_UNIT[name], origin)

    # -- reference data ---------------------------------------------------------------------------
    def fetch_reference_data(self) -> ReferenceData:
        users = tuple(
            ReferenceUser(
                id=str(row["id"]),
                username=str(row.get("login") or row.get("email") or row["id"]),
                email=row.get("email") or None,
                name=_full_name(row),
                active=bool(row.get("active", True)),
            )
            for row in self._users.all()
        )
        customers = tuple(
            ReferenceCustomer(
                id=str(row["id"]), name=str(row.get("name")), visible=bool(row.get("active", True))
            )
            for row in self._organizations.all()
        )
        activities = tuple(
            ReferenceActivity(
                id=str(row["id"]), name=str(row.get("name")), visible=bool(row.get("active", True))
            )
            for row in self._activity_types().values()
        )
        return ReferenceData(
            users=users, customers=customers, activities=activities, groups=self._groups()
        )

    def _groups(self) -> tuple[ReferenceGroup, ...]:
        """Every group, for rules on the ticket's group; none when the token may not list
        them (then the groups seen on tickets are all the editor offers)."""
        try:
            rows = [row for page in self.client.group_pages() for row in page]
        except ExternalServiceError as error:
            if error.status in (401, 403):
                return ()
            raise
        return tuple(
            ReferenceGroup(
                id=str(row["id"]), name=str(row.get("name")), visible=bool(row.get("active", True))
            )
            for row in rows
            if "id" in row
        )

    # -- connection check -------------------------------------------------------------------------
    def check(self) -> CheckReport:
        report = CheckReportDraft(self.kind, self.role, display_url(self.client.http.base_url))
        try:
            self._check(report)
        except ExternalServiceError as error:
            report.failed(error)
        return report.finish(self.request_count)

    def _check(self, report: CheckReportDraft) -> None:
        me = self.client.current_user()
        report.reachable = report.authenticated = True
        report.identity = _identity(me)
        try:
            report.version = self.client.version()
        except ExternalServiceError as error:
            if error.status not in (401, 403, 404):
                raise
            report.facts["version"] = "unknown: reading it needs the admin permission"

        route = self.client.global_route()
        report.permission(
            "read tickets",
            self._may_read_tickets(),
            "This Zammad token cannot read tickets: give it the ticket.agent permission and its "
            "user read access to the groups whose time should be synced",
            required=True,
        )
        report.permission(
            "read users and organizations",
            self._may_read_users(me),
            "This Zammad token cannot read other users: give it ticket.agent (or admin.user), "
            "or agents cannot be matched to Kimai users",
            required=True,
        )
        report.permission(
            "list all time accountings at once",
            route == "available",
            (
                "This Zammad has no global time accounting list (it is older than 6.1): the sync "
                "reads time ticket by ticket, which is slower and misses edits that change only "
                "the activity type"
                if route == "missing"
                else "This Zammad token cannot list all time accountings: give it "
                "admin.time_accounting, or the sync reads ticket by ticket, which is slower and "
                "misses edits that change only the activity type"
            ),
            required=False,
        )
        report.facts["change detection"] = (
            "global time accounting list" if route == "available" else "ticket by ticket"
        )

        types_ok = _allowed(self.client.time_accounting_types)
        report.permission(
            "read activity types",
            types_ok,
            "This Zammad token cannot read time accounting types (needs admin.time_accounting "
            "and Zammad 6.0+): entries will carry a type id but no type name",
            required=False,
        )
        if types_ok:
            report.reference_counts["activity types"] = len(self._activity_types())

        try:
            unit = self.time_unit()
        except ExternalServiceError as error:
            report.permission("know the time unit", False, error.message, required=True)
        else:
            report.facts["time unit"] = f"{_unit_label(unit)} (from the {unit.origin})"
            report.permission("know the time unit", True, "", required=True)
            self._compare_with_zammad_unit(report, unit)

    def _compare_with_zammad_unit(self, report: CheckReportDraft, unit: TimeUnit) -> None:
        """A unit chosen in the settings that disagrees with Zammad's label is worth a warning."""
        if unit.origin != "connection settings":
            return
        try:
            zammad_unit = self.client.setting_values().get("time_accounting_unit")
        except ExternalServiceError as error:
            if error.status != 403:
                raise
            report.warnings.append(
                "This Zammad token may not read the time unit setting, so the unit chosen here "
                "cannot be compared with Zammad's"
            )
            return
        if isinstance(zammad_unit, str) and zammad_unit and zammad_unit != unit.name:
            report.warnings.append(
                f"Zammad labels time in {zammad_unit!r} but this connection converts "
                f"{unit.name!r}: check the unit, or every duration will be wrong"
            )

    def _may_read_tickets(self) -> bool:
        """Ticket lists answer 200 [] to a token without ticket.agent (§2.2), so ask for a
        ticket that has time on it when there is one: that answers 403 when access is lacking."""
        sample = self.client.sample_time_accounting
        if sample and isinstance(sample.get("ticket_id"), int):
            try:
                self.client.ticket(sample["ticket_id"])
            except ExternalServiceError as error:
                if error.status == 403:
                    return False
                if error.status != 404:
                    raise
            else:
                return True
        return _allowed(lambda: self.client.first_tickets(1))

    def _may_read_users(self, me: Row) -> bool:
        """Without ticket.agent or admin.user the user list holds only the caller (§2.2); with
        them it holds at least the system user "-" (id 1) too."""
        try:
            users = self.client.first_users(2)
        except ExternalServiceError as error:
            if error.status in (401, 403):
                return False
            raise
        return any(user.get("id") != me.get("id") for user in users)


def _allowed(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ExternalServiceError as error:
        if error.status in (401, 403, 404):
            return False
        raise
    return True


def _updated_at(row: Row) -> datetime:
    return parse_zammad_time(row["updated_at"])


def _full_name(user: Row) -> str | None:
    name = f"{user.get('firstname') or ''} {user.get('lastname') or ''}".strip()
    return name or None


def _identity(me: Row) -> str:
    name = _full_name(me)
    login = me.get("login") or me.get("email") or f"user {me.get('id')}"
    return f"{name} ({login})" if name else str(login)


def _unit_label(unit: TimeUnit) -> str:
    if unit.name == "custom":
        return f"custom unit of {unit.minutes.normalize()} minutes"
    return {"minute": "minutes", "quarter": "quarter-hours", "hour": "hours"}[unit.name]
