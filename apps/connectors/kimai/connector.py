"""Kimai as a target: timesheets read, created, updated and deleted as :class:`TimeEntry`.

Section numbers (§) refer to ``docs/reference/kimai-api.md``.

Time zones are the trap here (§6): Kimai reads wall-clock times without an offset, and in a
different zone per call. Query filters and POST bodies are read in the *API user's* zone (even
when booking for someone else); a PATCH body is read in the *record's* zone, which is its owner's.
Responses carry an offset, so reading back is always exact.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
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
    ReferenceProject,
    ReferenceUser,
    TargetConnector,
    TimesheetDraft,
    validate_marker,
)
from apps.connectors.entry import ActivityRef, AgentRef, OrganizationRef, ProjectRef, TimeEntry
from apps.connectors.http import ExternalServiceError, OutboundHttpClient, display_url
from apps.connectors.kimai.client import (
    ROOT,
    KimaiClient,
    Row,
    form_time,
    local_time,
    parse_kimai_time,
)
from apps.connectors.kimai.config import KimaiSettings
from apps.connectors.paging import read_ahead

logger = structlog.get_logger(__name__)

ROLE_RANK = {"ROLE_USER": 0, "ROLE_TEAMLEAD": 1, "ROLE_ADMIN": 2, "ROLE_SUPER_ADMIN": 3}
TEAMLEAD, ADMIN = 1, 2
EXTRA_FIELDS = "This form should not contain extra fields."
TAG_NAME_LENGTH = range(2, 101)  # §8: names are 2–100 characters, no comma
# A DST fall-back hour is ambiguous in wall-clock time, and Kimai resolves it to the earlier
# instant; widening the listing filters by this much (and filtering exactly here) misses nothing.
FILTER_SLACK = timedelta(hours=1)


class KimaiConnector(TargetConnector):
    kind = "kimai"
    contract_version = CONTRACT_VERSION
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.TIMESHEETS_IN_WINDOW,
            Capability.CREATE_TIMESHEET,
            Capability.UPDATE_TIMESHEET,
            Capability.DELETE_TIMESHEET,
            Capability.SEARCH_BY_MARKER,
            Capability.REFERENCE_DATA,
        }
    )
    settings_model = KimaiSettings
    settings: KimaiSettings

    def _open_http(
        self,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
    ) -> OutboundHttpClient:
        self.client = KimaiClient(
            base_url, token, tuning=self.settings.http, transport=transport, sleep=sleep
        )
        return self.client.http

    def forget_lookups(self) -> None:
        self._me: Row | None = None
        self._version: Row | None = None
        self._tags: dict[str, str] | None = None  # casefolded name → Kimai's spelling
        # A run writes on several threads through one connector: one of them creates a missing
        # tag while the others wait for it, so Kimai gets one POST per tag, not one per thread.
        self._tags_lock = threading.Lock()
        self._users_forbidden = False
        self._reference: ReferenceData | None = None
        self._customer_template: Row | None = None
        self._users: dict[int, ReferenceUser] = {}
        self._projects: dict[int, ReferenceProject] = {}
        self._customers: dict[int, ReferenceCustomer] = {}
        self._activities: dict[int, ReferenceActivity] = {}
        self._owner_of: dict[int, int] = {}  # timesheet id → user id

    # -- the API user ------------------------------------------------------------------------------
    def me(self) -> Row:
        if self._me is None:
            self._me = self.client.me()
            self._remember_user(self._me)
        return self._me

    def version_id(self) -> int:
        """Kimai's ``versionId`` (2.66.0 → 26600): compare it, never the version string (§8)."""
        if self._version is None:
            self._version = self.client.version()
        value = self._version.get("versionId")
        return value if isinstance(value, int) else 0

    def caller_timezone(self) -> str:
        return str(self.me().get("timezone") or "UTC")

    def caller_rank(self) -> int:
        roles = self.me().get("roles") or []
        return max((ROLE_RANK.get(str(role), 0) for role in roles), default=0)

    # -- reading -----------------------------------------------------------------------------------
    def fetch_timesheets_in_window(self, start: datetime, end: datetime) -> Iterator[TimeEntry]:
        zone = self.caller_timezone()
        filters = {
            # §5: without `user` even an admin gets only their own records.
            "user": "all",
            # §5: exactly Y-m-d\TH:i:s in the API user's zone; `end` filters on begin too.
            "begin": local_time(start - FILTER_SLACK, zone),
            "end": local_time(end + FILTER_SLACK, zone),
            "orderBy": "begin",
            "order": "ASC",
            "full": "true",
        }
        seen: set[int] = set()
        # The next page is on its way while this one is read.
        for page in read_ahead(self.client.timesheet_pages(filters, self.settings.page_size)):
            for row in page:
                if row["id"] in seen:  # records inserted while we page shift the pages
                    continue
                seen.add(row["id"])
                entry = self._entry(row)
                if start <= entry.booked_at < end:
                    yield entry

    def search_by_marker(self, marker: str) -> list[TimeEntry]:
        """§5: ``term`` is split on whitespace and matched with LIKE, so ``abc-1`` also finds
        ``abc-12``; only descriptions holding the marker as a whole word count."""
        validate_marker(marker)
        whole_word = re.compile(rf"(?<![A-Za-z0-9-]){re.escape(marker)}(?![A-Za-z0-9-])")
        filters = {"user": "all", "term": marker, "orderBy": "id", "order": "ASC", "full": "true"}
        found: dict[int, TimeEntry] = {}
        for page in self.client.timesheet_pages(filters, self.settings.page_size):
            for row in page:
                if whole_word.search(row.get("description") or ""):
                    found[row["id"]] = self._entry(row)
        return list(found.values())

    # -- writing -----------------------------------------------------------------------------------
    def create_timesheet(self, draft: TimesheetDraft) -> TimeEntry:
        # §6: a POST is read in the caller's zone, also when booking for someone else.
        body = self._timesheet_body(draft, self.caller_timezone(), creating=True)
        try:
            row = self.client.create_timesheet(body)
        except ExternalServiceError as error:
            raise self._explain_refusal(error, body) from error
        return self._entry(row)

    def update_timesheet(self, timesheet_id: str, draft: TimesheetDraft) -> TimeEntry:
        # §6: a PATCH is read in the record's own zone, which is its owner's.
        record_id = int(timesheet_id)
        body = self._timesheet_body(draft, self._record_timezone(record_id), creating=False)
        try:
            row = self.client.update_timesheet(record_id, body)
        except ExternalServiceError as error:
            raise self._explain_refusal(error, body) from error
        return self._entry(row)

    def delete_timesheet(self, timesheet_id: str) -> bool:
        """True when deleted now, False when it was already gone (so retries are harmless)."""
        try:
            self.client.delete_timesheet(int(timesheet_id))
        except ExternalServiceError as error:
            if error.status == 404:
                return False
            raise
        self._owner_of.pop(int(timesheet_id), None)
        return True

    def _timesheet_body(self, draft: TimesheetDraft, zone: str, *, creating: bool) -> Row:
        # §6 Rounding: Kimai floors begin and ceils end to the minute; sending whole minutes
        # (seconds :00) keeps the duration what we meant. The end is counted on from the begin
        # in UTC: adding to a wall-clock time would gain or lose an hour across a DST change.
        begin = draft.begin.astimezone(UTC).replace(second=0, microsecond=0)
        minutes = (Decimal(draft.duration_seconds) / 60).quantize(Decimal(1), ROUND_HALF_UP)
        end = begin + timedelta(minutes=int(minutes))  # always an end: no end means "running"
        body: Row = {
            "begin": form_time(begin, zone),
            "end": form_time(end, zone),
            "project": int(draft.project_id),
            "activity": int(draft.activity_id),
            "description": draft.description,
            # §6 Tags: one comma-separated string; a JSON array is "This value is not valid."
            "tags": ",".join(self._ensure_tags(draft.tags)),
        }
        if draft.billable is not None:
            # §6 Billable: only a JSON boolean means what it says ("false" reads as true).
            body["billable"] = bool(draft.billable)
        # §6: ROLE_USER has no `user` field on POST; booking for oneself needs none.
        for_someone_else = str(draft.user_id) != str(self.me().get("id"))
        if draft.user_id is not None and (for_someone_else or not creating):
            body["user"] = int(draft.user_id)
        return body

    def _ensure_tags(self, tags: Iterable[str]) -> list[str]:
        """Kimai's spelling of each tag, creating missing ones first: since 2.14 the API drops
        unknown tag names without a word (§6 Tags, §10)."""
        names = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        bad = [n for n in names if "," in n or len(n) not in TAG_NAME_LENGTH]
        if bad:
            raise ExternalServiceError(
                f"Kimai cannot store the tags {', '.join(map(repr, bad))}: tag names are 2 to "
                "100 characters without commas",
                permanent=True,
                field_errors={"tags": [f"Invalid tag name: {name!r}" for name in bad]},
                service="Kimai",
            )
        with self._tags_lock:
            known = self._known_tags()
            result: list[str] = []
            for name in names:
                existing = known.get(name.casefold())
                if existing is None:
                    existing = self._create_tag(name)
                    known[name.casefold()] = existing
                result.append(existing)
        return result

    def _create_tag(self, name: str) -> str:
        if not self.settings.create_missing_tags:
            raise ExternalServiceError(
                f"Kimai has no tag {name!r} and this connection may not create tags",
                permanent=True,
                field_errors={"tags": [f"Unknown tag: {name!r}"]},
                service="Kimai",
            )
        try:
            created = self.client.create_tag(name)
        except ExternalServiceError as error:
            # A tag we could not list (hidden) or one created meanwhile: the name is taken, and
            # Kimai attaches tags by name whatever their visibility (§6 Tags).
            if error.status == 400 and "name" in error.field_errors:
                return name
            raise
        logger.info("kimai_tag_created", tag=name, tag_id=created.get("id"))
        return str(created.get("name") or name)

    def _known_tags(self) -> dict[str, str]:
        if self._tags is None:
            self._tags = {name.casefold(): name for name in self.client.tag_names()}
        return self._tags

    def _explain_refusal(self, error: ExternalServiceError, body: Row) -> ExternalServiceError:
        """Turn "extra fields" into what to do about it (§6: fields depend on permissions)."""
        if EXTRA_FIELDS not in error.field_errors.get(ROOT, []):
            return error
        gated = [name for name in ("user", "billable") if name in body]
        if not gated:
            return error
        advice = (
            f"Kimai refused the fields {' and '.join(gated)}: this Kimai token can only book its "
            "own time and cannot set billable: give its user the Teamlead role"
        )
        return ExternalServiceError(
            f"{advice} ({error.message})",
            error.status,
            permanent=True,
            body=error.body,
            field_errors=error.field_errors,
            service=error.service,
        )

    def _record_timezone(self, timesheet_id: int) -> str:
        owner = self._owner_of.get(timesheet_id)
        if owner is None:
            row = self.client.timesheet(timesheet_id)
            owner = _ref_id(row.get("user"))
            if owner is None:
                raise ExternalServiceError(
                    f"Kimai did not say who owns timesheet {timesheet_id}",
                    permanent=True,
                    body=row,
                    service="Kimai",
                )
            self._owner_of[timesheet_id] = owner
        return self._timezone_of_user(owner)

    def _timezone_of_user(self, user_id: int) -> str:
        self.me()
        known = self._users.get(user_id)
        if known is None or not known.timezone:
            # Users are listed only with `view_user` (Super-Admins); the user object inside an
            # expanded timesheet carries the time zone for anyone who may see the record.
            filters = {"user": "all", "users[]": user_id, "full": "true", "orderBy": "id"}
            for page in self.client.timesheet_pages(filters, 1):
                for row in page:
                    self._entry(row)
                break
            known = self._users.get(user_id)
        if known is None or not known.timezone:
            raise ExternalServiceError(
                f"Cannot tell the time zone of Kimai user {user_id}, so a changed time would be "
                "read wrongly: give the token's user the Admin role",
                permanent=True,
                service="Kimai",
            )
        return known.timezone

    # -- normalizing -------------------------------------------------------------------------------
    def _entry(self, row: Row) -> TimeEntry:
        """A timesheet, plain (ids) or expanded (``full=true``: objects), as a TimeEntry."""
        user_id = self._remember_user(row.get("user"))
        project = self._project(row.get("project"))
        activity = self._activity(row.get("activity"))
        begin = parse_kimai_time(row["begin"])
        end = parse_kimai_time(row["end"]) if row.get("end") else None
        if user_id is not None:
            self._owner_of[int(row["id"])] = user_id
        user = self._users.get(user_id) if user_id is not None else None
        customer = (
            self._customers.get(int(project.customer_id))
            if project and project.customer_id
            else None
        )
        billable = row.get("billable")
        return TimeEntry(
            source_kind=self.kind,
            connection_id=self.connection_id,
            external_id=str(row["id"]),
            booked_at=begin,
            duration_seconds=int(row.get("duration") or 0),  # running: end null, duration 0
            organization=OrganizationRef(id=customer.id, name=customer.name) if customer else None,
            agent=(
                AgentRef(id=str(user_id), email=user.email if user else None, name=_name(user))
                if user_id is not None
                else None
            ),
            activity=ActivityRef(id=activity.id, name=activity.name) if activity else None,
            project=ProjectRef(id=project.id, name=project.name) if project else None,
            begin=begin,
            end=end,
            description=row.get("description"),
            billable=billable if isinstance(billable, bool) else None,
            tags=tuple(str(tag) for tag in row.get("tags") or ()),
        )

    def _remember_user(self, value: Any) -> int | None:
        if isinstance(value, dict) and isinstance(value.get("id"), int):
            self._users[value["id"]] = _reference_user(value)
            return int(value["id"])
        return value if isinstance(value, int) else None

    def _project(self, value: Any) -> ReferenceProject | None:
        if isinstance(value, dict) and isinstance(value.get("id"), int):
            customer = value.get("customer")
            if isinstance(customer, dict) and isinstance(customer.get("id"), int):
                self._customers[customer["id"]] = _reference_customer(customer)
            project = _reference_project(value)
            self._projects[value["id"]] = project
            return project
        if isinstance(value, int):
            if value not in self._projects:
                self._load_reference_lists()
            return self._projects.get(value) or ReferenceProject(str(value), "", "")
        return None

    def _activity(self, value: Any) -> ReferenceActivity | None:
        if isinstance(value, dict) and isinstance(value.get("id"), int):
            activity = _reference_activity(value)
            self._activities[value["id"]] = activity
            return activity
        if isinstance(value, int):
            if value not in self._activities:
                self._load_reference_lists()
            return self._activities.get(value) or ReferenceActivity(str(value), "")
        return None

    # -- reference data ----------------------------------------------------------------------------
    def _load_reference_lists(self) -> None:
        if self._reference is not None:
            return
        customer_rows = self.client.customers()
        # create_customer copies country, currency and zone from an existing customer (§11).
        self._customer_template = customer_rows[0] if customer_rows else {}
        customers = tuple(_reference_customer(row) for row in customer_rows)
        projects = tuple(_reference_project(row) for row in self.client.projects())
        activities = tuple(_reference_activity(row) for row in self.client.activities())
        self._customers.update({int(c.id): c for c in customers})
        self._projects.update({int(p.id): p for p in projects})
        self._activities.update({int(a.id): a for a in activities})
        self._reference = ReferenceData(
            customers=customers, projects=projects, activities=activities
        )

    def fetch_reference_data(self) -> ReferenceData:
        """Everything, hidden records included. ``users`` is empty when the token may not list
        users (``view_user``: Super-Admins only by default); ``check()`` says so."""
        self.me()
        self._load_reference_lists()
        assert self._reference is not None
        try:
            users = tuple(_reference_user(row) for row in self.client.users())
        except ExternalServiceError as error:
            if error.status != 403:
                raise
            self._users_forbidden = True
            users = ()
        self._users.update({int(u.id): u for u in users})
        tags = tuple(sorted(self._known_tags().values(), key=str.casefold))
        return ReferenceData(
            users=users,
            customers=self._reference.customers,
            projects=self._reference.projects,
            activities=self._reference.activities,
            tags=tags,
        )

    # -- customers and projects the sync creates (rules "one project per organization/ticket") --
    def create_customer(self, name: str) -> ReferenceCustomer:
        """A visible, billable customer. §11 "Portable requests": country, currency and time zone
        are sent explicitly (before 2.63 a POST cleared left-out fields), copied from an existing
        customer when there is one."""
        template = self._customer_template
        if template is None:  # the reference lists were not read yet
            template = next(iter(self.client.customers()), {})
        body = {
            "name": name,
            "country": template.get("country") or "DE",
            "currency": template.get("currency") or "EUR",
            "timezone": template.get("timezone") or self.caller_timezone(),
            "visible": True,
            "billable": True,
        }
        customer = _reference_customer(self.client.create_customer(body))
        self._customers[int(customer.id)] = customer
        return customer

    def create_project(
        self, name: str, customer_id: str, *, global_activities: bool = True
    ) -> ReferenceProject:
        """A visible, billable project; checkboxes as JSON booleans (§11 "Checkboxes")."""
        body = {
            "name": name,
            "customer": int(customer_id),
            "visible": True,
            "billable": True,
            "globalActivities": global_activities,
        }
        project = _reference_project(self.client.create_project(body))
        self._projects[int(project.id)] = project
        return project

    # -- connection check --------------------------------------------------------------------------
    def check(self) -> CheckReport:
        report = CheckReportDraft(self.kind, self.role, display_url(self.client.http.base_url))
        try:
            self._check(report)
        except ExternalServiceError as error:
            report.failed(error)
        return report.finish(self.request_count)

    def _check(self, report: CheckReportDraft) -> None:
        me = self.me()
        report.reachable = report.authenticated = True
        name = me.get("alias") or me.get("username")
        report.identity = f"{name} ({me.get('email')})" if me.get("email") else str(name)
        report.facts["time zone"] = self.caller_timezone()
        version_id = self.version_id()
        assert self._version is not None
        report.version = str(self._version.get("version") or "") or None
        report.facts["version id"] = str(version_id)

        rank = self.caller_rank()
        roles = ", ".join(str(r) for r in me.get("roles") or []) or "ROLE_USER"
        report.facts["roles"] = roles
        # §4: the defaults of each role; an administrator may have changed them.
        report.permission(
            "book time for other users",
            rank >= TEAMLEAD,
            "This Kimai token can only book its own time: give its user the Teamlead role "
            "(members of teams it leads) or the Admin role (everyone)",
            required=True,
        )
        report.permission(
            "set billable",
            rank >= TEAMLEAD,
            "This Kimai token cannot set billable: give its user the Teamlead role or higher",
            required=False,
        )
        report.permission(
            "see every user's timesheets",
            rank >= ADMIN,
            "This Kimai token sees only its own timesheets and those of teams it leads: give its "
            "user the Admin role so the sync can find and reconcile every timesheet",
            required=False,
        )
        report.permission(
            "correct exported timesheets",
            rank >= ADMIN,
            "This Kimai token cannot change or delete exported (invoiced) timesheets: give its "
            "user the Admin role, or such corrections will show up as conflicts",
            required=False,
        )
        reference = self.fetch_reference_data()
        report.permission(
            "list users",
            not self._users_forbidden,
            "This Kimai token cannot list users (needs view_user, which only Super-Admins have "
            "by default): give its user the Super-Admin role or grant view_user to its role, or "
            "Zammad agents cannot be matched to Kimai users by e-mail",
            required=False,
        )
        report.reference_counts.update(reference.counts())
        if self._users_forbidden:
            del report.reference_counts["users"]


