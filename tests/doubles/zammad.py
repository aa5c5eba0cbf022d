"""A Zammad 6.x test double: REST API and outgoing trigger webhooks.

It copies the behaviour written down in ``docs/reference/zammad-api.md`` (cited below as §n.n),
checked against the Zammad source where the reference was silent. Every quirk carries a comment
naming its section, so a passing client is a correct client.

In tests::

    double = ZammadDouble(now=ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC)))
    seed_from_dataset(double, demo_dataset())
    client = httpx.Client(
        transport=double.transport(),
        base_url="http://zammad.test",
        headers={"Authorization": f"Token token={dataset.zammad_token}"},
    )

Standalone, for the demo, browser and process tests (serves on 127.0.0.1 until Ctrl-C, prints
the base URL and the seeded API token)::

    python -m tests.doubles.zammad --port 8082 [--latency-ms 20] [--seed demo|empty]
        [--webhook-url URL --webhook-secret S] [--search-format 6.5|6.0] [--early-6-0]

Test-only control endpoints (no authentication; namespaced under ``/__double__/`` so no real
Zammad route can collide). They act like an agent working in the Zammad UI: timestamps move and
webhooks fire exactly as for :meth:`ZammadDouble.book_time` and friends::

    POST /__double__/book    {"ticket_id": 50, "agent": 3 or "chris@chrispresso.com",
                              "time_unit": "15", "type_id": 1, "article": true}  -> 201 entry
    POST /__double__/edit    {"id": 7, "time_unit": "20", "type_id": 2}           -> 200 entry
    POST /__double__/delete  {"id": 7}                                           -> 200 {}
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx

from apps.connectors.testkit.double import stop_on_signals
from tests.doubles.base import Double, RecordedRequest, Reply
from tests.doubles.indexed import TracksChanges
from tests.doubles.zammad_index import GroupedTable, TicketTable

if TYPE_CHECKING:
    from tests.doubles.dataset import Dataset

SYSTEM_USER_ID = 1  # the system user "-": owner_id 1 means unassigned (§2.1)
ROLE_ADMIN, ROLE_AGENT, ROLE_CUSTOMER = 1, 2, 3
ACCESS_LEVELS = ("read", "create", "change", "overview", "full")
DEFAULT_SYNC_TOKEN_PERMISSIONS = ("admin.time_accounting", "ticket.agent")  # §3 recommendation
# The demo data set's token, as an admin typically creates it: "admin" grants admin.time_accounting,
# admin.version (GET /api/v1/version) and admin.system (timezone_default) through the ancestry.
DEMO_TOKEN_PERMISSIONS = ("admin", "ticket.agent")
MAX_DECIMAL = Decimal("9999.99")  # decimal(6,2) (§1.1, §5.5)
JSON_TYPE = "application/json; charset=utf-8"
WEBHOOK_ATTEMPTS = 5  # retry_on attempts: 5, wait: executions * 10 s (§4.2)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
UNSET: Any = object()

STATES = {1: "new", 2: "open", 3: "pending reminder", 4: "closed", 5: "merged", 6: "pending close"}
PRIORITIES = {1: "1 low", 2: "2 normal", 3: "3 high"}
ARTICLE_TYPES = {1: "email", 5: "phone", 10: "note", 11: "web"}
ARTICLE_SENDERS = {1: "Agent", 2: "Customer", 3: "System"}
WebhookMode = Literal["always", "selective"]
TA_ADMIN = "admin.time_accounting"
# name, title, area, initial value, permission (db/seeds/settings.rb; §1.2)
DEFAULT_SETTINGS: tuple[tuple[str, str, str, Any, str], ...] = (
    ("time_accounting", "Time Accounting", "Web::Base", True, TA_ADMIN),
    ("time_accounting_unit", "Time Accounting Unit", "Web::Base", "", TA_ADMIN),
    ("time_accounting_unit_custom", "Time Accounting Custom Unit", "Web::Base", "", TA_ADMIN),
    ("time_accounting_types", "Time Accounting Types", "Web::Base", False, TA_ADMIN),
    ("time_accounting_type_default", "Time Accounting Type Default", "Web::Base", "", TA_ADMIN),
    ("time_accounting_selector", "Time Accounting Selector", "Web::Base", {"condition": {}},
     TA_ADMIN),
    ("timezone_default", "Timezone", "System::Branding", "UTC", "admin.system"),
    ("fqdn", "Fully Qualified Domain Name", "System::Base", "zammad.example.com", "admin.system"),
    ("http_type", "HTTP type", "System::Base", "https", "admin.system"),
    ("api_token_access", "API Token Access", "API::Base", True, "admin.api"),
    ("product_name", "Product Name", "System::Branding", "Zammad Helpdesk", "admin.branding"),
)  # fmt: skip
SearchFormat = Literal["6.5", "6.0"]


# -- values as Rails renders them -------------------------------------------------------------
def format_decimal(value: Decimal | None) -> str | None:
    """BigDecimal as Rails puts it in JSON: a string, "15.0", "3.33", "0.0" (§1.3)."""
    if value is None:
        return None
    normalized = value.normalize()
    if normalized == normalized.to_integral_value():
        return f"{int(normalized)}.0"
    return format(normalized, "f")


def format_time(value: datetime | None) -> str | None:
    """timestamp(3) in UTC with milliseconds and Z: 2023-08-16T08:11:49.315Z (§1.3, §5.6)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    if value.year < 1000:  # strftime does not pad the year to four digits
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    # isoformat: the same text without strftime's cost (100,000 rows a listing at bench size)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def truncate_to_ms(value: datetime) -> datetime:
    # timestamp(3) columns; Rails truncates to the column precision (§1.1).
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


def ruby_to_i(value: Any) -> int:
    """Ruby's String#to_i: leading digits or 0 ("abc" -> 0, "12x" -> 12, "" -> 0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    match = re.match(r"\s*([+-]?\d+)", str(value))
    return int(match.group(1)) if match else 0


def is_present(value: Any) -> bool:
    """Rails' present?: not nil, false, empty or whitespace."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | dict | tuple):
        return bool(value)
    return True


def is_flag_on(value: Any) -> bool:
    # response_expand? / response_full?: anything given except false/"false" counts.
    return is_present(value) and value not in (False, "false")


def parse_time_unit(value: Any) -> Decimal | None:
    """Cast like ActiveModel::Type::Decimal with scale 2: "" -> nil, "abc" -> 0, 3.333 -> 3.33."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            match = re.match(r"[+-]?\d+(\.\d+)?", text)  # Ruby String#to_d
            number = Decimal(match.group(0)) if match else Decimal(0)
        if not number.is_finite():
            return Decimal(0)
    else:
        number = Decimal(str(value))
    return number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ruby_json(payload: Any) -> bytes:
    """``payload.to_json`` as ActiveSupport writes it: compact, UTF-8, HTML-safe (§4.2).

    ActiveSupport escapes <, > and & (escape_html_entities_in_json) and U+2028/9, so the
    signature must be checked against the raw bytes, never against a re-serialisation.
    """
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode()


class ManualClock:
    """An injectable clock for ``ZammadDouble(now=...)``; tests move it with :meth:`advance`."""

    def __init__(self, start: datetime) -> None:
        self.current = start.astimezone(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.current

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self.current += timedelta(**delta)
            return self.current


# -- errors -----------------------------------------------------------------------------------
class ZammadError(Exception):
    """An error answered the way ApplicationController::HandlesErrors renders it (§2.4)."""

    def __init__(
        self,
        status: int,
        error: str,
        error_human: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.error_human = error_human
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.error_human is not None:
            body["error_human"] = self.error_human
        return body


def not_authorized(message: str | None = None) -> ZammadError:
    # 403 with X-Failure (§2.4). A policy that just says no gives "Not authorized".
    text = message or "Not authorized"
    return ZammadError(403, text, text, {"X-Failure": text})


def unauthorized(message: str) -> ZammadError:
    return ZammadError(401, message, message, {"X-Failure": message})


def record_not_found(model: str, record_id: Any, scope: str = "") -> ZammadError:
    # 404 for ActiveRecord::RecordNotFound (§2.4); the message is Rails' own.
    if record_id is None or record_id == "":
        message = f"Couldn't find {model} without an ID"
    else:
        message = f"Couldn't find {model} with 'id'={record_id}{scope}"
    return ZammadError(404, message, message)


def validation_failed(message: str) -> ZammadError:
    # RecordInvalid: "Validation failed: X" is humanised to X (§2.4).
    return ZammadError(422, message, message)


def routing_error() -> ZammadError:
    # Unknown routes go to errors#routing (app/controllers/errors_controller.rb), before any
    # authentication: this is what early 6.0 answers for /api/v1/time_accountings (§1.3, §5.9).
    message = "This page doesn't exist."
    return ZammadError(404, message, message)


# -- state ------------------------------------------------------------------------------------
@dataclass
class Role:
    id: int
    name: str
    permissions: list[str]


@dataclass
class User:
    id: int
    login: str
    firstname: str
    lastname: str
    email: str
    organization_id: int | None
    active: bool
    role_ids: list[int]
    # group_id -> access levels; None means "full" on every group (a convenience for tests)
    group_access: dict[int, list[str]] | None
    created_at: datetime
    updated_at: datetime
    password: str = ""  # stored like Zammad's hash, never rendered (§2.2)
    vip: bool = False
    created_by_id: int = SYSTEM_USER_ID
    updated_by_id: int = SYSTEM_USER_ID

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}".strip()


@dataclass
class Token:
    token: str
    user_id: int
    permissions: list[str]
    expires_at: date | None = None
    last_used_at: datetime | None = None


@dataclass
class Organization:
    id: int
    name: str
    shared: bool
    domain: str
    active: bool
    note: str
    created_at: datetime
    updated_at: datetime
    vip: bool = False
    created_by_id: int = SYSTEM_USER_ID
    updated_by_id: int = SYSTEM_USER_ID


@dataclass
class Group:
    id: int
    name: str
    active: bool
    note: str
    created_at: datetime
    updated_at: datetime
    created_by_id: int = SYSTEM_USER_ID
    updated_by_id: int = SYSTEM_USER_ID


@dataclass
class Ticket:
    id: int
    number: str
    title: str
    group_id: int
    organization_id: int | None
    customer_id: int
    owner_id: int
    state_id: int
    priority_id: int
    time_unit: Decimal | None
    created_at: datetime
    updated_at: datetime
    created_by_id: int
    updated_by_id: int
    tags: list[str] = field(default_factory=list)
    note: str | None = None
    pending_time: datetime | None = None
    create_article_type_id: int | None = None
    create_article_sender_id: int | None = None
    last_contact_at: datetime | None = None
    last_contact_agent_at: datetime | None = None
    last_contact_customer_at: datetime | None = None
    preferences: dict[str, Any] = field(default_factory=dict)


@dataclass
class Article(TracksChanges):
    id: int
    ticket_id: int
    type_id: int
    sender_id: int
    from_: str
    subject: str | None
    body: str
    content_type: str
    internal: bool
    created_by_id: int
    updated_by_id: int
    created_at: datetime
    updated_at: datetime


@dataclass
class TimeAccounting(TracksChanges):
    id: int
    ticket_id: int
    ticket_article_id: int | None
    time_unit: Decimal
    type_id: int | None
    created_by_id: int
    created_at: datetime
    updated_at: datetime


@dataclass
class TimeAccountingType:
    id: int
    name: str
    note: str
    active: bool
    created_by_id: int
    updated_by_id: int
    created_at: datetime
    updated_at: datetime


@dataclass
class Setting:
    id: int
    name: str
    title: str
    area: str
    value: Any
    permission: list[str]
    created_at: datetime
    updated_at: datetime
    frontend: bool = True


@dataclass
class Webhook:
    id: int
    endpoint: str
    signature_token: str | None
    trigger_name: str
    execution_mode: WebhookMode
    active: bool


@dataclass
class WebhookAttempt:
    delivery_id: str
    attempt: int
    webhook_id: int
    url: str
    status: int | None  # None when no answer came (timeout, connection error)
    error: str | None
    headers: dict[str, str]
    body: bytes
    at: datetime

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Caller:
    """The authenticated user and their API token; permissions are intersected (§3)."""

    user: User
    token: Token
    user_permissions: list[str]
    # A caller lives for one request; a ticket search asks the same question per ticket.
    _answers: dict[Any, bool] = field(default_factory=dict, repr=False, compare=False)

    def can(self, query: str | Sequence[str]) -> bool:
        key = query if isinstance(query, str) else tuple(query)
        if key not in self._answers:
            # Token#permissions?: effective_user.permissions?(q) && token grants q (§3).
            self._answers[key] = _authorized(self.user_permissions, query) and _authorized(
                self.token.permissions, query
            )
        return self._answers[key]

    @property
    def user_is_admin(self) -> bool:
        # handles_errors shows internal messages only to users with "admin" (§2.4).
        return _authorized(self.user_permissions, "admin")


def _authorized(names: Sequence[str], query: str | Sequence[str]) -> bool:
    """Auth::Permissions: "a.b" is granted by "a" or "a.b"; "a.*" by any "a.x"; "+" means all."""
    queries = [query] if isinstance(query, str) else list(query)
    return any(all(_grants(names, part) for part in q.split("+")) for q in queries)


def _grants(names: Sequence[str], wanted: str) -> bool:
    if "." not in wanted:
        return wanted in names
    pieces = wanted.split(".")
    for depth in range(1, len(pieces) + 1):
        candidate = ".".join(pieces[:depth])
        if candidate.endswith(".*"):
            prefix = candidate[:-1]
            if any(name.startswith(prefix) for name in names):
                return True
        elif candidate in names:
            return True
    return False


Params = dict[str, Any]


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Reply]
    authenticate: bool = True
    available: Callable[[], bool] = lambda: True


TICKET_COLUMNS = (
    "id", "group_id", "priority_id", "state_id", "organization_id", "number", "title",
    "owner_id", "customer_id", "note", "first_response_at", "first_response_escalation_at",
    "first_response_in_min", "first_response_diff_in_min", "close_at", "close_escalation_at",
    "close_in_min", "close_diff_in_min", "update_escalation_at", "update_in_min",
    "update_diff_in_min", "last_close_at", "last_contact_at", "last_contact_agent_at",
    "last_contact_customer_at", "last_owner_update_at", "create_article_type_id",
    "create_article_sender_id", "article_count", "escalation_at", "pending_time", "type",
    "time_unit", "preferences", "updated_by_id", "created_by_id", "created_at", "updated_at",
)  # fmt: skip
TIME_ACCOUNTING_COLUMNS = (
    "id", "ticket_id", "ticket_article_id", "time_unit", "type_id", "created_by_id",
    "created_at", "updated_at",
)  # fmt: skip
SORTED_LISTINGS_KEPT = 8  # orders of GET time_accountings kept sorted at once
TYPE_COLUMNS = (
    "id", "name", "note", "active", "updated_by_id", "created_by_id", "created_at", "updated_at",
)  # fmt: skip
WEBHOOK_USER_BLACKLIST = (
    "last_login", "login_failed", "password", "preferences", "group_ids", "groups",
    "authorization_ids", "authorizations",
)  # fmt: skip


class ZammadDouble(Double):
    """Fake Zammad 6.x: state on ``self``, behaviour per the reference, webhooks in threads."""

    name = "zammad"

    def __init__(
        self,
        *,
        now: Callable[[], datetime] | None = None,
        version: str = "6.5.0",
        global_time_accountings_route: bool = True,
        search_response_format: SearchFormat = "6.5",
        webhook_retry_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.version = version
        # False simulates early 6.0: /api/v1/time_accountings* and the types routes 404 (§5.9).
        self.global_time_accountings_route = global_time_accountings_route
        self.search_response_format: SearchFormat = search_response_format
        self.webhook_retry_scale = webhook_retry_scale
        # open 4 s, read 30 s (§4.2); total 60 s is the client's pool/write limit here.
        self.webhook_timeout = httpx.Timeout(60.0, connect=4.0, read=30.0)

        self.roles: dict[int, Role] = {}
        self.users: dict[int, User] = {}
        self.tokens: dict[str, Token] = {}
        self.organizations: dict[int, Organization] = {}
        self.groups: dict[int, Group] = {}
        self.tickets = {}
        self.articles = {}
        # Dict order is the heap order: rows without a full ORDER BY come back in last-write
        # order, the way PostgreSQL returns ties after non-HOT updates (§5.7).
        self.time_accountings = {}
        # GET time_accountings sorted as asked, kept while the table is unchanged (its version).
        self._sorted_entries: dict[str, list[TimeAccounting]] = {}
        self._sorted_entries_version = -1
        self.time_accounting_types: dict[int, TimeAccountingType] = {}
        self.settings: dict[str, Setting] = {}
        self.webhooks: list[Webhook] = []
        self.webhook_attempts: list[WebhookAttempt] = []
        self.webhook_log: list[str] = []  # what TriggerWebhookJob would log: discards, inactive

        self._ids: dict[str, itertools.count[int]] = {}
        self._max_ids: dict[str, int] = {}
        self._events: dict[int, int | None] | None = None
        self._deliveries = threading.Condition()
        self._in_flight = 0
        self._closing = threading.Event()

        epoch = truncate_to_ms(self.now())
        self.roles = {
            ROLE_ADMIN: Role(ROLE_ADMIN, "Admin", ["admin", "user_preferences", "report"]),
            ROLE_AGENT: Role(
                ROLE_AGENT,
                "Agent",
                ["ticket.agent", "chat.agent", "cti.agent", "user_preferences"],
            ),
            ROLE_CUSTOMER: Role(ROLE_CUSTOMER, "Customer", ["ticket.customer", "user_preferences"]),
        }
        self._bump_ids("roles", 3)
        self.users[SYSTEM_USER_ID] = User(
            id=SYSTEM_USER_ID,
            login="-",
            firstname="-",
            lastname="",
            email="",
            organization_id=None,
            active=False,
            role_ids=[],
            group_access={},
            created_at=epoch,
            updated_at=epoch,
        )
        self._bump_ids("users", SYSTEM_USER_ID)
        for name, title, area, value, permission in DEFAULT_SETTINGS:
            setting_id = self._next_id("settings")
            self.settings[name] = Setting(
                setting_id, name, title, area, value, [permission], epoch, epoch
            )
        self._routes = self._build_routes()

    # -- tables grouped by ticket (tests/doubles/zammad_index.py) ----------------------------
    @property
    def tickets(self) -> TicketTable[Ticket]:
        return self._tickets

    @tickets.setter
    def tickets(self, rows: dict[int, Ticket]) -> None:
        self._tickets = TicketTable(rows)

    @property
    def articles(self) -> GroupedTable[Article]:
        return self._articles

    @articles.setter
    def articles(self, rows: dict[int, Article]) -> None:
        self._articles = GroupedTable(("ticket_id",), rows)

    @property
    def time_accountings(self) -> GroupedTable[TimeAccounting]:
        return self._time_accountings

    @time_accountings.setter
    def time_accountings(self, rows: dict[int, TimeAccounting]) -> None:
        self._time_accountings = GroupedTable(("ticket_id", "ticket_article_id"), rows)

    # -- ids and clock ----------------------------------------------------------------------
    def _next_id(self, table: str, wanted: int | None = None) -> int:
        if wanted is not None:
            self._bump_ids(table, wanted)
            return wanted
        new_id = self._max_ids.get(table, 0) + 1
        self._max_ids[table] = new_id
        return new_id

    def _bump_ids(self, table: str, used: int) -> None:
        self._max_ids[table] = max(self._max_ids.get(table, 0), used)

    def _stamp(self, at: datetime | None = None) -> datetime:
        return truncate_to_ms(at or self.now())

    # == agent actions ======================================================================
    def add_role(self, name: str, permissions: Iterable[str]) -> Role:
        with self.lock:
            role = Role(self._next_id("roles"), name, list(permissions))
            self.roles[role.id] = role
            return role

    def add_organization(
        self,
        name: str,
        *,
        id: int | None = None,  # noqa: A002 - Zammad's column name
        shared: bool = True,
        domain: str = "",
        active: bool = True,
        note: str = "",
        at: datetime | None = None,
    ) -> Organization:
        with self.lock:
            stamp = self._stamp(at)
            org = Organization(
                self._next_id("organizations", id), name, shared, domain, active, note, stamp, stamp
            )
            self.organizations[org.id] = org
            return org

    def add_group(
        self,
        name: str,
        *,
        id: int | None = None,  # noqa: A002
        active: bool = True,
        note: str = "",
        at: datetime | None = None,
    ) -> Group:
        with self.lock:
            stamp = self._stamp(at)
            group = Group(self._next_id("groups", id), name, active, note, stamp, stamp)
            self.groups[group.id] = group
            return group

    def add_agent(
        self,
        login: str,
        firstname: str = "",
        lastname: str = "",
        email: str | None = None,
        *,
        id: int | None = None,  # noqa: A002
        admin: bool = False,
        groups: dict[int, str | Iterable[str]] | None = None,
        role_ids: Iterable[int] | None = None,
        organization_id: int | None = None,
        active: bool = True,
        at: datetime | None = None,
    ) -> User:
        """An agent (and admin if ``admin``). ``groups`` maps group id to access levels
        ("read", "create", "change", "overview", "full"); None means full access to all groups.
        Zammad keeps no per-user time zone that matters to time accounting, so none is taken."""
        roles = list(role_ids) if role_ids is not None else [ROLE_AGENT]
        if admin and ROLE_ADMIN not in roles:
            roles.insert(0, ROLE_ADMIN)
        access = None if groups is None else {g: _levels(v) for g, v in groups.items()}
        return self._add_user(
            login, firstname, lastname, email or login, id, roles, access, organization_id, active,
            at,
        )  # fmt: skip

    def add_customer_user(
        self,
        firstname: str,
        lastname: str,
        email: str,
        *,
        id: int | None = None,  # noqa: A002
        login: str | None = None,
        organization_id: int | None = None,
        active: bool = True,
        at: datetime | None = None,
    ) -> User:
        return self._add_user(
            login or email.lower(), firstname, lastname, email, id, [ROLE_CUSTOMER], {},
            organization_id, active, at,
        )  # fmt: skip

    def _add_user(
        self,
        login: str,
        firstname: str,
        lastname: str,
        email: str,
        wanted_id: int | None,
        role_ids: list[int],
        access: dict[int, list[str]] | None,
        organization_id: int | None,
        active: bool,
        at: datetime | None,
    ) -> User:
        with self.lock:
            if any(u.login == login.lower() for u in self.users.values()):
                raise ValueError(f"login {login!r} is taken")
            stamp = self._stamp(at)
            user = User(
                id=self._next_id("users", wanted_id),
                login=login.lower(),
                firstname=firstname,
                lastname=lastname,
                email=email,
                organization_id=organization_id,
                active=active,
                role_ids=role_ids,
                group_access=access,
                created_at=stamp,
                updated_at=stamp,
                password="{sha2}" + hashlib.sha256(login.encode()).hexdigest(),
            )
            self.users[user.id] = user
            return user

    def add_token(
        self,
        user_id: int,
        permissions: Iterable[str] = DEFAULT_SYNC_TOKEN_PERMISSIONS,
        token: str | None = None,
        *,
        expires_at: date | None = None,
    ) -> str:
        """An API token of ``user_id`` with token permissions (intersected with the user's)."""
        with self.lock:
            if user_id not in self.users:
                raise ValueError(f"no user {user_id}")
            # SecureRandom.urlsafe_base64(48): 64 characters (§3)
            value = token or secrets.token_urlsafe(48)
            self.tokens[value] = Token(value, user_id, list(permissions), expires_at)
            return value

    def add_time_accounting_type(
        self,
        name: str,
        *,
        id: int | None = None,  # noqa: A002
        note: str = "",
        active: bool = True,
        by: int = SYSTEM_USER_ID,
        at: datetime | None = None,
    ) -> TimeAccountingType:
        with self.lock:
            stamp = self._stamp(at)
            kind = TimeAccountingType(
                self._next_id("types", id), name, note, active, by, by, stamp, stamp
            )
            self.time_accounting_types[kind.id] = kind
            return kind

    def add_ticket(
        self,
        title: str,
        *,
        customer_id: int,
        group_id: int,
        id: int | None = None,  # noqa: A002
        number: str | None = None,
        organization_id: int | None | Any = UNSET,
        owner_id: int = SYSTEM_USER_ID,
        state: str = "open",
        priority_id: int = 2,
        tags: Iterable[str] = (),
        created_by_id: int | None = None,
        first_article: bool = True,
        at: datetime | None = None,
    ) -> Ticket:
        """A ticket as created through the UI or e-mail, with the customer's first article.

        Creation is a ticket *create* event, so an "Action is updated" trigger stays quiet."""
        with self.lock:
            customer = self.users[customer_id]
            if group_id not in self.groups:
                raise ValueError(f"no group {group_id}")
            stamp = self._stamp(at)
            ticket_id = self._next_id("tickets", id)
            number = number or str(20000 + ticket_id)
            if any(t.number == number for t in self.tickets.values()):
                raise ValueError(f"ticket number {number} is taken")
            ticket = Ticket(
                id=ticket_id,
                number=number,
                title=title,
                group_id=group_id,
                organization_id=(
                    customer.organization_id if organization_id is UNSET else organization_id
                ),
                customer_id=customer_id,
                owner_id=owner_id,
                state_id=_state_id(state),
                priority_id=priority_id,
                time_unit=None,  # null until time is first booked (§2.1)
                created_at=stamp,
                updated_at=stamp,
                created_by_id=created_by_id or customer_id,
                updated_by_id=created_by_id or customer_id,
                tags=list(tags),
            )
            self.tickets[ticket.id] = ticket
            if first_article:
                article = self._insert_article(
                    ticket, customer_id, f"Hello, {title.lower()}.", internal=False, stamp=stamp,
                    sender_id=2, type_id=11,
                )  # fmt: skip
                ticket.create_article_type_id = article.type_id
                ticket.create_article_sender_id = article.sender_id
                ticket.last_contact_at = ticket.last_contact_customer_at = stamp
            return ticket

    def update_ticket(
        self,
        ticket_id: int,
        *,
        by: int,
        title: str | None = None,
        state: str | None = None,
        owner_id: int | None = None,
        at: datetime | None = None,
    ) -> Ticket:
        """An agent edits ticket attributes (no time): an update event, nothing else."""
        with self.lock, self._transaction():
            ticket = self._ticket_or_error(ticket_id)
            if title is not None:
                ticket.title = title
            if state is not None:
                ticket.state_id = _state_id(state)
            if owner_id is not None:
                ticket.owner_id = owner_id
            self._save_ticket(ticket, by, self._stamp(at))
            return ticket

    def add_article(
        self,
        ticket_id: int,
        agent_id: int,
        body: str = "Note.",
        *,
        internal: bool = True,
        at: datetime | None = None,
    ) -> Article:
        """An agent adds a note without time: a ticket update carrying an article (§4.1)."""
        with self.lock, self._transaction():
            ticket = self._ticket_or_error(ticket_id)
            return self._create_article(ticket, agent_id, body, internal, self._stamp(at))

    def book_time(
        self,
        ticket_id: int,
        agent_id: int,
        time_unit: Decimal | int | float | str,
        type_id: int | None = None,
        article: bool = True,
        at: datetime | None = None,
        body: str = "Worked on it.",
    ) -> TimeAccounting:
        """An agent books time in the UI: with ``article`` the time comes with a new note (the
        usual way); without, it is booked on the ticket alone (ticket_article_id null)."""
        with self.lock, self._transaction():
            ticket = self._ticket_or_error(ticket_id)
            if agent_id not in self.users:
                raise ValueError(f"no user {agent_id}")
            if type_id is not None and type_id not in self.time_accounting_types:
                raise ValueError(f"no time accounting type {type_id}")
            value = parse_time_unit(time_unit)
            if value is None:
                raise validation_failed("Time unit can't be blank")
            stamp = self._stamp(at)
            self._check_totals({ticket.id: self._total(ticket.id) + value})
            article_id = None
            if article:
                article_id = self._create_article(ticket, agent_id, body, True, stamp).id
            entry = TimeAccounting(
                self._next_id("time_accountings"), ticket.id, article_id, value, type_id,
                agent_id, stamp, stamp,
            )  # fmt: skip
            self.time_accountings[entry.id] = entry
            self._update_ticket_total(ticket, agent_id, stamp)
            return entry

    def edit_time(
        self,
        entry_id: int,
        *,
        time_unit: Decimal | int | float | str | None = None,
        type_id: int | None | Any = UNSET,
        ticket_id: int | None = None,
        by: int | None = None,
        at: datetime | None = None,
    ) -> TimeAccounting:
        """An admin edits an entry in place (§5.1): its updated_at moves on any change; the
        ticket is saved (and triggers run) only if its total changed."""
        with self.lock, self._transaction():
            entry = self._entry_or_error(entry_id)
            changes: dict[str, Any] = {}
            if time_unit is not None:
                changes["time_unit"] = time_unit
            if type_id is not UNSET:
                changes["type_id"] = type_id
            if ticket_id is not None:
                changes["ticket_id"] = ticket_id
            actor = by if by is not None else entry.created_by_id
            self._update_entry(entry, changes, actor, self._stamp(at))
            return entry

    def delete_time(
        self, entry_id: int, *, by: int | None = None, at: datetime | None = None
    ) -> None:
        """A hard delete with no trace (§1.1, §5.1); the ticket total is recomputed."""
        with self.lock, self._transaction():
            entry = self._entry_or_error(entry_id)
            actor = by if by is not None else entry.created_by_id
            self._destroy_entry(entry, actor, self._stamp(at))

    def delete_article(
        self, article_id: int, *, by: int | None = None, at: datetime | None = None
    ) -> None:
        """An agent deletes a note: its entry goes with it and the total is recomputed (§5.2)."""
        with self.lock, self._transaction():
            article = self.articles.get(article_id)
            if article is None:
                raise record_not_found("Ticket::Article", article_id)
            ticket = self.tickets[article.ticket_id]
            actor = by if by is not None else article.created_by_id
            stamp = self._stamp(at)
            del self.articles[article_id]
            for entry in self.time_accountings.members("ticket_article_id", article_id):
                del self.time_accountings[entry.id]
                owner = self.tickets.get(entry.ticket_id)
                if owner is not None:
                    self._update_ticket_total(owner, actor, stamp)
            self._save_ticket(ticket, actor, stamp)  # article_count changed

    def delete_ticket(self, ticket_id: int) -> None:
        """Admin, scheduler or data-privacy deletion: entries and articles cascade, and no
        webhook can fire for a ticket that no longer exists (§5.2)."""
        with self.lock:
            self._ticket_or_error(ticket_id)
            del self.tickets[ticket_id]
            for entry in self.time_accountings.members("ticket_id", ticket_id):
                del self.time_accountings[entry.id]
            for article_id in [a.id for a in self.articles.members("ticket_id", ticket_id)]:
                del self.articles[article_id]

    def merge_tickets(
        self, source_id: int, target_id: int, *, by: int, at: datetime | None = None
    ) -> None:
        """Ticket#merge_to (§5.3): articles move to the target without callbacks, time
        accountings stay on the source (ticket_id = source, article now on the target), the
        source keeps its time_unit, turns "merged" with owner 1, and the target's total is not
        recomputed. The source gets a "merged" note, so its update carries an article."""
        with self.lock, self._transaction():
            source = self._ticket_or_error(source_id)
            target = self._ticket_or_error(target_id)
            if target.state_id == 5:
                raise ZammadError(
                    422, "ticket already merged, no merge into merged ticket possible"
                )
            if source.id == target.id:
                raise ZammadError(422, "Can't merge ticket with it self!")
            stamp = self._stamp(at)
            for article in self.articles.members("ticket_id", source.id):
                article.updated_at = stamp  # each(&:touch), then update_all without callbacks
                article.ticket_id = target.id
            target.updated_at = stamp
            self._create_article(source, by, "merged", False, stamp)
            source.state_id = _state_id("merged")
            source.owner_id = SYSTEM_USER_ID
            self._save_ticket(source, by, stamp)

    def set_setting(self, name: str, value: Any, *, at: datetime | None = None) -> None:
        with self.lock:
            setting = self.settings.get(name)
            if setting is None:
                raise ValueError(f"unknown setting {name!r}")
            if name == "time_accounting_unit" and value not in (
                "", "hour", "quarter", "minute", "custom",
            ):  # fmt: skip
                raise ValueError(f"time_accounting_unit cannot be {value!r} (§1.2)")
            setting.value = value
            setting.updated_at = self._stamp(at)

    def setting(self, name: str) -> Any:
        with self.lock:
            return self.settings[name].value

    # -- entry mutations shared by agent actions and the REST API ----------------------------
    def _create_article(
        self, ticket: Ticket, author_id: int, body: str, internal: bool, stamp: datetime
    ) -> Article:
        article = self._insert_article(ticket, author_id, body, internal, stamp, 1, 10)
        # Observer::Ticket::ArticleChanges saves the ticket (article_count); the event is a
        # ticket update that carries the article (§4.1).
        self._save_ticket(ticket, author_id, stamp, article_id=article.id)
        return article

    def _insert_article(
        self,
        ticket: Ticket,
        author_id: int,
        body: str,
        internal: bool,
        stamp: datetime,
        sender_id: int,
        type_id: int,
    ) -> Article:
        author = self.users.get(author_id)
        article = Article(
            id=self._next_id("articles"),
            ticket_id=ticket.id,
            type_id=type_id,
            sender_id=sender_id,
            from_=author.fullname if author else "",
            subject=None,
            body=body,
            content_type="text/html",
            internal=internal,
            created_by_id=author_id,
            updated_by_id=author_id,
            created_at=stamp,
            updated_at=stamp,
        )
        self.articles[article.id] = article
        return article

    def _total(
        self, ticket_id: int, overrides: dict[int, TimeAccounting | None] | None = None
    ) -> Decimal:
        """ticket.ticket_time_accounting.sum(:time_unit), optionally with pending changes."""
        # The ticket's entries; an override may also bring one in from another ticket.
        rows: dict[int, TimeAccounting | None] = {
            e.id: e for e in self.time_accountings.members("ticket_id", ticket_id)
        }
        rows.update(overrides or {})
        return sum(
            (e.time_unit for e in rows.values() if e is not None and e.ticket_id == ticket_id),
            Decimal(0),
        )

    def _check_totals(self, totals: dict[int, Decimal]) -> None:
        # tickets.time_unit is decimal(6,2) too: a total past 9999.99 overflows and the whole
        # save is rolled back with 422 (§5.5, inferred).
        for total in totals.values():
            if abs(total) > MAX_DECIMAL:
                raise _numeric_overflow()

    def _update_ticket_total(self, ticket: Ticket, actor_id: int, stamp: datetime) -> bool:
        """Ticket::TimeAccounting.update_ticket (§1.1): save only if the sum changed."""
        total = self._total(ticket.id)
        # `return if ticket.time_unit.to_d == time_units`: nil.to_d is 0, so a first booking of
        # 0 leaves time_unit null and the ticket untouched.
        if (ticket.time_unit or Decimal(0)) == total:
            return False
        ticket.time_unit = total
        self._save_ticket(ticket, actor_id, stamp)
        return True

    def _save_ticket(
        self, ticket: Ticket, actor_id: int, stamp: datetime, article_id: int | None = None
    ) -> None:
        ticket.updated_at = stamp
        ticket.updated_by_id = actor_id
        if self._events is not None:
            previous = self._events.get(ticket.id)
            self._events[ticket.id] = article_id or previous

    def _update_entry(
        self, entry: TimeAccounting, changes: Params, actor_id: int, stamp: datetime
    ) -> None:
        new_unit = entry.time_unit
        if "time_unit" in changes:
            value = parse_time_unit(changes["time_unit"])
            if value is None:
                raise validation_failed("Time unit can't be blank")
            new_unit = value
        new_type = entry.type_id
        if "type_id" in changes:
            new_type = _optional_int(changes["type_id"])
            if new_type is not None and new_type not in self.time_accounting_types:
                raise _foreign_key("type_id", new_type, "ticket_time_accounting_types")
        new_article = entry.ticket_article_id
        if "ticket_article_id" in changes:
            new_article = _optional_int(changes["ticket_article_id"])
            if new_article is not None:
                self._check_article_unique(new_article, entry.id)
                if new_article not in self.articles:
                    raise _foreign_key("ticket_article_id", new_article, "ticket_articles")
        new_ticket = entry.ticket_id
        if "ticket_id" in changes and changes["ticket_id"] is not None:
            new_ticket = ruby_to_i(changes["ticket_id"])
            if new_ticket not in self.tickets:
                raise _foreign_key("ticket_id", new_ticket, "tickets")
        if (new_unit, new_type, new_article, new_ticket) == (
            entry.time_unit, entry.type_id, entry.ticket_article_id, entry.ticket_id,
        ):  # fmt: skip
            # update! without changes writes nothing; update_ticket finds the same sum (§1.1).
            return
        candidate = TimeAccounting(
            entry.id, new_ticket, new_article, new_unit, new_type, entry.created_by_id,
            entry.created_at, stamp,
        )  # fmt: skip
        self._check_totals({new_ticket: self._total(new_ticket, {entry.id: candidate})})
        # An update moves the row to the end of the heap (see __init__).
        del self.time_accountings[entry.id]
        entry.time_unit, entry.type_id = new_unit, new_type
        entry.ticket_article_id, entry.ticket_id = new_article, new_ticket
        entry.updated_at = stamp
        self.time_accountings[entry.id] = entry
        # after_save recomputes the entry's (new) ticket only; a ticket the entry left keeps a
        # stale total (§1.3, inferred).
        self._update_ticket_total(self.tickets[new_ticket], actor_id, stamp)

    def _destroy_entry(self, entry: TimeAccounting, actor_id: int, stamp: datetime) -> None:
        self._check_totals({entry.ticket_id: self._total(entry.ticket_id, {entry.id: None})})
        del self.time_accountings[entry.id]
        ticket = self.tickets.get(entry.ticket_id)
        if ticket is not None:
            self._update_ticket_total(ticket, actor_id, stamp)

    def _check_article_unique(self, article_id: int, own_id: int | None) -> None:
        # validates :ticket_article_id, uniqueness: { allow_nil: true } (model only) (§5.4)
        if any(
            e.id != own_id for e in self.time_accountings.members("ticket_article_id", article_id)
        ):
            raise validation_failed("Ticket article has already been taken")

    def _ticket_or_error(self, ticket_id: Any) -> Ticket:
        ticket = self.tickets.get(_optional_int(ticket_id) or 0)
        if ticket is None:
            raise record_not_found("Ticket", ticket_id)
        return ticket

    def _entry_or_error(self, entry_id: Any, scope_ticket: Any = None) -> TimeAccounting:
        entry = self.time_accountings.get(_optional_int(entry_id) or 0)
        if entry is None or (
            scope_ticket is not None and str(entry.ticket_id) != str(scope_ticket)
        ):
            scope = ""
            if scope_ticket is not None:
                scope = ' [WHERE "ticket_time_accountings"."ticket_id" = $1]'
            raise record_not_found("Ticket::TimeAccounting", entry_id, scope)
        return entry

    # -- transactions and triggers -----------------------------------------------------------
    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Collect ticket update events of one request/action and run triggers at the end
        (TransactionDispatcher.commit, §4.1). Errors roll back the events."""
        if self._events is not None:  # nested: the outer transaction commits
            yield
            return
        self._events = {}
        try:
            yield
        except BaseException:
            self._events = None
            raise
        events, self._events = self._events, None
        for ticket_id, article_id in events.items():
            self._run_triggers(ticket_id, article_id)

    def _run_triggers(self, ticket_id: int, article_id: int | None) -> None:
        # An "Action is updated" trigger: mode "always" fires on every ticket update; mode
        # "selective" only when the update carried an article (§4.5).
        for hook in self.webhooks:
            if hook.execution_mode == "selective" and article_id is None:
                continue
            self._enqueue_delivery(hook, ticket_id, article_id)

    # == webhooks ============================================================================
    def configure_webhook(
        self,
        endpoint_url: str,
        signature_token: str | None = None,
        trigger_name: str = "sync time accounting",
        execution_mode: WebhookMode = "always",
        active: bool = True,
    ) -> Webhook:
        """A webhook plus the trigger that calls it. Each call adds one; two triggers give two
        deliveries per event (§4.2). Only loopback endpoints are accepted."""
        _require_loopback(endpoint_url)
        if execution_mode not in ("always", "selective"):
            raise ValueError("execution_mode is 'always' or 'selective'")
        with self.lock:
            hook = Webhook(
                self._next_id("webhooks"), endpoint_url, signature_token or None, trigger_name,
                execution_mode, active,
            )  # fmt: skip
            self.webhooks.append(hook)
            return hook

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until every queued delivery (retries included) has finished; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._deliveries:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._deliveries.wait(remaining)
        return True

    def close(self) -> None:
        """Abandon pending retries (used when a standalone server or a test ends)."""
        self._closing.set()

    def _enqueue_delivery(self, hook: Webhook, ticket_id: int, article_id: int | None) -> None:
        # TriggerWebhookJob.perform_later: asynchronous, on a worker thread (§4.1).
        delivery_id = str(uuid.uuid4())
        with self._deliveries:
            self._in_flight += 1
        worker = threading.Thread(
            target=self._deliver,
            args=(hook, delivery_id, ticket_id, article_id),
            name=f"zammad-webhook-{delivery_id[:8]}",
            daemon=True,
        )
        worker.start()

    def _deliver(
        self, hook: Webhook, delivery_id: str, ticket_id: int, article_id: int | None
    ) -> None:
        try:
            for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
                with self.lock:
                    request = self._webhook_request(hook, delivery_id, ticket_id, article_id)
                if request is None:
                    return
                headers, body = request
                status, error = _post(hook.endpoint, headers, body, self.webhook_timeout)
                with self.lock:
                    self.webhook_attempts.append(
                        WebhookAttempt(
                            delivery_id, attempt, hook.id, hook.endpoint, status, error,
                            headers, body, self._stamp(),
                        )
                    )  # fmt: skip
                # 2xx only; 3xx (redirects are not followed), timeouts and connection errors
                # raise RequestError and are retried (§4.2).
                if status is not None and 200 <= status < 300:
                    return
                if attempt < WEBHOOK_ATTEMPTS:
                    wait = attempt * 10 * self.webhook_retry_scale  # 10/20/30/40 s (§4.2)
                    if self._closing.wait(wait):
                        return
            with self.lock:
                self.webhook_log.append(f"delivery {delivery_id} failed after 5 attempts")
        finally:
            with self._deliveries:
                self._in_flight -= 1
                self._deliveries.notify_all()

    def _webhook_request(
        self, hook: Webhook, delivery_id: str, ticket_id: int, article_id: int | None
    ) -> tuple[dict[str, str], bytes] | None:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or (article_id is not None and article_id not in self.articles):
            # The job deserialises its records first: a deleted ticket or article discards it.
            self.webhook_log.append(f"delivery {delivery_id} discarded: record deleted")
            return None
        if not hook.active or hook not in self.webhooks:
            self.webhook_log.append(f"delivery {delivery_id}: webhook inactive or deleted")
            return None
        # The payload is rebuilt at every attempt: a retry carries the current snapshot (§4.2).
        article = self.articles[article_id] if article_id is not None else None
        payload = {
            "ticket": self._ticket_payload(ticket),
            "article": self._article_payload(article) if article else {},
        }
        body = ruby_json(payload)
        headers = {
            "Content-Type": JSON_TYPE,
            "User-Agent": "Zammad User Agent",
            "X-Zammad-Trigger": hook.trigger_name,
            # ActiveJob job_id: a retry re-enqueues the same job, so the id stays (§4.2).
            "X-Zammad-Delivery": delivery_id,
        }
        if hook.signature_token and body:
            digest = hmac.new(hook.signature_token.encode(), body, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature"] = f"sha1={digest}"
        return headers, body

    def _ticket_payload(self, ticket: Ticket) -> dict[str, Any]:
        # attributes_with_association_names sorted by key, then the associations replaced by
        # full hashes in place; a missing organization becomes {} appended at the end, as the
        # key was never in the sorted hash (§4.3, record_payload/base.rb).
        result = dict(sorted(self._ticket_with_names(ticket).items()))
        associations: list[tuple[str, dict[str, Any]]] = [
            ("owner", self._user_payload(ticket.owner_id)),
            ("customer", self._user_payload(ticket.customer_id)),
            ("created_by", self._user_payload(ticket.created_by_id)),
            ("updated_by", self._user_payload(ticket.updated_by_id)),
            ("organization", self._organization_payload(ticket.organization_id)),
            ("priority", self._priority_json(ticket.priority_id)),
            ("group", self._group_payload(ticket.group_id)),
        ]
        for key, value in associations:
            result[key] = value
        return result

    def _article_payload(self, article: Article) -> dict[str, Any]:
        result = dict(sorted(self._article_with_names(article).items()))
        result["created_by"] = self._user_payload(article.created_by_id)
        result["updated_by"] = self._user_payload(article.updated_by_id)
        entry = self._entry_of_article(article.id)
        # accounted_time: a Float, 0.0 without an entry (§4.3)
        result["accounted_time"] = float(entry.time_unit) if entry else 0.0
        return result

    def _user_payload(self, user_id: int | None) -> dict[str, Any]:
        user = self.users.get(user_id or 0)
        if user is None:
            return {}
        names = self._user_with_names(user)
        return {k: v for k, v in sorted(names.items()) if k not in WEBHOOK_USER_BLACKLIST}

    def _organization_payload(self, organization_id: int | None) -> dict[str, Any]:
        org = self.organizations.get(organization_id or 0)
        return dict(sorted(self._organization_with_names(org).items())) if org else {}

    def _group_payload(self, group_id: int) -> dict[str, Any]:
        group = self.groups.get(group_id)
        return dict(sorted(self._group_json(group).items())) if group else {}

    # == HTTP ================================================================================
    def route(self, request: RecordedRequest) -> Reply:
        caller: Caller | None = None
        try:
            entry, path_params = self._match(request)
            if entry.authenticate:
                caller = self._authenticate(request)
            params = self._params(request, path_params)
            with self._transaction():
                return entry.handler(request, params, caller)
        except ZammadError as raised:
            error = _for_caller(raised, caller)
            return Reply(error.status, error.body(), {"Content-Type": JSON_TYPE, **error.headers})

    def _match(self, request: RecordedRequest) -> tuple[_Route, dict[str, str]]:
        for entry in self._routes:
            if entry.method != request.method:
                continue
            match = entry.pattern.fullmatch(request.path)
            if match is not None and entry.available():
                return entry, match.groupdict()
        raise routing_error()

    def _build_routes(self) -> list[_Route]:
        def r(
            method: str,
            path: str,
            handler: Callable[..., Reply],
            *,
            authenticate: bool = True,
            available: Callable[[], bool] = lambda: True,
        ) -> _Route:
            regex = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", path)
            return _Route(method, re.compile(regex), handler, authenticate, available)

        def global_route() -> bool:
            return self.global_time_accountings_route

        api = "/api/v1"
        nested = f"{api}/tickets/:ticket_id/time_accountings"
        types = f"{api}/time_accounting/types"
        return [
            r("POST", "/__double__/book", self._control_book, authenticate=False),
            r("POST", "/__double__/edit", self._control_edit, authenticate=False),
            r("POST", "/__double__/delete", self._control_delete, authenticate=False),
            r("GET", nested, self._ta_index),
            r("POST", nested, self._ta_create),
            r("GET", f"{nested}/:id", self._ta_show),
            r("PUT", f"{nested}/:id", self._ta_update),
            r("DELETE", f"{nested}/:id", self._ta_destroy),
            r("GET", f"{api}/time_accountings", self._ta_index, available=global_route),
            r("POST", f"{api}/time_accountings", self._ta_create, available=global_route),
            r("GET", f"{api}/time_accountings/:id", self._ta_show, available=global_route),
            r("PUT", f"{api}/time_accountings/:id", self._ta_update, available=global_route),
            r("DELETE", f"{api}/time_accountings/:id", self._ta_destroy, available=global_route),
            r("GET", types, self._types_index, available=global_route),
            r("POST", types, self._types_create, available=global_route),
            r("PUT", f"{types}/:id", self._types_update, available=global_route),
            r("GET", f"{api}/tickets", self._tickets_index),
            r("GET", f"{api}/tickets/search", self._tickets_search),
            r("POST", f"{api}/tickets/search", self._tickets_search),
            r("GET", f"{api}/tickets/:id", self._tickets_show),
            r("GET", f"{api}/ticket_articles/by_ticket/:id", self._articles_by_ticket),
            r("GET", f"{api}/tags", self._tags),
            r("GET", f"{api}/users", self._users_index),
            r("GET", f"{api}/users/me", self._users_me),
            r("GET", f"{api}/users/search", self._users_search),
            r("GET", f"{api}/users/:id", self._users_show),
            r("GET", f"{api}/groups", self._groups_index),
            r("GET", f"{api}/organizations", self._organizations_index),
            r("GET", f"{api}/organizations/search", self._organizations_search),
            r("GET", f"{api}/organizations/:id", self._organizations_show),
            r("GET", f"{api}/settings", self._settings_index),
            r("GET", f"{api}/settings/:id", self._settings_show),
            r("GET", f"{api}/version", self._version),
        ]  # fmt: skip

    def _params(self, request: RecordedRequest, path_params: dict[str, str]) -> Params:
        """Rails params: query (with a[b][c] nesting), the body, then the path parameters.

        Like ActionDispatch, the body counts only with a JSON or form Content-Type: a JSON body
        sent as text/plain is ignored, so its fields are simply missing."""
        params: Params = _nest_query(request.query)
        content_type = request.headers.get("content-type", "")
        if request.body and "json" in content_type:
            try:
                body = json.loads(request.body)
            except ValueError:
                # ParseError reaches the generic StandardError handler: 500 (§2.4, inferred)
                raise ZammadError(500, "Error occurred while parsing request parameters") from None
            if isinstance(body, dict):
                params.update(body)
        elif request.body and "application/x-www-form-urlencoded" in content_type:
            params.update(_nest_query(parse_qs(request.body.decode(), keep_blank_values=True)))
        params.update(path_params)
        return params

    def _authenticate(self, request: RecordedRequest) -> Caller:
        """ApplicationController::Authenticates (§3). Only API tokens are modelled."""
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            # HTTP Basic is not modelled: no user of the double has a usable password.
            raise unauthorized("Invalid BasicAuth credentials")
        scheme_match = re.match(r"^(Token|Bearer)\s+", header)
        value = _token_from_header(header) if scheme_match else None
        if not value:
            # No credentials at all: authentication_check raises Forbidden (403, not 401).
            raise not_authorized("Authentication required")
        if not self.settings["api_token_access"].value:
            raise not_authorized("API token access disabled!")
        token = self.tokens.get(value)
        if token is None or token.user_id not in self.users:
            if scheme_match and scheme_match.group(1) == "Bearer":
                # Then Doorkeeper tries the same Bearer value as an OAuth2 token (§3).
                raise unauthorized("The provided token is invalid.")
            raise unauthorized("Can't find User for Token")
        token.last_used_at = truncate_to_ms(self.now())
        if token.expires_at is not None and self.now().date() >= token.expires_at:
            raise unauthorized("Not authorized (token expired)!")
        user = self.users[token.user_id]
        if not user.active:
            raise unauthorized(
                "Login failed. Have you double-checked your credentials and completed the "
                "email verification step?"
            )
        return Caller(user, token, self._user_permissions(user))

    def _user_permissions(self, user: User) -> list[str]:
        names: list[str] = []
        for role_id in user.role_ids:
            role = self.roles.get(role_id)
            if role is not None:
                names.extend(role.permissions)
        return names

    def _require(self, caller: Caller, permission: str) -> None:
        # default_permit!: permissions! raises "Token authorization failed." for token auth
        # (app/models/token/permissions.rb, §2.4).
        if not caller.can(permission):
            raise not_authorized("Token authorization failed.")

    # -- access to tickets (TicketPolicy) -----------------------------------------------------
    def _group_access(self, user: User, group_id: int) -> list[str]:
        if user.group_access is None:
            return ["full"] if group_id in self.groups else []
        return user.group_access.get(group_id, [])

    def _agent_access(self, caller: Caller, ticket: Ticket, level: str) -> bool:
        if not caller.can("ticket.agent"):
            return False
        levels = self._group_access(caller.user, ticket.group_id)
        return level in levels or "full" in levels

    def _customer_access(self, caller: Caller, ticket: Ticket) -> bool:
        if not caller.can("ticket.customer"):
            return False
        if ticket.customer_id == caller.user.id:
            return True
        org = self.organizations.get(ticket.organization_id or 0)
        return bool(org and org.shared and org.id == caller.user.organization_id)

    def _can_read_ticket(self, caller: Caller, ticket: Ticket) -> bool:
        return self._agent_access(caller, ticket, "read") or self._customer_access(caller, ticket)

    def _readable_tickets(
        self, caller: Caller, tickets: Iterable[Ticket] | None = None
    ) -> list[Ticket]:
        """The tickets (default: all) the caller may read, in the table's order."""
        if tickets is None:
            tickets = self.tickets.values()
        return [t for t in tickets if self._can_read_ticket(caller, t)]

    # -- time accountings (§1.3) --------------------------------------------------------------
    def _authorize_ta_read(self, params: Params, caller: Caller) -> None:
        # index?/show?: admin_access? || agent_access?; an admin short-circuits, so a
        # non-existent ticket gives them 200 []; an agent needs a ticket_id and change access,
        # and Ticket.find gives them 404 for an unknown ticket (§1.3).
        if caller.can("admin.time_accounting"):
            return
        if not is_present(params.get("ticket_id")):
            raise not_authorized()
        ticket = self._ticket_or_error(params["ticket_id"])
        if not self._agent_access(caller, ticket, "change"):
            raise not_authorized()

    def _ta_scope(self, params: Params) -> list[TimeAccounting]:
        # `if params[:ticket_id]`: the nested route and ?ticket_id= on the global one (§1.3)
        if params.get("ticket_id") is not None:
            wanted = _optional_int(params["ticket_id"])
            return self.time_accountings.members("ticket_id", wanted)
        return list(self.time_accountings.values())

    def _ta_index(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        self._authorize_ta_read(params, caller)
        rows = _index_page(params, lambda: self._sorted_ta_scope(params))
        render = self._entry_with_names if is_flag_on(params.get("expand")) else _entry_json
        return _ok([render(e) for e in rows])

    def _sorted_ta_scope(self, params: Params) -> list[TimeAccounting]:
        """_ta_scope sorted as asked; kept until the table changes, so paging through 100,000
        entries sorts them once, not once a page."""
        if self._sorted_entries_version != self.time_accountings.version:
            self._sorted_entries = {}
            self._sorted_entries_version = self.time_accountings.version
        wanted = [params.get(name) for name in ("ticket_id", "sort_by", "order_by")]
        key = json.dumps(wanted, default=repr, sort_keys=True)
        rows = self._sorted_entries.get(key)
        if rows is None:
            rows = _sort_rows(
                self._ta_scope(params), params, TIME_ACCOUNTING_COLUMNS, _entry_value, "id", "asc"
            )
            if len(self._sorted_entries) >= SORTED_LISTINGS_KEPT:
                self._sorted_entries.clear()
            self._sorted_entries[key] = rows
        return rows

    def _ta_show(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        self._authorize_ta_read(params, caller)
        entry = self._entry_or_error(params["id"], params.get("ticket_id"))
        render = self._entry_with_names if is_flag_on(params.get("expand")) else _entry_json
        return _ok(render(entry))

    def _ta_create(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        if not caller.can("admin.time_accounting"):
            # Ticket::TimeAccountingPolicy#create? (§1.3, §2.4)
            ticket = self._ticket_or_error(params.get("ticket_id"))
            if not self.settings["time_accounting"].value:
                raise not_authorized("Not authorized (Time Accounting is not enabled)!")
            if not (
                self._agent_access(caller, ticket, "change")
                or self._agent_access(caller, ticket, "create")
            ):
                raise not_authorized()
        value = parse_time_unit(params.get("time_unit"))
        if value is None:
            raise validation_failed("Time unit can't be blank")
        ticket_id = _optional_int(params.get("ticket_id"))
        target = self.tickets.get(ticket_id or 0)
        if target is None:
            # belongs_to :ticket is required (type and article are `optional: true`)
            raise validation_failed("Ticket must exist")
        article_id = _optional_int(params.get("ticket_article_id"))
        if article_id is not None:
            # verify_ticket_article, on create only (§1.1, §5.4)
            article = self.articles.get(article_id)
            if article is None or article.ticket_id != target.id:
                raise validation_failed("This article is not part of the ticket.")
            self._check_article_unique(article_id, None)
        type_id = _optional_int(params.get("type_id"))
        if type_id is not None and type_id not in self.time_accounting_types:
            raise _foreign_key("type_id", type_id, "ticket_time_accounting_types")
        self._check_totals({target.id: self._total(target.id) + value})
        stamp = self._stamp()
        # created_by_id is always the caller; param_cleanup drops created_at/updated_at and
        # *_by_id, so client timestamps are ignored (§1.1, §5.6).
        entry = TimeAccounting(
            self._next_id("time_accountings"), target.id, article_id, value, type_id,
            caller.user.id, stamp, stamp,
        )  # fmt: skip
        self.time_accountings[entry.id] = entry
        self._update_ticket_total(target, caller.user.id, stamp)
        render = self._entry_with_names if is_flag_on(params.get("expand")) else _entry_json
        return Reply(201, render(entry), {"Content-Type": JSON_TYPE})

    def _ta_update(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        self._require(caller, "admin.time_accounting")  # update: admin only (§1.3, §5.1)
        entry = self._entry_or_error(params["id"], params.get("ticket_id"))
        changes: Params = {
            key: params[key]
            for key in ("time_unit", "type_id", "ticket_article_id", "ticket_id")
            if key in params
        }
        self._update_entry(entry, changes, caller.user.id, self._stamp())
        render = self._entry_with_names if is_flag_on(params.get("expand")) else _entry_json
        return _ok(render(entry))

    def _ta_destroy(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        self._require(caller, "admin.time_accounting")  # destroy: admin only (§1.3)
        entry = self._entry_or_error(params["id"], params.get("ticket_id"))
        self._destroy_entry(entry, caller.user.id, self._stamp())
        return _ok({})  # model_destroy_render: {} with 200 (§1.3)

    # -- time accounting types (§1.1, §1.3) ---------------------------------------------------
    def _types_index(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        self._require(caller, "admin.time_accounting")
        rows = self._model_index(
            list(self.time_accounting_types.values()), params, TYPE_COLUMNS,
            lambda kind, column: getattr(kind, column), caller,
        )  # fmt: skip
        render = self._type_with_names if is_flag_on(params.get("expand")) else _type_json
        return _ok([render(kind) for kind in rows])

    def _types_create(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        self._require(caller, "admin.time_accounting")
        name = str(params.get("name") or "").strip()
        self._check_type_name(name, None)
        stamp = self._stamp()
        kind = TimeAccountingType(
            self._next_id("types"), name, _sanitize_note(params.get("note")),
            params.get("active", True) not in (False, "false"), caller.user.id, caller.user.id,
            stamp, stamp,
        )  # fmt: skip
        self.time_accounting_types[kind.id] = kind
        return Reply(201, _type_json(kind), {"Content-Type": JSON_TYPE})

    def _types_update(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        self._require(caller, "admin.time_accounting")
        kind = self.time_accounting_types.get(_optional_int(params["id"]) or 0)
        if kind is None:
            raise record_not_found("Ticket::TimeAccounting::Type", params["id"])
        before = (kind.name, kind.note, kind.active)
        if "name" in params:
            name = str(params.get("name") or "").strip()
            self._check_type_name(name, kind.id)
            kind.name = name
        if "note" in params:
            kind.note = _sanitize_note(params.get("note"))
        if "active" in params:
            kind.active = params["active"] not in (False, "false", None)
        if (kind.name, kind.note, kind.active) != before:
            kind.updated_at = self._stamp()
            kind.updated_by_id = caller.user.id
        return _ok(_type_json(kind))

    def _check_type_name(self, name: str, own_id: int | None) -> None:
        if not name:
            raise validation_failed("Name can't be blank")
        if len(name) > 250:
            raise validation_failed("Name is too long (maximum is 250 characters)")
        # name is unique, case-insensitively (§1.1)
        if any(
            k.name.lower() == name.lower() and k.id != own_id
            for k in self.time_accounting_types.values()
        ):
            raise validation_failed("Name has already been taken")

    # -- tickets (§2.1, §2.2) ------------------------------------------------------------------
    def _tickets_index(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        # paginate_with(max: 100), order id ASC, TicketPolicy::ReadScope (§2.2)
        offset, limit = _paginate(params, default=100, maximum=100)
        rows = sorted(self._readable_tickets(caller), key=lambda t: t.id)[offset : offset + limit]
        if is_flag_on(params.get("expand")):
            return _ok([self._ticket_with_names(t) for t in rows])
        if is_flag_on(params.get("full")):
            return _ok(
                {
                    "record_ids": [t.id for t in rows],
                    "assets": self._ticket_assets(rows),
                }
            )
        return _ok([self._ticket_attributes(t) for t in rows])

    def _tickets_show(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        ticket = self._ticket_or_error(params["id"])
        if not self._can_read_ticket(caller, ticket):
            raise not_authorized()
        if is_flag_on(params.get("expand")):
            return _ok(self._ticket_with_names(ticket))
        if is_flag_on(params.get("full")):
            return _ok({"id": ticket.id, "assets": self._ticket_assets([ticket])})
        # `render json: ticket`: raw attributes only, no *_ids (§2.1)
        return _ok(self._ticket_attributes(ticket))

    def _tickets_search(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        # search_preferences: no ticket.agent/ticket.customer, no search: 200 [] (§2.2)
        if not caller.can(["ticket.agent", "ticket.customer"]):
            return _ok([])
        offset, limit = _paginate(params, default=50, maximum=200)
        readable = self._readable_tickets(caller, self._search_candidates(params))
        tickets = self._search_filter(readable, params, caller)
        total = len(tickets)
        # default sort updated_at desc (can_search.rb); sort_by/order_by like the index (§2.2)
        ordered = _sort_rows(
            tickets, params, TICKET_COLUMNS, self._ticket_value, "updated_at", "desc"
        )
        page = ordered[offset : offset + limit]
        if is_flag_on(params.get("expand")):
            # expand=true gives a plain array in every 6.x version (§2.2)
            return _ok([self._ticket_with_names(t) for t in page])
        if self.search_response_format == "6.0":
            # older 6.x: ids plus assets; tickets_count is the size of this page, as the old
            # controller called .count on the returned page.
            return _ok(
                {
                    "tickets": [t.id for t in page],
                    "tickets_count": len(page),
                    "assets": self._ticket_assets(page),
                }
            )
        if is_flag_on(params.get("only_total_count")):
            return _ok({"total_count": total})
        if is_flag_on(params.get("full")):
            return _ok(
                {
                    "record_ids": [t.id for t in page],
                    "assets": self._ticket_assets(page),
                    "total_count": total,
                }
            )
        return _ok([self._ticket_with_ids(t) for t in page])  # 6.5: a plain array (§2.2)

    def _search_candidates(self, params: Params) -> list[Ticket] | None:
        """With a ``ticket.id`` "is" condition (the sync's lookup of 200 tickets), only those
        tickets, in table order; every filter still runs on them. None: all tickets."""
        condition = params.get("condition")
        selector = condition.get("ticket.id") if isinstance(condition, dict) else None
        if not isinstance(selector, dict) or str(selector.get("operator")) != "is":
            return None
        value = selector.get("value")
        values = value if isinstance(value, list) else [value]
        # selector2sql compares the id as text: only the canonical decimal of an id matches
        texts = [str(v) for v in values if v is not None and v != ""]
        return self.tickets.picked(
            int(t) for t in texts if t.isascii() and t.isdigit() and str(int(t)) == t
        )

    def _search_filter(self, tickets: list[Ticket], params: Params, caller: Caller) -> list[Ticket]:
        query = params.get("query")
        if isinstance(query, str) and query.replace("*", "").strip():
            needle = query.replace("*", "").strip().lower()
            tickets = [t for t in tickets if needle in t.title.lower() or needle in t.number]
        condition = params.get("condition")
        if condition in (None, "", {}):
            return tickets
        if not isinstance(condition, dict):
            raise _runtime_error(f"Invalid selector {condition!r}")
        for attribute, selector in condition.items():
            tickets = self._apply_selector(tickets, str(attribute), selector, caller)
        return tickets

    def _apply_selector(
        self, tickets: list[Ticket], attribute: str, selector: Any, caller: Caller
    ) -> list[Ticket]:
        if not isinstance(selector, dict) or "operator" not in selector:
            raise _runtime_error(f"Invalid selector {selector!r}")
        table, _, column = attribute.partition(".")
        if table != "ticket":
            raise _runtime_error(f"invalid selector {attribute!r}")
        if column not in TICKET_COLUMNS and column != "tags":
            message = f"PG::UndefinedColumn: ERROR:  column tickets.{column} does not exist"
            raise ZammadError(422, message)
        operator = str(selector["operator"])
        value = selector.get("value")
        if operator in ("after (absolute)", "before (absolute)"):
            moment = parse_timestamp(value)
            if moment is None:
                return []  # compared with NULL: no rows
            # "after (absolute)" compiles to >=, "before (absolute)" to <= (lib/selector/sql.rb)
            if operator == "after (absolute)":
                return [t for t in tickets if _ge(self._ticket_value(t, column), moment)]
            return [t for t in tickets if _le(self._ticket_value(t, column), moment)]
        if operator in ("is", "is not"):
            values = value if isinstance(value, list) else [value]
            # nil means IS NULL; "" in a list also matches NULL (selector2sql)
            wanted = {None if v is None or v == "" else str(v) for v in values}
            hits = {t.id for t in tickets if _str_or_none(self._ticket_value(t, column)) in wanted}
        elif operator in ("contains", "contains not"):
            needle = str(value or "").lower()
            hits = {
                t.id for t in tickets if needle in str(self._ticket_value(t, column) or "").lower()
            }
        else:
            raise _runtime_error(f"Invalid selector, operator {operator} is invalid {selector!r}")
        positive = operator in ("is", "contains")
        return [t for t in tickets if (t.id in hits) == positive]

    def _articles_by_ticket(
        self, request: RecordedRequest, params: Params, caller: Caller
    ) -> Reply:
        ticket = self._ticket_or_error(params["id"])
        if not self._can_read_ticket(caller, ticket):
            raise not_authorized()
        rows = sorted(self.articles.members("ticket_id", ticket.id), key=lambda a: a.id)
        return _ok([self._article_with_names(a) for a in rows])

    def _tags(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        # GET /api/v1/tags?object=Ticket&o_id=50 -> {"tags": [...]}
        if params.get("object") != "Ticket":
            raise ZammadError(422, "Need object and o_id!")
        ticket = self._ticket_or_error(params.get("o_id"))
        if not self._can_read_ticket(caller, ticket):
            raise not_authorized()
        return _ok({"tags": list(ticket.tags)})

    # -- users and organizations (§2.2) -------------------------------------------------------
    def _users_index(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        offset, limit = _paginate(params, default=100, maximum=1000)
        rows = self._visible_users(caller)[offset : offset + limit]
        return _ok([self._render_user(u, params) for u in rows])

    def _users_search(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        offset, limit = _paginate(params, default=50, maximum=200)
        needle = str(params.get("query") or "").replace("*", "").strip().lower()
        rows = [
            u
            for u in self._visible_users(caller)
            if not needle
            or any(needle in s.lower() for s in (u.login, u.firstname, u.lastname, u.email))
        ]
        return _ok([self._render_user(u, params) for u in rows[offset : offset + limit]])

    def _users_show(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        user = self.users.get(_optional_int(params["id"]) or 0)
        if user is None:
            raise record_not_found("User", params["id"])
        if user not in self._visible_users(caller):
            raise not_authorized()
        return _ok(self._render_user(user, params))

    def _users_me(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        return _ok(self._render_user(caller.user, params))

    def _visible_users(self, caller: Caller) -> list[User]:
        # UserPolicy::Scope: ticket.agent or admin.user see everyone, others themselves (§2.2)
        if caller.can(["ticket.agent", "admin.user"]):
            return sorted(self.users.values(), key=lambda u: u.id)
        return [caller.user]

    def _render_user(self, user: User, params: Params) -> dict[str, Any]:
        if is_flag_on(params.get("expand")):
            return self._user_with_names(user)
        return self._user_with_ids(user)

    def _groups_index(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        # Controllers::GroupsControllerPolicy: index for ticket.agent, admin.group and
        # ticket.customer. GroupPolicy::Scope gives them all groups (customers too while the
        # setting customer_ticket_create_group_ids is blank, its default).
        if not caller.can(["ticket.agent", "admin.group", "ticket.customer"]):
            raise not_authorized("Token authorization failed.")
        offset, limit = _paginate(params, default=100, maximum=500)
        groups = sorted(self.groups.values(), key=lambda g: g.id)[offset : offset + limit]
        return _ok([_group_json(g) for g in groups])

    def _organizations_index(
        self, request: RecordedRequest, params: Params, caller: Caller
    ) -> Reply:
        offset, limit = _paginate(params, default=500, maximum=1000)
        rows = self._visible_organizations(caller)[offset : offset + limit]
        return _ok([self._render_org(o, params) for o in rows])

    def _organizations_search(
        self, request: RecordedRequest, params: Params, caller: Caller
    ) -> Reply:
        offset, limit = _paginate(params, default=50, maximum=200)
        needle = str(params.get("query") or "").replace("*", "").strip().lower()
        rows = [o for o in self._visible_organizations(caller) if needle in o.name.lower()]
        return _ok([self._render_org(o, params) for o in rows[offset : offset + limit]])

    def _organizations_show(
        self, request: RecordedRequest, params: Params, caller: Caller
    ) -> Reply:
        org = self.organizations.get(_optional_int(params["id"]) or 0)
        if org is None:
            raise record_not_found("Organization", params["id"])
        if org not in self._visible_organizations(caller):
            raise not_authorized()
        return _ok(self._render_org(org, params))

    def _visible_organizations(self, caller: Caller) -> list[Organization]:
        # ticket.agent or admin.organization see all organizations; a customer their own (§2.2)
        orgs = sorted(self.organizations.values(), key=lambda o: o.id)
        if caller.can(["ticket.agent", "admin.organization"]):
            return orgs
        return [o for o in orgs if o.id == caller.user.organization_id]

    def _render_org(self, org: Organization, params: Params) -> dict[str, Any]:
        if is_flag_on(params.get("expand")):
            return self._organization_with_names(org)
        return self._organization_with_ids(org)

    # -- settings and version (§1.2, §3) ------------------------------------------------------
    def _settings_index(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        # default_permit!('admin.*'), then only the settings the caller may see (§1.2)
        self._require(caller, "admin.*")
        visible = [s for s in self.settings.values() if caller.can(s.permission)]
        return _ok([_setting_json(s) for s in sorted(visible, key=lambda s: s.id)])

    def _settings_show(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        self._require(caller, "admin.*")
        wanted = _optional_int(params["id"])
        setting = next((s for s in self.settings.values() if s.id == wanted), None)
        if setting is None:
            raise record_not_found("Setting", params["id"])
        if not caller.can(setting.permission):
            raise not_authorized(f"Not authorized (required {json.dumps(setting.permission)})!")
        return _ok(_setting_json(setting))

    def _version(self, request: RecordedRequest, params: Params, caller: Caller) -> Reply:
        # VersionControllerPolicy: default_permit!('admin.version'), which "admin" grants (§3)
        self._require(caller, "admin.version")
        return _ok({"version": self.version})

    # -- control endpoints (test-only) ---------------------------------------------------------
    def _control_book(self, request: RecordedRequest, params: Params, caller: None) -> Reply:
        with _as_unprocessable():
            return self._book_from_params(params)

    def _control_edit(self, request: RecordedRequest, params: Params, caller: None) -> Reply:
        with _as_unprocessable():
            entry = self.edit_time(
                ruby_to_i(params.get("id")),
                time_unit=params.get("time_unit"),
                type_id=_optional_int(params["type_id"]) if "type_id" in params else UNSET,
            )
        return _ok(_entry_json(entry))

    def _control_delete(self, request: RecordedRequest, params: Params, caller: None) -> Reply:
        with _as_unprocessable():
            self.delete_time(ruby_to_i(params.get("id")))
        return _ok({})

    def _book_from_params(self, params: Params) -> Reply:
        agent = params.get("agent", params.get("agent_id"))
        agent_id = self._user_id(agent)
        entry = self.book_time(
            ruby_to_i(params.get("ticket_id")),
            agent_id,
            params.get("time_unit", ""),
            type_id=_optional_int(params.get("type_id")),
            article=params.get("article", True) not in (False, "false"),
            body=str(params.get("body") or "Worked on it."),
        )
        return Reply(201, _entry_json(entry), {"Content-Type": JSON_TYPE})

    def _user_id(self, reference: Any) -> int:
        if isinstance(reference, int) and reference in self.users:
            return reference
        text = str(reference or "").lower()
        for user in self.users.values():
            if str(user.id) == text or user.login == text or user.email.lower() == text:
                return user.id
        raise ZammadError(422, f"no agent {reference!r}", f"no agent {reference!r}")

    # -- index helper (model_index_render) -----------------------------------------------------
    def _model_index(
        self,
        rows: list[Any],
        params: Params,
        columns: Sequence[str],
        value_of: Callable[[Any, str], Any],
        caller: Caller,
    ) -> list[Any]:
        # sort_by default id, order_by default ASC (§1.3)
        return _index_page(params, lambda: _sort_rows(rows, params, columns, value_of, "id", "asc"))

    # == rendering ============================================================================
    def _ticket_value(self, ticket: Ticket, column: str) -> Any:
        if column == "article_count":
            return len(self.articles.members("ticket_id", ticket.id))
        if column == "tags":
            return ",".join(ticket.tags)
        return getattr(ticket, column, None)

    def _ticket_attributes(self, ticket: Ticket) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for column in TICKET_COLUMNS:
            value = self._ticket_value(ticket, column)
            if isinstance(value, datetime):
                value = format_time(value)
            elif isinstance(value, Decimal):
                value = format_decimal(value)
            result[column] = value
        return result

    def _ticket_with_ids(self, ticket: Ticket) -> dict[str, Any]:
        result = self._ticket_attributes(ticket)
        result["article_ids"] = sorted(a.id for a in self.articles.members("ticket_id", ticket.id))
        result["ticket_time_accounting_ids"] = sorted(
            e.id for e in self.time_accountings.members("ticket_id", ticket.id)
        )
        return result

    def _ticket_with_names(self, ticket: Ticket) -> dict[str, Any]:
        """attributes_with_association_names (§2.1)."""
        result = self._ticket_with_ids(ticket)
        group = self.groups.get(ticket.group_id)
        org = self.organizations.get(ticket.organization_id or 0)
        if group:
            result["group"] = group.name
        if org:
            result["organization"] = org.name
        result["state"] = STATES.get(ticket.state_id)
        result["priority"] = PRIORITIES.get(ticket.priority_id)
        for key, user_id in (("owner", ticket.owner_id), ("customer", ticket.customer_id)):
            if user_id in self.users:
                result[key] = self.users[user_id].login
        if ticket.create_article_type_id:
            result["create_article_type"] = ARTICLE_TYPES.get(ticket.create_article_type_id)
        if ticket.create_article_sender_id:
            result["create_article_sender"] = ARTICLE_SENDERS.get(ticket.create_article_sender_id)
        # has_many lists: items without name/login are dropped, and a non-empty list that ends
        # up empty is removed, so "ticket_time_accounting": [] only shows without entries (§2.1).
        if not result["article_ids"]:
            result["articles"] = []
        if not result["ticket_time_accounting_ids"]:
            result["ticket_time_accounting"] = []
        self._add_by_logins(result, ticket.created_by_id, ticket.updated_by_id)
        return result

    def _ticket_assets(self, tickets: Iterable[Ticket]) -> dict[str, Any]:
        assets: dict[str, dict[str, Any]] = {
            "Ticket": {},
            "User": {},
            "Organization": {},
            "Group": {},
        }
        for ticket in tickets:
            assets["Ticket"][str(ticket.id)] = self._ticket_with_ids(ticket)
            for user_id in (
                ticket.owner_id,
                ticket.customer_id,
                ticket.created_by_id,
                ticket.updated_by_id,
            ):
                if user_id in self.users:
                    assets["User"][str(user_id)] = self._user_with_ids(self.users[user_id])
            org = self.organizations.get(ticket.organization_id or 0)
            if org:
                assets["Organization"][str(org.id)] = self._organization_with_ids(org)
            group = self.groups.get(ticket.group_id)
            if group:
                assets["Group"][str(group.id)] = self._group_json(group)
        return {kind: items for kind, items in assets.items() if items}

    def _entry_with_names(self, entry: TimeAccounting) -> dict[str, Any]:
        # expand=true adds "type" (if set) and "created_by" (login) (§1.3)
        result = _entry_json(entry)
        kind = self.time_accounting_types.get(entry.type_id or 0)
        if kind is not None:
            result["type"] = kind.name
        self._add_by_logins(result, entry.created_by_id, None)
        return result

    def _entry_of_article(self, article_id: int) -> TimeAccounting | None:
        return next(iter(self.time_accountings.members("ticket_article_id", article_id)), None)

    def _article_with_names(self, article: Article) -> dict[str, Any]:
        entry = self._entry_of_article(article.id)
        result: dict[str, Any] = {
            "id": article.id,
            "ticket_id": article.ticket_id,
            "type_id": article.type_id,
            "sender_id": article.sender_id,
            "from": article.from_,
            "to": None,
            "cc": None,
            "subject": article.subject,
            "reply_to": None,
            "message_id": None,
            "message_id_md5": None,
            "in_reply_to": None,
            "content_type": article.content_type,
            "references": None,
            "body": article.body,
            "internal": article.internal,
            "preferences": {},
            "updated_by_id": article.updated_by_id,
            "created_by_id": article.created_by_id,
            "origin_by_id": None,
            "created_at": format_time(article.created_at),
            "updated_at": format_time(article.updated_at),
            "attachments": [],
            # Ticket::Article#add_time_unit_to_attributes: string or null (§1.3)
            "time_unit": format_decimal(entry.time_unit) if entry else None,
            "type": ARTICLE_TYPES.get(article.type_id),
            "sender": ARTICLE_SENDERS.get(article.sender_id),
        }
        self._add_by_logins(result, article.created_by_id, article.updated_by_id)
        return result

    def _user_attributes(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "organization_id": user.organization_id,
            "login": user.login,
            "firstname": user.firstname,
            "lastname": user.lastname,
            "email": user.email,
            "image": None,
            "image_source": None,
            "web": "",
            "phone": "",
            "fax": "",
            "mobile": "",
            "department": "",
            "street": "",
            "zip": "",
            "city": "",
            "country": "",
            "address": "",
            "vip": user.vip,
            "verified": False,
            "active": user.active,
            "note": "",
            "last_login": None,
            "source": None,
            "login_failed": 0,
            "out_of_office": False,
            "out_of_office_start_at": None,
            "out_of_office_end_at": None,
            "out_of_office_replacement_id": None,
            "preferences": {},
            "updated_by_id": user.updated_by_id,
            "created_by_id": user.created_by_id,
            "created_at": format_time(user.created_at),
            "updated_at": format_time(user.updated_at),
        }

    def _user_with_ids(self, user: User) -> dict[str, Any]:
        # filter_attributes strips password, token, tokens (§2.2): they are never rendered.
        result = self._user_attributes(user)
        result["role_ids"] = list(user.role_ids)
        result["organization_ids"] = []
        result["authorization_ids"] = []
        result["group_ids"] = {
            str(group_id): self._group_access(user, group_id)
            for group_id in sorted(self.groups)
            if self._group_access(user, group_id)
        }
        return result

    def _user_with_names(self, user: User) -> dict[str, Any]:
        result = self._user_with_ids(user)
        org = self.organizations.get(user.organization_id or 0)
        if org:
            result["organization"] = org.name
        result["organizations"] = []
        result["roles"] = [self.roles[r].name for r in user.role_ids if r in self.roles]
        result["authorizations"] = []
        result["groups"] = {
            self.groups[int(group_id)].name: levels
            for group_id, levels in result["group_ids"].items()
        }
        self._add_by_logins(result, user.created_by_id, user.updated_by_id)
        return result

    def _organization_with_ids(self, org: Organization) -> dict[str, Any]:
        return {
            "id": org.id,
            "name": org.name,
            "shared": org.shared,
            "domain": org.domain,
            "domain_assignment": False,
            "active": org.active,
            "vip": org.vip,
            "note": org.note,
            "updated_by_id": org.updated_by_id,
            "created_by_id": org.created_by_id,
            "created_at": format_time(org.created_at),
            "updated_at": format_time(org.updated_at),
            "member_ids": sorted(u.id for u in self.users.values() if u.organization_id == org.id),
            "secondary_member_ids": [],
        }

    def _organization_with_names(self, org: Organization) -> dict[str, Any]:
        result = self._organization_with_ids(org)
        result["members"] = [self.users[i].login for i in result["member_ids"]]
        result["secondary_members"] = []
        self._add_by_logins(result, org.created_by_id, org.updated_by_id)
        return result

    def _group_json(self, group: Group) -> dict[str, Any]:
        return {
            "id": group.id,
            "signature_id": None,
            "email_address_id": None,
            "name": group.name,
            "name_last": group.name,
            "parent_id": None,
            "assignment_timeout": None,
            "follow_up_possible": "yes",
            "follow_up_assignment": True,
            "active": group.active,
            "shared_drafts": True,
            "note": group.note,
            "updated_by_id": group.updated_by_id,
            "created_by_id": group.created_by_id,
            "created_at": format_time(group.created_at),
            "updated_at": format_time(group.updated_at),
        }

    def _priority_json(self, priority_id: int) -> dict[str, Any]:
        if priority_id not in PRIORITIES:
            return {}
        return {
            "active": True,
            "created_at": "2012-04-01T00:00:00.000Z",
            "created_by_id": SYSTEM_USER_ID,
            "default_create": priority_id == 2,
            "id": priority_id,
            "name": PRIORITIES[priority_id],
            "note": None,
            "ui_color": "high-priority" if priority_id == 3 else None,
            "ui_icon": "important" if priority_id == 3 else None,
            "updated_at": "2012-04-01T00:00:00.000Z",
            "updated_by_id": SYSTEM_USER_ID,
        }

    def _type_with_names(self, kind: TimeAccountingType) -> dict[str, Any]:
        result = _type_json(kind)
        self._add_by_logins(result, kind.created_by_id, kind.updated_by_id)
        return result

    def _add_by_logins(
        self, result: dict[str, Any], created_by: int | None, updated_by: int | None
    ) -> None:
        for key, user_id in (("created_by", created_by), ("updated_by", updated_by)):
            user = self.users.get(user_id or 0)
            if user is not None:
                result[key] = user.login


# -- module helpers -----------------------------------------------------------------------------
def _ok(body: Any) -> Reply:
    return Reply(200, body, {"Content-Type": JSON_TYPE})


def _levels(value: str | Iterable[str]) -> list[str]:
    levels = [value] if isinstance(value, str) else list(value)
    for level in levels:
        if level not in ACCESS_LEVELS:
            raise ValueError(f"group access is one of {ACCESS_LEVELS}, not {level!r}")
    return levels


def _state_id(name: str) -> int:
    for state_id, state_name in STATES.items():
        if state_name == name:
            return state_id
    raise ValueError(f"unknown state {name!r}")


def _optional_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return ruby_to_i(value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _ge(value: Any, moment: datetime) -> bool:
    return isinstance(value, datetime) and value >= moment


def _le(value: Any, moment: datetime) -> bool:
    return isinstance(value, datetime) and value <= moment


def _sanitize_note(value: Any) -> str:
    # note is HTML-sanitised and at most 250 characters (§1.1)
    text = re.sub(r"<script.*?</script>", "", str(value or ""), flags=re.S | re.I)
    return text[:250]


def _entry_value(entry: TimeAccounting, column: str) -> Any:
    return getattr(entry, column)


def _entry_json(entry: TimeAccounting) -> dict[str, Any]:
    # attributes_with_association_ids: the raw columns in table order (§1.3)
    return {
        "id": entry.id,
        "ticket_id": entry.ticket_id,
        "ticket_article_id": entry.ticket_article_id,
        "time_unit": format_decimal(entry.time_unit),
        "type_id": entry.type_id,
        "created_by_id": entry.created_by_id,
        "created_at": format_time(entry.created_at),
        "updated_at": format_time(entry.updated_at),
    }


def _type_json(kind: TimeAccountingType) -> dict[str, Any]:
    return {
        "id": kind.id,
        "name": kind.name,
        "note": kind.note,
        "active": kind.active,
        "updated_by_id": kind.updated_by_id,
        "created_by_id": kind.created_by_id,
        "created_at": format_time(kind.created_at),
        "updated_at": format_time(kind.updated_at),
    }


def _setting_json(setting: Setting) -> dict[str, Any]:
    # Setting#as_json; the value sits in state_current.value (§1.2)
    return {
        "id": setting.id,
        "name": setting.name,
        "title": setting.title,
        "description": setting.title,
        "options": {"form": [{"name": setting.name}]},
        "state_current": {"value": setting.value},
        "state_initial": {"value": setting.value},
        "preferences": {"permission": setting.permission},
        "frontend": setting.frontend,
        "area": setting.area,
        "created_at": format_time(setting.created_at),
        "updated_at": format_time(setting.updated_at),
    }


def _group_json(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "active": group.active,
        "note": group.note,
        "created_by_id": group.created_by_id,
        "updated_by_id": group.updated_by_id,
        "created_at": format_time(group.created_at),
        "updated_at": format_time(group.updated_at),
    }


def _paginate(params: Params, *, default: int, maximum: int) -> tuple[int, int]:
    """CanPaginate::Pagination: per_page (alias limit) capped silently at max; page 1-based."""
    raw_limit = params.get("per_page")
    if raw_limit is None:
        raw_limit = params.get("limit")
    limit = min(ruby_to_i(raw_limit) if raw_limit is not None else default, maximum)
    raw_page = params.get("page")
    page = ruby_to_i(raw_page) if raw_page is not None else 1
    offset = (page - 1) * limit
    # PostgreSQL refuses negative LIMIT/OFFSET; StatementInvalid is a 422 (§2.4).
    if limit < 0:
        raise ZammadError(
            422, "PG::InvalidRowCountInLimitClause: ERROR:  LIMIT must not be negative"
        )
    if offset < 0:
        raise ZammadError(
            422, "PG::InvalidRowCountInResultOffsetClause: ERROR:  OFFSET must not be negative"
        )
    return offset, limit


def _index_page(params: Params, ordered: Callable[[], list[Any]]) -> list[Any]:
    """model_index_render's page of the ``ordered`` rows: paginate_with(default: 500), max 1000
    (§1.3); the paging parameters are checked before the rows are sorted."""
    offset, limit = _paginate(params, default=500, maximum=1000)
    return ordered()[offset : offset + limit]


def _sort_rows(
    rows: list[Any],
    params: Params,
    columns: Sequence[str],
    value_of: Callable[[Any, str], Any],
    default_sort: str,
    default_order: str,
) -> list[Any]:
    """SqlHelper (lib/sql_helper.rb): validate sort_by/order_by, then ORDER BY the pairs."""
    sort_by = _split_param(params.get("sort_by"))
    for column in sort_by:
        if column not in columns:
            # RuntimeError, rendered as 500 (§1.3)
            raise _runtime_error(f"Found invalid column '{column}' for sorting.")
    order_by = _split_param(params.get("order_by"))
    for direction in order_by:
        if not re.fullmatch(r"asc|desc", direction, flags=re.I):
            raise _runtime_error(
                f"Found invalid order by value {direction}. Please use 'asc' or 'desc'."
            )
    sort_by = sort_by or [default_sort]
    order_by = [d.lower() for d in order_by] or [default_order]
    # get_order skips a column that has no order_by at the same index: sort_by=updated_at,id
    # with order_by=desc sorts by updated_at only (ties in heap order).
    pairs = [(c, order_by[i]) for i, c in enumerate(sort_by) if i < len(order_by) and c]
    ordered = list(rows)
    for column, direction in reversed(pairs):
        # PostgreSQL: NULLS LAST for ASC and NULLS FIRST for DESC
        ordered.sort(key=_column_key(value_of, column), reverse=direction == "desc")
    return ordered


def _column_key(
    value_of: Callable[[Any, str], Any], column: str
) -> Callable[[Any], tuple[bool, Any]]:
    return lambda row: _sort_key(value_of(row, column))


def _sort_key(value: Any) -> tuple[bool, Any]:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True)
    return (value is None, value)


def _split_param(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if is_present(v)]
    if not is_present(value):
        return []
    return [part for part in re.split(r"\s*,\s*", str(value)) if part]


def _nest_query(query: dict[str, list[str]]) -> Params:
    """Rack's nested query parsing: condition[ticket.updated_at][operator]=... -> dicts."""
    params: Params = {}
    for key, values in query.items():
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\]]*\])*)", key)
        if match is None:
            params[key] = values[-1]
            continue
        path = [match.group(1), *re.findall(r"\[([^\]]*)\]", match.group(2))]
        value: Any = values[-1]
        if len(path) > 1 and path[-1] == "":
            path, value = path[:-1], values  # a[]=1&a[]=2
        target = params
        for piece in path[:-1]:
            child = target.get(piece)
            if not isinstance(child, dict):
                child = {}
                target[piece] = child
            target = child
        target[path[-1]] = value
    return params


def _token_from_header(header: str) -> str | None:
    """ActionController::HttpAuthentication::Token: "Token token=abc", "Token abc", "Bearer abc"."""
    raw = re.sub(r"^(Token|Bearer)\s+", "", header)
    pieces = [p for p in re.split(r"\s*(?:,|;|\t)\s*", raw) if p]
    if not pieces:
        return None
    first = pieces[0] if pieces[0].startswith("token=") else f"token={pieces[0]}"
    value = first.split("=", 1)[1] if "=" in first else ""
    value = re.sub(r'^"|"$', "", value)
    return value or None


def _numeric_overflow() -> ZammadError:
    return ZammadError(
        422,
        "PG::NumericValueOutOfRange: ERROR:  numeric field overflow\nDETAIL:  A field with "
        "precision 6, scale 2 must round to an absolute value less than 10^4.",
    )


def _foreign_key(column: str, value: int, table: str) -> ZammadError:
    return ZammadError(
        422,
        'PG::ForeignKeyViolation: ERROR:  insert or update on table "ticket_time_accountings" '
        f"violates foreign key constraint\nDETAIL:  Key ({column})=({value}) is not present in "
        f'table "{table}".',
    )


def _runtime_error(message: str) -> ZammadError:
    # A RuntimeError: 500, its message shown to admins only (§2.4)
    return ZammadError(500, message)


def _for_caller(error: ZammadError, caller: Caller | None) -> ZammadError:
    """Errors without a human message are hidden from non-admins behind an Error ID (§2.4)."""
    if error.error_human is not None or (caller is not None and caller.user_is_admin):
        return error
    error_id = secrets.token_urlsafe(6)
    return ZammadError(
        error.status,
        f"Error ID {error_id}: Please contact your administrator.",
        None,
        error.headers,
    )


@contextmanager
def _as_unprocessable() -> Iterator[None]:
    """Control endpoints: a bad request from a test becomes a 422, not a crash."""
    try:
        yield
    except ValueError as error:
        raise ZammadError(422, str(error), str(error)) from None


def _require_loopback(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"the Zammad double only sends webhooks to 127.0.0.1, not {url!r}")


def _post(
    url: str, headers: dict[str, str], body: bytes, timeout: httpx.Timeout
) -> tuple[int | None, str | None]:
    _require_loopback(url)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"
    return response.status_code, None


# == seeding =====================================================================================
def seed_from_dataset(
    double: ZammadDouble,
    dataset: Dataset,
    *,
    token_permissions: Sequence[str] = DEMO_TOKEN_PERMISSIONS,
) -> User:
    """Fill the double from a :class:`tests.doubles.dataset.Dataset` without firing webhooks.

    Adds an admin+agent API user (id 2, "sync@example.com") owning ``dataset.zammad_token``
    with ``token_permissions`` (default ``admin`` + ``ticket.agent``; pass
    ``DEFAULT_SYNC_TOKEN_PERMISSIONS`` for the reference's minimal pair, §3). Entries keep their
    ids and timestamps; entries ``with_article`` get an internal note at their creation time;
    each ticket's total and updated_at are what Zammad would show after these bookings.
    Returns the API user.
    """
    with double.lock:
        first = min([t.created_at for t in dataset.tickets] or [double.now()])
        seed_at = truncate_to_ms(first - timedelta(days=30))
        for group in dataset.groups:
            double.add_group(group.name, id=group.zammad_id, at=seed_at)
        for org in dataset.organizations:
            double.add_organization(org.name, id=org.zammad_id, at=seed_at)
        api_user = double.add_agent(
            "sync@example.com", "Time", "Sync", id=2, admin=True, at=seed_at
        )
        for agent in dataset.agents:
            double.add_agent(
                agent.login, agent.firstname, agent.lastname, agent.email, id=agent.zammad_id,
                at=seed_at,
            )  # fmt: skip
        for customer in dataset.customer_users:
            double.add_customer_user(
                customer.firstname, customer.lastname, customer.email, id=customer.zammad_id,
                organization_id=customer.organization_id, at=seed_at,
            )  # fmt: skip
        for kind in dataset.activity_types:
            double.add_time_accounting_type(
                kind.name, id=kind.zammad_id, active=kind.active, by=api_user.id, at=seed_at
            )
        double.add_token(api_user.id, token_permissions, dataset.zammad_token)
        double.set_setting("time_accounting", True, at=seed_at)
        double.set_setting("time_accounting_types", True, at=seed_at)
        double.set_setting("time_accounting_unit", dataset.zammad_unit, at=seed_at)
        for source in dataset.tickets:
            double.add_ticket(
                source.title, customer_id=source.customer_id, group_id=source.group_id,
                id=source.zammad_id, number=source.number,
                organization_id=source.organization_id, owner_id=source.owner_id,
                tags=source.tags, at=source.created_at,
            )  # fmt: skip
        for item in sorted(dataset.entries, key=lambda e: (e.created_at, e.zammad_id)):
            ticket = double.tickets[item.ticket_id]
            created = truncate_to_ms(item.created_at)
            article_id = None
            if item.with_article:
                article = double._insert_article(
                    ticket, item.agent_id, "Worked on it.", True, created, 1, 10
                )
                article_id = article.id
            double.time_accountings[item.zammad_id] = TimeAccounting(
                double._next_id("time_accountings", item.zammad_id), item.ticket_id, article_id,
                parse_time_unit(item.time_unit) or Decimal(0), item.type_id, item.agent_id,
                created, truncate_to_ms(item.updated_at),
            )  # fmt: skip
            ticket.updated_at = max(ticket.updated_at, truncate_to_ms(item.updated_at))
            ticket.updated_by_id = item.agent_id
        for ticket in double.tickets.values():
            entries = double.time_accountings.members("ticket_id", ticket.id)
            if entries:
                ticket.time_unit = sum((e.time_unit for e in entries), Decimal(0))
        # heap order: the rows written last come last
        double.time_accountings = dict(
            sorted(double.time_accountings.items(), key=lambda kv: (kv[1].updated_at, kv[0]))
        )
        return api_user


def seed_minimal(
    double: ZammadDouble,
    token: str = "zammad-demo-token",
    token_permissions: Sequence[str] = DEFAULT_SYNC_TOKEN_PERMISSIONS,
) -> User:
    """The smallest useful Zammad: group 1 "Users", the admin+agent API user (id 2) and its
    token with the reference's recommended permissions (§3)."""
    with double.lock:
        double.add_group("Users", id=1)
        api_user = double.add_agent("sync@example.com", "Time", "Sync", id=2, admin=True)
        double.add_token(api_user.id, token_permissions, token)
        return api_user


# == standalone ==================================================================================
def main(argv: Sequence[str] | None = None) -> None:
    from tests.doubles.dataset import demo_dataset

    parser = argparse.ArgumentParser(description="Run the Zammad test double on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--webhook-mode", choices=("always", "selective"), default="always")
    parser.add_argument("--search-format", choices=("6.5", "6.0"), default="6.5")
    parser.add_argument(
        "--early-6-0", action="store_true", help="answer 404 on /api/v1/time_accountings"
    )
    args = parser.parse_args(argv)

    double = ZammadDouble(
        search_response_format=args.search_format,
        global_time_accountings_route=not args.early_6_0,
    )
    double.latency = args.latency_ms / 1000
    if args.seed == "demo":
        dataset = demo_dataset()
        seed_from_dataset(double, dataset)
        token = dataset.zammad_token
    else:
        token = "zammad-demo-token"
        seed_minimal(double, token)
    if args.webhook_url:
        double.configure_webhook(
            args.webhook_url, args.webhook_secret, execution_mode=args.webhook_mode
        )
    stop = stop_on_signals()
    with double.serve(port=args.port) as base_url:
        print(f"Zammad double on {base_url}", flush=True)
        print(f"API token: {token}", flush=True)
        try:
            stop.wait()
        finally:
            double.close()


if __name__ == "__main__":
    main()