def _ref_id(value: Any) -> int | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, int) else None


def _name(user: ReferenceUser | None) -> str | None:
    return user.name if user else None


def _reference_user(row: Row) -> ReferenceUser:
    return ReferenceUser(
        id=str(row["id"]),
        username=str(row.get("username") or row["id"]),
        email=row.get("email") or None,
        name=row.get("alias") or row.get("username") or None,
        timezone=row.get("timezone") or None,
        active=bool(row.get("enabled", True)),
    )


def _reference_customer(row: Row) -> ReferenceCustomer:
    billable = row.get("billable")
    return ReferenceCustomer(
        id=str(row["id"]),
        name=str(row.get("name") or ""),
        visible=bool(row.get("visible", True)),
        billable=billable if isinstance(billable, bool) else None,
    )


def _reference_project(row: Row) -> ReferenceProject:
    customer = row.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    billable = row.get("billable")
    return ReferenceProject(
        id=str(row["id"]),
        name=str(row.get("name") or ""),
        customer_id=str(customer_id) if customer_id is not None else "",
        visible=bool(row.get("visible", True)),
        billable=billable if isinstance(billable, bool) else None,
        global_activities=bool(row.get("globalActivities", True)),
    )


def _reference_activity(row: Row) -> ReferenceActivity:
    project = row.get("project")
    project_id = project.get("id") if isinstance(project, dict) else project
    billable = row.get("billable")
    return ReferenceActivity(
        id=str(row["id"]),
        name=str(row.get("name") or ""),
        project_id=str(project_id) if project_id is not None else None,
        visible=bool(row.get("visible", True)),
        billable=billable if isinstance(billable, bool) else None,
    )
