"""A Kimai 2.x server double that behaves like the real one, quirks included.

The behaviour follows ``docs/reference/kimai-api.md`` (cited below as "§n"); where the
reference is silent, the Kimai sources it was written from (``kimai/kimai`` 1f421c276) decide.
Everything a client can observe is modelled: Bearer authentication, per-role permissions and team
access, the exact error bodies, the ``GET /api/timesheets`` filters and pagination, the POST/PATCH
form rules (field presence by permission, JSON-to-form decoding, the ``billable`` quirk, tags as
a comma-separated string, times parsed in the caller's time zone and stored in the owner's) and
the validation rules with their configuration defaults.

State lives on the :class:`KimaiDouble` instance. Tests seed it through the public ``add_*``
helpers and read it back with ``timesheets_of`` and friends; clients talk to it through
``double.transport()`` or ``double.serve()`` (see ``apps/connectors/testkit/double.py``).

Run it standalone with ``python -m tests.doubles.kimai --port 8081 --seed demo``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, available_timezones

from apps.connectors.testkit.double import stop_on_signals
from tests.doubles.base import Double, RecordedRequest, Reply
from tests.doubles.indexed import TracksChanges
from tests.doubles.kimai_index import TimesheetStore

if TYPE_CHECKING:
    from tests.doubles.dataset import Dataset

DEFAULT_VERSION = "2.66.0"

ROLE_USER = "ROLE_USER"
ROLE_TEAMLEAD = "ROLE_TEAMLEAD"
ROLE_ADMIN = "ROLE_ADMIN"
ROLE_SUPER_ADMIN = "ROLE_SUPER_ADMIN"
ROLES = (ROLE_USER, ROLE_TEAMLEAD, ROLE_ADMIN, ROLE_SUPER_ADMIN)

# -- permissions: a copy of the defaults in Kimai's config/packages/kimai.yaml (§4) ----------------
_PERMISSION_SETS: dict[str, tuple[str, ...]] = {
    "ACTIVITIES": (
        "view_activity", "create_activity", "edit_activity", "budget_activity", "time_activity",
        "delete_activity", "permissions_activity",
    ),
    "ACTIVITIES_TEAMLEAD": (
        "view_teamlead_activity", "create_activity", "edit_teamlead_activity",
        "budget_teamlead_activity", "time_teamlead_activity",
    ),
    "PROJECTS": (
        "view_project", "create_project", "edit_project", "budget_project", "time_project",
        "delete_project", "permissions_project", "comments_project", "details_project",
    ),
    "PROJECTS_TEAMLEAD": (
        "view_teamlead_project", "budget_teamlead_project", "time_teamlead_project",
        "comments_teamlead_project", "details_teamlead_project",
    ),
    "CUSTOMERS": (
        "view_customer", "create_customer", "edit_customer", "budget_customer", "time_customer",
        "delete_customer", "permissions_customer", "comments_customer", "details_customer",
    ),
    "CUSTOMERS_TEAMLEAD": (
        "view_teamlead_customer", "budget_teamlead_customer", "time_teamlead_customer",
        "comments_teamlead_customer", "details_teamlead_customer",
    ),
    "INVOICE": ("view_invoice", "create_invoice"),
    "INVOICE_ADMIN": ("manage_invoice_template",),
    "TIMESHEET": (
        "view_own_timesheet", "start_own_timesheet", "stop_own_timesheet", "create_own_timesheet",
        "edit_own_timesheet", "export_own_timesheet", "delete_own_timesheet",
        "weekly_own_timesheet",
    ),
    "TIMESHEET_OTHER": (
        "view_other_timesheet", "start_other_timesheet", "stop_other_timesheet",
        "create_other_timesheet", "edit_other_timesheet", "export_other_timesheet",
        "delete_other_timesheet",
    ),
    "PROFILE": (
        "view_own_profile", "edit_own_profile", "password_own_profile", "preferences_own_profile",
        "api-token_own_profile",
    ),
    "PROFILE_OTHER": (
        "view_other_profile", "edit_other_profile", "password_other_profile",
        "roles_other_profile", "preferences_other_profile", "api-token_other_profile",
        "teams_other_profile", "supervisor_other_profile",
    ),
    "TAGS": ("view_tag", "manage_tag", "create_tag", "delete_tag"),
    "USER": ("view_user", "create_user", "delete_user", "role_permissions"),
    "RATE": ("view_rate_own_timesheet", "edit_rate_own_timesheet"),
    "RATE_OTHER": ("view_rate_other_timesheet", "edit_rate_other_timesheet"),
    "EXPORT": ("create_export", "edit_export_own_timesheet", "edit_export_other_timesheet"),
    "BILLABLE": ("edit_billable_own_timesheet", "edit_billable_other_timesheet"),
    "TEAMS": ("view_team", "create_team", "edit_team", "delete_team"),
    "LOCKDOWN": ("lockdown_grace_timesheet", "lockdown_override_timesheet"),
    "REPORTING": ("view_reporting", "view_other_reporting", "project_reporting",
                  "customer_reporting"),
    "EVERYONE": ("api_access", "hours_own_profile"),
}  # fmt: skip
_ROLE_SETS: dict[str, tuple[str, ...]] = {
    ROLE_USER: ("TIMESHEET", "PROFILE", "EVERYONE"),
    ROLE_TEAMLEAD: (
        "ACTIVITIES_TEAMLEAD", "PROJECTS_TEAMLEAD", "CUSTOMERS_TEAMLEAD", "TIMESHEET_OTHER",
        "INVOICE", "TIMESHEET", "PROFILE", "EXPORT", "BILLABLE", "TAGS", "REPORTING", "EVERYONE",
    ),
    ROLE_ADMIN: (
        "ACTIVITIES", "PROJECTS", "CUSTOMERS", "INVOICE", "INVOICE_ADMIN", "TIMESHEET",
        "TIMESHEET_OTHER", "PROFILE", "TEAMS", "RATE", "RATE_OTHER", "EXPORT", "BILLABLE", "TAGS",
        "LOCKDOWN", "REPORTING", "EVERYONE",
    ),
    ROLE_SUPER_ADMIN: (
        "ACTIVITIES", "PROJECTS", "CUSTOMERS", "INVOICE", "INVOICE_ADMIN", "TIMESHEET",
        "TIMESHEET_OTHER", "PROFILE", "PROFILE_OTHER", "USER", "TEAMS", "RATE", "RATE_OTHER",
        "EXPORT", "BILLABLE", "TAGS", "LOCKDOWN", "REPORTING", "EVERYONE",
    ),
}  # fmt: skip
_ROLE_EXTRAS: dict[str, tuple[str, ...]] = {
    ROLE_USER: ("view_team_member", "time_team_project", "create_tag", "view_reporting"),
    ROLE_TEAMLEAD: (
        "view_rate_own_timesheet", "view_rate_other_timesheet", "hourly-rate_own_profile",
        "view_team_member", "hours_other_profile",
    ),
    ROLE_ADMIN: (
        "hourly-rate_own_profile", "edit_exported_timesheet", "teams_own_profile",
        "view_team_member", "view_all_data", "contract_other_profile", "hours_other_profile",
        "create_export_template",
    ),
    ROLE_SUPER_ADMIN: (
        "hourly-rate_own_profile", "hourly-rate_other_profile", "roles_own_profile",
        "supervisor_own_profile", "system_information", "system_configuration", "plugins",
        "edit_exported_timesheet", "teams_own_profile", "view_team_member",
        "upload_invoice_template", "view_all_data", "contract_other_profile",
        "hours_other_profile", "create_export_template",
    ),
}  # fmt: skip


def default_permissions() -> dict[str, set[str]]:
    """Role → permission names, as a fresh Kimai installation has them (§4)."""
    result: dict[str, set[str]] = {}
    for role, sets in _ROLE_SETS.items():
        names = {name for set_name in sets for name in _PERMISSION_SETS[set_name]}
        result[role] = names | set(_ROLE_EXTRAS[role])
    # RolePermissionManager::SUPER_ADMIN_PERMISSIONS can never be revoked.
    result[ROLE_SUPER_ADMIN] |= {"view_all_data", "role_permissions", "view_user"}
    return result


def _codes(table: str) -> frozenset[str]:
    return frozenset(table.split())


# -- messages (§3, §6, §7, §11; English texts of translations/validators.en.xlf) ----------------
MSG_EXTRA_FIELDS = "This form should not contain extra fields."
MSG_INVALID_CHOICE = "The selected choice is invalid."
MSG_INVALID_DATETIME = "Please enter a valid date and time."
MSG_INVALID_DATE = "Please enter a valid date."
MSG_INVALID_VALUE = "This value is not valid."
MSG_INVALID_MONEY = "Please enter a valid money amount."
MSG_NOT_NULL = "This value should not be null."
MSG_NOT_BLANK = "This value should not be blank."
MSG_MISSING_BEGIN = "You must submit a begin date."
MSG_END_BEFORE_BEGIN = "The end date must not be earlier than the start date."
MSG_MISSING_ACTIVITY = "An activity needs to be selected."
MSG_MISSING_PROJECT = "A project needs to be selected."
MSG_PROJECT_MISMATCH = (
    "Project mismatch, project specific activity and timesheet project are different."
)
MSG_GLOBAL_FORBIDDEN = "Global activities are forbidden for the selected project."
MSG_PROJECT_NOT_STARTED = "The project has not started at that time."
MSG_PROJECT_FINISHED = "The project is finished at that time."
MSG_DISABLED_ACTIVITY = "Cannot start a disabled activity."
MSG_DISABLED_PROJECT = "Cannot start a disabled project."
MSG_DISABLED_CUSTOMER = "Cannot start a disabled customer."
MSG_OVERLAPPING = "You already have an entry for this time."
MSG_ZERO_DURATION = "An empty duration is not allowed."
MSG_NEGATIVE_DURATION = "Duration cannot be negative."
MSG_MAX_DURATION = "Maximum duration exceeded."
MSG_BEGIN_FUTURE = "The begin date cannot be in the future."
MSG_END_FUTURE = "The end date cannot be in the future."
MSG_LOCKED = "This period is locked. Please choose a later date."
MSG_EXPORTED = "This timesheet is already exported."
MSG_RESTART_DENIED = "You are not allowed to start this timesheet record."
MSG_GREATER_EQUAL_ZERO = "This value should be greater than or equal to 0."
MSG_FORBIDDEN_CHARS = 'The following characters are not allowed: < > " ='
MSG_TAG_COMMA = "Tag name cannot contain comma"
MSG_ALREADY_USED = "This value is already used."
MSG_INVALID_EMAIL = "This value is not a valid email address."
MSG_INVALID_URL = "This value is not a valid URL."

# Symfony's Regex and DateTime constraints accept "" (§5: strict params, blank passes).
_DATETIME_PARAM = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$")
_DATE_PARAM = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
# DateTimeToHtml5LocalDateTimeTransformer only checks this prefix, then PHP parses the rest (§6).
_FORM_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?"
    r"\s*(?P<tz>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)
_MAX_PAGE_SIZE = 500
_DEFAULT_PAGE_SIZE = 50
_MAX_DURATION_SECONDS = 31_536_000
_DEFAULT_COLOR = "#d2d6de"
# Utils/Color::PALETTE, used for "color-safe" when no colour is set.
_PALETTE = (
    "#AAAAAA", "#DDDDDD", "#a972c9", "#9C27B0", "#673AB7", "#041fd1", "#5319e7", "#3F51B5",
    "#0074D9", "#2196F3", "#03A9F4", "#7FDBFF", "#39CCCC", "#00BCD4", "#006b75", "#009688",
    "#00bb32", "#4CAF50", "#3D9970", "#2ECC40", "#01FF70", "#8BC34A", "#CDDC39", "#FFDC00",
    "#FFC107", "#FF851B", "#FF9800", "#FF5722", "#f41a00", "#E91E63", "#85144b", "#b60205",
    "#FF4136", "#cc317c", "#F012BE", "#d82d80", "#B10DC9", "#e135f4", "#2d3748", "#4a5568",
    "#718096",
)  # fmt: skip
# theme.color_choices default (Configuration.php): the only colours the forms accept (§11).
THEME_COLORS = frozenset(
    (
        "#c0c0c0", "#808080", "#000000", "#800000", "#a52a2a", "#ff0000", "#ffa500", "#ffd700",
        "#ffff00", "#ffdab9", "#f0e68c", "#808000", "#00ff00", "#9acd32", "#008000", "#008080",
        "#00ffff", "#add8e6", "#00bfff", "#1e90ff", "#0000ff", "#000080", "#800080", "#ff00ff",
        "#ee82ee", "#ffe4e1", "#E6E6FA",
    )
)  # fmt: skip
_COUNTRIES = _codes(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT
    ZA ZM ZW"""
)
_CURRENCIES = _codes(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
    TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL"""
)
# The locales Kimai ships translations for (kimai.yaml "kimai.languages").
_LANGUAGES = _codes(
    """ar bg ca cs da de de_AT de_CH el en en_GB eo es eu fa fi fo fr he hr hu id it ja ko nb_NO
    nl pl pt pt_BR ro ru sk sl sr sv ta th tr uk vi zh_CN zh_HK"""
)
_ZONES = frozenset(available_timezones()) | {"UTC"}


# -- state -----------------------------------------------------------------------------------------
@dataclass
class ApiToken:
    token: str
    user_id: int
    expires_at: datetime | None = None


@dataclass
class User:
    id: int
    username: str
    email: str
    timezone: str = "Europe/Berlin"
    roles: list[str] = field(default_factory=list)  # stored without ROLE_USER, like Kimai
    alias: str | None = None
    title: str | None = None
    account_number: str | None = None
    enabled: bool = True
    system_account: bool = False
    color: str | None = None
    language: str = "en"
    hourly_rate: float = 0.0
    api_password: str | None = None  # the deprecated X-AUTH-TOKEN secret (§2)
    supervisor_id: int | None = None

    @property
    def all_roles(self) -> list[str]:
        return [*self.roles, ROLE_USER] if ROLE_USER not in self.roles else list(self.roles)

    @property
    def display_name(self) -> str:
        return self.alias or self.username


@dataclass
class Team:
    id: int
    name: str
    members: dict[int, bool] = field(default_factory=dict)  # user id → is teamlead
    color: str | None = None

    @property
    def leads(self) -> set[int]:
        return {uid for uid, lead in self.members.items() if lead}


@dataclass
class Customer:
    id: int
    name: str
    number: str | None = None
    comment: str | None = None
    visible: bool = True
    billable: bool = True
    company: str | None = None
    vat_id: str | None = None
    contact: str | None = None
    address: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_line3: str | None = None
    post_code: str | None = None
    city: str | None = None
    country: str = "DE"
    language: str = "en"
    currency: str = "EUR"
    phone: str | None = None
    fax: str | None = None
    mobile: str | None = None
    email: str | None = None
    homepage: str | None = None
    timezone: str = "Europe/Berlin"
    invoice_text: str | None = None
    invoice_template: str | None = None
    invoice_email: str | None = None
    buyer_reference: str | None = None
    color: str | None = None
    teams: list[int] = field(default_factory=list)
    hourly_rate: float | None = None
    budget: float = 0.0
    time_budget: int = 0
    budget_type: str | None = None


@dataclass
class Project:
    id: int
    name: str
    customer_id: int
    number: str | None = None
    order_number: str | None = None
    order_date: date | None = None
    start: date | None = None
    end: date | None = None
    timezone: str = "Europe/Berlin"  # the zone start (00:00:00) and end (23:59:59) are read in
    comment: str | None = None
    invoice_text: str | None = None
    visible: bool = True
    billable: bool = True
    global_activities: bool = True
    color: str | None = None
    teams: list[int] = field(default_factory=list)
    hourly_rate: float | None = None
    budget: float = 0.0
    time_budget: int = 0
    budget_type: str | None = None


@dataclass
class Activity:
    id: int
    name: str
    project_id: int | None = None  # None: a global activity
    number: str | None = None
    comment: str | None = None
    invoice_text: str | None = None
    visible: bool = True
    billable: bool = True
    color: str | None = None
    teams: list[int] = field(default_factory=list)
    hourly_rate: float | None = None
    budget: float = 0.0
    time_budget: int = 0
    budget_type: str | None = None


@dataclass
class Tag:
    id: int
    name: str
    visible: bool = True
    color: str | None = None


@dataclass
class MetaValue:
    name: str  # lower-cased, as Kimai serialises it (§8)
    value: str | None
    visible: bool = True


@dataclass
class Timesheet(TracksChanges):
    id: int
    user_id: int
    project_id: int
    activity_id: int
    begin: datetime  # aware, in `timezone`
    end: datetime | None
    timezone: str  # the owner's time zone after saving (§6)
    duration: int = 0
    break_seconds: int = 0
    description: str | None = None
    tag_ids: list[int] = field(default_factory=list)
    billable: bool = True
    billable_mode: str = "auto"  # auto | yes | no
    exported: bool = False
    rate: float = 0.0
    internal_rate: float | None = 0.0
    fixed_rate: float | None = None
    hourly_rate: float | None = None
    meta: dict[str, MetaValue] = field(default_factory=dict)
    modified_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    category: str = "work"

    @property
    def running(self) -> bool:
        return self.end is None


@dataclass
class KimaiConfig:
    """Instance settings (System → Settings in Kimai) with their defaults (§7)."""

    tracking_mode: str = "default"  # default | punch | duration_fixed_begin | ...
    default_begin_time: str = "now"
    active_entries_hard_limit: int = 1
    allow_future_times: bool = True
    allow_overlapping_records: bool = True
    allow_zero_duration: bool = True
    require_activity: bool = True
    long_running_duration: int = 0  # minutes; 0 = off
    break_time_active: bool = False
    rounding_begin_minutes: int = 1
    rounding_end_minutes: int = 1
    allow_duplicate_number: bool = False
    # defaults.customer.* (§11); Kimai falls back to PHP's zone when no timezone is configured
    default_customer_country: str = "DE"
    default_customer_currency: str = "EUR"
    default_customer_timezone: str = "UTC"
    lockdown_start: datetime | None = None  # naive: read in the record's time zone
    lockdown_end: datetime | None = None
    lockdown_grace: timedelta | None = None


class _HttpError(Exception):
    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.reply = Reply(status, body, headers or {})


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    500: "Internal Server Error",
}


def _error(status: int) -> _HttpError:
    """FOSRest in production mode: the status text replaces the exception message (§3)."""
    return _HttpError(status, {"code": status, "message": _REASONS[status]})


class _Invalid:
    """Marker for a form value whose transformation failed."""


_INVALID = _Invalid()


class FormErrors:
    """Collects errors into the FOSRest form error body (§3)."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.children: dict[str, list[str]] = {name: [] for name in fields}
        self.root: list[str] = []

    def add(self, path: str | None, message: str) -> None:
        # Violations whose path is no form field go to the root (§3 "Where a violation lands").
        if path is not None and path in self.children:
            if message not in self.children[path]:
                self.children[path].append(message)
        elif message not in self.root:
            self.root.append(message)

    def __bool__(self) -> bool:
        return bool(self.root) or any(self.children.values())

    def body(self) -> dict[str, Any]:
        errors: dict[str, Any] = {}
        if self.root:
            errors["errors"] = list(self.root)
        errors["children"] = {
            name: ({"errors": list(messages)} if messages else {})
            for name, messages in self.children.items()
        }
        return {"code": 400, "message": "Validation Failed", "errors": errors}


# -- small helpers -------------------------------------------------------------------------------
def format_datetime(value: datetime, zone: str | None = None) -> str:
    """JMS DateTime format ``Y-m-d\\TH:i:sO``: the offset has no colon (§1)."""
    if zone is not None:
        value = value.astimezone(ZoneInfo(zone))
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


@functools.cache
def version_id(version: str) -> int:
    """``2.66.0`` → 26600, like Kimai's ``Constants::VERSION_ID`` (PHP_VERSION_ID style)."""
    parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
    parts += [0] * (3 - len(parts))
    return parts[0] * 10000 + parts[1] * 100 + parts[2]


def _color_safe(color: str | None, name: str) -> str:
    """ColorTrait::getColorSafe: the colour, or one picked from the palette by the name."""
    if color and color != _DEFAULT_COLOR:
        return color
    # Utils/Color::getRandomFromPalette sums mb_ord() of single bytes; non-ASCII bytes add 0.
    total = sum(b for b in name.encode() if b < 128)
    return _PALETTE[total % len(_PALETTE)]


def _initials(name: str) -> str:
    """User::getInitials."""
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", name):
        name = name.split("@", 1)[0].replace(".", " ")
    words = name.split(" ")
    initial = name[:2] if len(words) == 1 else "".join(w[:1] for w in words)[:2]
    return initial.upper()


def _like(pattern: str) -> re.Pattern[str]:
    """MySQL ``LIKE`` with a case-insensitive collation; ``%`` and ``_`` are wildcards (§5)."""
    out: list[str] = []
    for literal, wildcard in _like_parts(pattern):
        out.append(re.escape(literal))
        out.append({"%": ".*", "_": "."}.get(wildcard, ""))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _like_parts(pattern: str) -> list[tuple[str, str]]:
    """A LIKE pattern as (literal text, the wildcard after it or "") pieces."""
    parts: list[tuple[str, str]] = []
    literal: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            literal.append(next(chars, "\\"))
        elif char in "%_":
            parts.append(("".join(literal), char))
            literal = []
        else:
            literal.append(char)
    parts.append(("".join(literal), ""))
    return parts


def _php_bool(value: Any) -> bool:
    """PHP's ``(bool)`` cast of a decoded form value."""
    if value is None:
        return False
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, (list, dict)):
        return len(value) > 0
    return bool(value)


def _php_string(value: Any) -> Any:
    """The jsontoform decoder (§1): scalars become strings, false becomes null, null ""."""
    if isinstance(value, dict):
        return {str(k): _php_string(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(i): _php_string(v) for i, v in enumerate(value)}
    if value is False:
        return None
    if value is True:
        return "1"
    if value is None:
        return ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _camel_keys(data: dict[str, Any]) -> dict[str, Any]:
    """FOSRest camel_keys normalizer: ``fixed_rate`` → ``fixedRate``; both at once → 400 (§1)."""
    result: dict[str, Any] = {}
    for key, value in data.items():
        camel = re.sub(r"_([a-zA-Z0-9])", lambda m: m.group(1).upper(), key)
        if camel in result:
            raise _error(400)
        result[camel] = _camel_keys(value) if isinstance(value, dict) else value
    return result


def _is_list_like(value: Any) -> bool:
    return isinstance(value, (dict, list))


def _form_text(value: Any) -> str | None:
    """Symfony TextType: trimmed, "" becomes null."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _parse_form_datetime(value: Any, zone: str) -> datetime | None | _Invalid:
    """DateTimeApiType (§6): prefix-checked, then read in `zone` unless it carries an offset."""
    if value is None:
        return None
    if not isinstance(value, str):
        return _INVALID
    text = value.strip()
    if text == "":
        return None
    match = _FORM_DATETIME.match(text)
    if not match:
        return _INVALID
    year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
    second = int(match.group(6) or 0)
    try:
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return _INVALID
    offset = match.group("tz")
    if offset is None:
        return _localize(local, zone)
    if offset in ("Z", "z", "UTC", "GMT"):
        parsed = local.replace(tzinfo=UTC)
    else:
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        parsed = local.replace(tzinfo=_fixed_zone(sign * (hours * 60 + minutes)))
    return parsed.astimezone(ZoneInfo(zone))


def _fixed_zone(minutes: int) -> tzinfo:
    return timezone(timedelta(minutes=minutes))


def _localize(local: datetime, zone: str) -> datetime:
    """A wall-clock time in `zone`, resolved like PHP (the first occurrence in a DST fold)."""
    return local.replace(tzinfo=ZoneInfo(zone), fold=0)


def _parse_param_datetime(value: str, zone: str) -> datetime:
    match = _DATETIME_PARAM.match(value)
    if not match:
        raise _error(400)
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        local = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise _error(400) from None
    return _localize(local, zone)


def _floor_minutes(value: datetime, minutes: int) -> datetime:
    """DefaultRounding::roundBegin: arithmetic on the Unix timestamp (§6 Rounding)."""
    if minutes <= 0:
        return value
    seconds = minutes * 60
    stamp = int(value.timestamp())
    diff = stamp % seconds
    if diff == 0 and value.microsecond == 0:
        return value
    return datetime.fromtimestamp(stamp - diff, value.tzinfo)


def _ceil_minutes(value: datetime, minutes: int) -> datetime:
    """DefaultRounding::roundEnd."""
    if minutes <= 0:
        return value
    seconds = minutes * 60
    stamp = int(value.timestamp())
    diff = stamp % seconds
    if diff == 0:
        return value.replace(microsecond=0)
    return datetime.fromtimestamp(stamp - diff + seconds, value.tzinfo)


def _seconds_between(begin: datetime, end: datetime) -> int:
    return int(end.timestamp()) - int(begin.timestamp())


def _money(value: float | None) -> float | None:
    return None if value is None else float(value)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class KimaiDouble(Double):
    """An in-memory Kimai 2.x (default 2.66.0) speaking its REST API under ``/api``."""

    name = "kimai"

    def __init__(
        self,
        version: str = DEFAULT_VERSION,
        clock: Callable[[], datetime] | None = None,
        config: KimaiConfig | None = None,
    ) -> None:
        super().__init__()
        self.version = version
        self.clock: Callable[[], datetime] = clock or _utc_now
        self.config = config or KimaiConfig()
        self.permissions = default_permissions()
        self.users: dict[int, User] = {}
        self.tokens: dict[str, ApiToken] = {}
        self.teams: dict[int, Team] = {}
        self.customers: dict[int, Customer] = {}
        self.projects: dict[int, Project] = {}
        self.activities: dict[int, Activity] = {}
        self.tags: dict[int, Tag] = {}
        self._timesheets = TimesheetStore()
        # Meta fields a plugin registered for timesheets: lower-cased name → visible (§9).
        self.meta_fields: dict[str, bool] = {}
        # Unexpected exceptions inside route(); a correct double keeps this empty.
        self.internal_errors: list[str] = []
        self._ids: dict[str, int] = {}
        self._route_table: (
            list[tuple[re.Pattern[str], dict[str, Callable[..., Reply]], int]] | None
        ) = None

    @property
    def version_id(self) -> int:
        return version_id(self.version)

    @property
    def timesheets(self) -> TimesheetStore:
        """Every timesheet by id, in a dict that keeps itself indexed (kimai_index.py)."""
        return self._timesheets

    @timesheets.setter
    def timesheets(self, sheets: dict[int, Timesheet]) -> None:
        self._timesheets = TimesheetStore(sheets)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    # == seeding helpers (bypass the API, like an administrator clicking in Kimai) ================
    def add_user(
        self,
        username: str,
        email: str | None = None,
        timezone: str = "Europe/Berlin",
        role: str = ROLE_USER,
        token: str | None = None,
        *,
        roles: Iterable[str] = (),
        teams: Iterable[int | str] = (),
        leads: Iterable[int | str] = (),
        alias: str | None = None,
        title: str | None = None,
        account_number: str | None = None,
        enabled: bool = True,
        system_account: bool = False,
        language: str = "en",
        hourly_rate: float = 0.0,
        api_password: str | None = None,
        token_expires_at: datetime | None = None,
        color: str | None = None,
    ) -> int:
        """Create a user and return its id.

        `teams` are teams they belong to, `leads` teams they lead (ids or names; unknown names
        create the team). `role` ROLE_USER is implied, as in Kimai.
        """
        with self.lock:
            if timezone not in _ZONES:
                raise ValueError(f"unknown time zone {timezone}")
            all_roles = [r for r in (role, *roles) if r != ROLE_USER]
            for name in all_roles:
                if name not in ROLES:
                    raise ValueError(f"unknown role {name}")
            user = User(
                id=self._next_id("user"),
                username=username,
                email=email or f"{username}@example.com",
                timezone=timezone,
                roles=list(dict.fromkeys(all_roles)),
                alias=alias,
                title=title,
                account_number=account_number,
                enabled=enabled,
                system_account=system_account,
                language=language,
                hourly_rate=hourly_rate,
                api_password=api_password,
                color=color,
            )
            self.users[user.id] = user
            if token is not None:
                self.add_token(user.id, token, expires_at=token_expires_at)
            for team in teams:
                self.teams[self._team_ref(team)].members.setdefault(user.id, False)
            for team in leads:
                self.teams[self._team_ref(team)].members[user.id] = True
            return user.id

    def add_token(self, user: int | str, token: str, expires_at: datetime | None = None) -> None:
        """An API token (Bearer, Kimai ≥ 2.14) for a user; `expires_at` aware (§2)."""
        with self.lock:
            self.tokens[token] = ApiToken(token, self._user_ref(user), expires_at)

    def add_team(
        self,
        name: str,
        members: Iterable[int | str] = (),
        leads: Iterable[int | str] = (),
        color: str | None = None,
    ) -> int:
        """A team; `leads` are members with the teamlead flag."""
        with self.lock:
            team = Team(id=self._next_id("team"), name=name, color=color)
            for member in members:
                team.members[self._user_ref(member)] = False
            for lead in leads:
                team.members[self._user_ref(lead)] = True
            self.teams[team.id] = team
            return team.id

    def add_customer(
        self,
        name: str,
        *,
        visible: bool = True,
        billable: bool = True,
        country: str = "DE",
        currency: str = "EUR",
        timezone: str = "Europe/Berlin",
        number: str | None = None,
        teams: Iterable[int | str] = (),
        hourly_rate: float | None = None,
        color: str | None = None,
        company: str | None = None,
        comment: str | None = None,
    ) -> int:
        with self.lock:
            cid = self._next_id("customer")
            self.customers[cid] = Customer(
                id=cid,
                name=name,
                number=number if number is not None else f"{cid:04d}",
                visible=visible,
                billable=billable,
                country=country,
                currency=currency,
                timezone=timezone,
                teams=[self._team_ref(t) for t in teams],
                hourly_rate=hourly_rate,
                color=color,
                company=company,
                comment=comment,
            )
            return cid

    def add_project(
        self,
        name: str,
        customer: int | str,
        *,
        visible: bool = True,
        billable: bool = True,
        global_activities: bool = True,
        start: date | None = None,
        end: date | None = None,
        timezone: str = "Europe/Berlin",
        number: str | None = None,
        order_number: str | None = None,
        teams: Iterable[int | str] = (),
        hourly_rate: float | None = None,
        color: str | None = None,
        comment: str | None = None,
    ) -> int:
        """A project of `customer` (id or name); `start`/`end` are dates read in `timezone`."""
        with self.lock:
            pid = self._next_id("project")
            self.projects[pid] = Project(
                id=pid,
                name=name,
                customer_id=self._customer_ref(customer),
                number=number if number is not None else f"{pid:04d}",
                order_number=order_number,
                start=start,
                end=end,
                timezone=timezone,
                visible=visible,
                billable=billable,
                global_activities=global_activities,
                teams=[self._team_ref(t) for t in teams],
                hourly_rate=hourly_rate,
                color=color,
                comment=comment,
            )
            return pid

    def add_activity(
        self,
        name: str,
        project: int | str | None = None,
        *,
        visible: bool = True,
        billable: bool = True,
        number: str | None = None,
        teams: Iterable[int | str] = (),
        hourly_rate: float | None = None,
        color: str | None = None,
        comment: str | None = None,
    ) -> int:
        """An activity of `project` (id or name), or a global one when `project` is None."""
        with self.lock:
            aid = self._next_id("activity")
            self.activities[aid] = Activity(
                id=aid,
                name=name,
                project_id=None if project is None else self._project_ref(project),
                number=number if number is not None else f"{aid:04d}",
                visible=visible,
                billable=billable,
                teams=[self._team_ref(t) for t in teams],
                hourly_rate=hourly_rate,
                color=color,
                comment=comment,
            )
            return aid

    def add_tag(self, name: str, visible: bool = True, color: str | None = None) -> int:
        with self.lock:
            tid = self._next_id("tag")
            self.tags[tid] = Tag(id=tid, name=name, visible=visible, color=color)
            return tid

    def add_timesheet(
        self,
        user: int | str,
        project: int | str,
        activity: int | str,
        begin: datetime,
        end: datetime | None = None,
        *,
        description: str | None = None,
        tags: Iterable[str] = (),
        billable: bool | None = None,
        exported: bool = False,
        fixed_rate: float | None = None,
        hourly_rate: float | None = None,
        meta: dict[str, str | None] | None = None,
    ) -> int:
        """A timesheet someone entered in Kimai's UI: no API rules, but Kimai's save logic.

        Naive times are read in the owner's time zone; times are rounded like every Kimai save;
        unknown tag names are created; `billable=None` means billable mode "auto".
        """
        with self.lock:
            owner = self.users[self._user_ref(user)]
            zone = ZoneInfo(owner.timezone)
            begin = begin.replace(tzinfo=zone) if begin.tzinfo is None else begin.astimezone(zone)
            if end is not None:
                end = end.replace(tzinfo=zone) if end.tzinfo is None else end.astimezone(zone)
            tag_ids = []
            for tag_name in tags:
                found = self._tag_by_name(tag_name)
                tag_ids.append(found.id if found else self.add_tag(tag_name))
            sheet = Timesheet(
                id=self._next_id("timesheet"),
                user_id=owner.id,
                project_id=self._project_ref(project),
                activity_id=self._activity_ref(activity, project),
                begin=begin,
                end=end,
                timezone=owner.timezone,
                description=description,
                tag_ids=sorted(set(tag_ids)),
                billable_mode="auto" if billable is None else ("yes" if billable else "no"),
                exported=exported,
                fixed_rate=fixed_rate,
                hourly_rate=hourly_rate,
            )
            for name, value in (meta or {}).items():
                key = name.lower()
                sheet.meta[key] = MetaValue(key, value, self.meta_fields.get(key, True))
            self._save_timesheet(
                sheet, rates_given=fixed_rate is not None or hourly_rate is not None
            )
            self.timesheets[sheet.id] = sheet
            return sheet.id

    def set_lockdown(self, start: datetime, end: datetime, grace: timedelta | None = None) -> None:
        """Lock the period start..end (§7); naive datetimes are read in each record's zone."""
        with self.lock:
            self.config.lockdown_start = start
            self.config.lockdown_end = end
            self.config.lockdown_grace = grace

    def clear_lockdown(self) -> None:
        with self.lock:
            self.config.lockdown_start = self.config.lockdown_end = None
            self.config.lockdown_grace = None

    def mark_exported(self, timesheet_id: int, exported: bool = True) -> None:
        """What an invoice or export run does to a record (locks it, §4)."""
        with self.lock:
            sheet = self.timesheets[timesheet_id]
            sheet.exported = exported
            sheet.modified_at = self.now()

    def register_meta_field(self, name: str, visible: bool = True) -> None:
        """Register a timesheet custom field, as a plugin would (§9)."""
        with self.lock:
            self.meta_fields[name.lower()] = visible

    def set_meta(self, timesheet_id: int, name: str, value: str | None) -> None:
        with self.lock:
            key = name.lower()
            sheet = self.timesheets[timesheet_id]
            sheet.meta[key] = MetaValue(key, value, self.meta_fields.get(key, True))
            sheet.modified_at = self.now()

    def configure(self, **settings: Any) -> None:
        """Change instance settings, e.g. ``configure(allow_overlapping_records=False)``."""
        with self.lock:
            for key, value in settings.items():
                if not hasattr(self.config, key):
                    raise AttributeError(f"KimaiConfig has no setting {key!r}")
                setattr(self.config, key, value)

    def grant(self, role: str, permission: str) -> None:
        """Change a role's permissions, like Kimai's "Roles" admin screen."""
        with self.lock:
            self.permissions[role].add(permission)

    def revoke(self, role: str, permission: str) -> None:
        with self.lock:
            self.permissions[role].discard(permission)

    def set_now(self, moment: datetime | None) -> None:
        """Freeze the double's clock at `moment` (aware), or unfreeze with None."""
        with self.lock:
            self.clock = _utc_now if moment is None else (lambda: moment)

    # == read helpers ============================================================================
    def user_id(self, username: str) -> int:
        return self._user_ref(username)

    def customer_id(self, name: str) -> int:
        return self._customer_ref(name)

    def project_id(self, name: str) -> int:
        return self._project_ref(name)

    def activity_id(self, name: str, project: int | str | None = None) -> int:
        return self._activity_ref(name, project)

    def tag_id(self, name: str) -> int:
        tag = self._tag_by_name(name)
        if tag is None:
            raise KeyError(name)
        return tag.id

    def timesheet(self, timesheet_id: int) -> Timesheet:
        """A copy of one stored timesheet (KeyError if there is none)."""
        with self.lock:
            return _copy_timesheet(self.timesheets[timesheet_id])

    def all_timesheets(self) -> list[Timesheet]:
        with self.lock:
            return [_copy_timesheet(t) for t in sorted(self.timesheets.values(), key=_by_id)]

    def timesheets_of(self, user: int | str) -> list[Timesheet]:
        """Copies of one user's timesheets, oldest id first."""
        with self.lock:
            uid = self._user_ref(user)
            return [t for t in self.all_timesheets() if t.user_id == uid]

    def find_timesheets(self, description_contains: str) -> list[Timesheet]:
        with self.lock:
            return [
                t for t in self.all_timesheets() if description_contains in (t.description or "")
            ]

    def tag_names(self, timesheet_id: int) -> list[str]:
        with self.lock:
            return [self.tags[i].name for i in self.timesheets[timesheet_id].tag_ids]

    def tokens_by_user(self) -> dict[str, list[str]]:
        with self.lock:
            result: dict[str, list[str]] = {}
            for token in self.tokens.values():
                result.setdefault(self.users[token.user_id].username, []).append(token.token)
            return result

    # -- reference resolution ----------------------------------------------------------------
    def _user_ref(self, ref: int | str) -> int:
        if isinstance(ref, int):
            if ref not in self.users:
                raise KeyError(ref)
            return ref
        for user in self.users.values():
            if user.username == ref:
                return user.id
        raise KeyError(ref)

    def _team_ref(self, ref: int | str) -> int:
        if isinstance(ref, int):
            if ref not in self.teams:
                raise KeyError(ref)
            return ref
        for team in self.teams.values():
            if team.name == ref:
                return team.id
        return self.add_team(ref)

    def _customer_ref(self, ref: int | str) -> int:
        if isinstance(ref, int):
            if ref not in self.customers:
                raise KeyError(ref)
            return ref
        return next(c.id for c in self.customers.values() if c.name == ref)

    def _project_ref(self, ref: int | str) -> int:
        if isinstance(ref, int):
            if ref not in self.projects:
                raise KeyError(ref)
            return ref
        return next(p.id for p in self.projects.values() if p.name == ref)

    def _activity_ref(self, ref: int | str, project: int | str | None = None) -> int:
        if isinstance(ref, int):
            if ref not in self.activities:
                raise KeyError(ref)
            return ref
        project_id = None if project is None else self._project_ref(project)
        candidates = [a for a in self.activities.values() if a.name == ref]
        for activity in candidates:  # the project's own activity wins over a global namesake
            if project_id is not None and activity.project_id == project_id:
                return activity.id
        for activity in candidates:
            if activity.project_id is None:
                return activity.id
        if candidates:
            return candidates[0].id
        raise KeyError(ref)

    def _tag_by_name(self, name: str, visible_only: bool = False) -> Tag | None:
        # Tag names compare like MySQL's case-insensitive utf8mb4 collation.
        for tag in self.tags.values():
            if tag.name.lower() == name.lower() and (tag.visible or not visible_only):
                return tag
        return None

    # == permissions (§4; src/Security/RolePermissionManager.php, src/Voter/*) ==================
    def _perm(self, user: User, permission: str) -> bool:
        return any(permission in self.permissions.get(role, ()) for role in user.all_roles)

    def _sees_all(self, user: User) -> bool:
        return self._perm(user, "view_all_data")

    def _teams_of(self, user: User) -> list[Team]:
        return [t for t in self.teams.values() if user.id in t.members]

    def _led_teams(self, user: User) -> list[Team]:
        return [t for t in self.teams.values() if t.members.get(user.id)]

    def _team_access(self, team_ids: Iterable[int], user: User) -> bool:
        team_ids = list(team_ids)
        if self._sees_all(user) or not team_ids:
            return True
        return any(user.id in self.teams[t].members for t in team_ids if t in self.teams)

    def _teamlead_access(self, team_ids: Iterable[int], user: User) -> bool:
        team_ids = list(team_ids)
        if self._sees_all(user) or not team_ids:
            return True
        return any(self.teams[t].members.get(user.id) for t in team_ids if t in self.teams)

    def _access_customer(self, customer: Customer, user: User) -> bool:
        return self._team_access(customer.teams, user)

    def _access_project(self, project: Project, user: User) -> bool:
        customer = self.customers[project.customer_id]
        return self._access_customer(customer, user) and self._team_access(project.teams, user)

    def _access_activity(self, activity: Activity, user: User) -> bool:
        parent = self.projects.get(activity.project_id) if activity.project_id else None
        if parent is not None and not self._access_project(parent, user):
            return False
        return self._team_access(activity.teams, user)

    def _access_timesheet(self, sheet: Timesheet, user: User) -> bool:
        """RolePermissionManager::checkTeamAccessTimesheet."""
        if sheet.user_id == user.id:
            return True
        project = self.projects.get(sheet.project_id)
        if project is not None and not self._access_project(project, user):
            return False
        activity = self.activities.get(sheet.activity_id)
        if activity is not None and not self._access_activity(activity, user):
            return False
        owner = self.users[sheet.user_id]
        return self._teamlead_access([t.id for t in self._teams_of(owner)], user)

    def _is_teamlead_of_user(self, lead: User, subject: User) -> bool:
        return any(subject.id in team.members for team in self._led_teams(lead))

    def _access_user(self, subject: User, user: User) -> bool:
        """RolePermissionManager::checkUserAccess (the `access_user` vote)."""
        if subject.id == user.id or ROLE_SUPER_ADMIN in user.roles or self._sees_all(user):
            return True
        if not subject.enabled:
            return False
        if not user.system_account and subject.system_account:
            return False
        if self._is_teamlead_of_user(user, subject):
            return True
        if (ROLE_TEAMLEAD in user.roles or ROLE_ADMIN in user.roles) and not subject.roles:
            return not self._teams_of(subject)
        return False

    def _selectable_users(self, user: User) -> list[User]:
        """UserType choices: enabled non-system users the caller may see (§6 "User")."""
        candidates = [u for u in self.users.values() if u.enabled and not u.system_account]
        if self._sees_all(user):
            return candidates
        allowed = {user.id}
        if ROLE_TEAMLEAD in user.roles:
            for team in self._led_teams(user):
                allowed |= set(team.members)
        return [u for u in candidates if u.id in allowed]

    def _timesheet_vote(self, user: User, attribute: str, sheet: Timesheet) -> bool:
        """src/Voter/TimesheetVoter.php."""
        permission = attribute
        if attribute in ("edit", "delete"):
            if sheet.exported and not self._perm(user, "edit_exported_timesheet"):
                return False
            if not self._lockdown_allows_user(user, sheet):
                return False
        elif attribute in ("start", "duplicate"):
            if not self._can_book(user, sheet):
                return False
            permission = "create" if attribute == "duplicate" else "start"
        elif attribute == "create" and not self._can_book(user, sheet, require=False):
            return False
        if sheet.user_id == user.id:
            return self._perm(user, f"{permission}_own_timesheet")
        if not self._access_timesheet(sheet, user):
            return False
        return self._perm(user, f"{permission}_other_timesheet")

    def _can_book(self, user: User, sheet: Timesheet, require: bool = True) -> bool:
        activity = self.activities.get(sheet.activity_id)
        project = self.projects.get(sheet.project_id)
        if activity is None or project is None:
            return not require
        if not activity.visible or not self._access_activity(activity, user):
            return False
        customer = self.customers[project.customer_id]
        if not project.visible or not customer.visible:
            return False
        return self._access_project(project, user)

    def _lockdown_allows_user(self, user: User, sheet: Timesheet) -> bool:
        """TimesheetVoter::isAllowedInLockdown."""
        if not self._lockdown_active():
            return True
        if self._perm(user, "lockdown_override_timesheet"):
            return True
        grace = self._perm(user, "lockdown_grace_timesheet")
        return self._lockdown_editable(sheet.begin, self.now(), grace)

    def _lockdown_active(self) -> bool:
        return self.config.lockdown_start is not None and self.config.lockdown_end is not None

    def _lockdown_editable(self, begin: datetime, now: datetime, allow_grace: bool) -> bool:
        """LockdownService::isEditable (§7 Lockdown)."""
        start, end = self.config.lockdown_start, self.config.lockdown_end
        if start is None or end is None:
            return True
        zone = begin.tzinfo or UTC
        start = start.replace(tzinfo=zone) if start.tzinfo is None else start
        end = end.replace(tzinfo=zone) if end.tzinfo is None else end
        grace_end = end + (self.config.lockdown_grace or timedelta(0))
        if end < start:  # misconfiguration: Kimai skips the check
            return True
        if begin > end:
            return True
        # Inside the most recent period: editable during the grace period, or with the grace right.
        return begin >= start and (now <= grace_end or allow_grace)

    def _entity_vote(self, user: User, attribute: str, kind: str, team_ids: list[int]) -> bool:
        """Customer/Project/ActivityVoter."""
        if self._perm(user, f"{attribute}_{kind}"):
            return True
        if attribute in ("create", "delete"):
            return False
        lead = self._perm(user, f"{attribute}_teamlead_{kind}")
        member = self._perm(user, f"{attribute}_team_{kind}")
        for team_id in team_ids:
            team = self.teams.get(team_id)
            if team is None:
                continue
            if lead and team.members.get(user.id):
                return True
            if member and user.id in team.members:
                return True
        return False

    def _project_team_ids(self, project: Project) -> list[int]:
        return [*project.teams, *self.customers[project.customer_id].teams]

    def _activity_team_ids(self, activity: Activity) -> list[int]:
        teams = list(activity.teams)
        if activity.project_id is not None:
            teams += self._project_team_ids(self.projects[activity.project_id])
        return teams

    # == routing ===============================================================================
    def route(self, request: RecordedRequest) -> Reply:
        try:
            return self._route(request)
        except _HttpError as error:
            return error.reply
        except Exception:  # a bug in the double: answer like Kimai would, and keep the trace
            self.internal_errors.append(traceback.format_exc())
            return Reply(500, {"code": 500, "message": "Internal Server Error"})

    def _route(self, request: RecordedRequest) -> Reply:
        path = request.path.rstrip("/") or "/"
        if self._route_table is None:
            self._route_table = self._routes()
        for pattern, handlers, since in self._route_table:
            match = pattern.fullmatch(path)
            if match is None or self.version_id < since:
                continue
            handler = handlers.get(request.method)
            if handler is None:
                raise _error(405)
            # The firewall runs after routing: unknown routes are 404 even without credentials.
            caller = self._authenticate(request)
            return handler(request, caller, *(int(g) for g in match.groups()))
        raise _error(404)

    def _routes(self) -> list[tuple[re.Pattern[str], dict[str, Callable[..., Reply]], int]]:
        """(path pattern, handlers by method, first Kimai version id that has the route)."""
        routes: list[tuple[str, dict[str, Callable[..., Reply]]]] = [
            ("/api/ping", {"GET": self._ping}),
            ("/api/version", {"GET": self._get_version}),
            ("/api/plugins", {"GET": self._get_plugins}),
            ("/api/config/timesheet", {"GET": self._get_timesheet_config}),
            ("/api/users", {"GET": self._get_users}),
            ("/api/users/me", {"GET": self._get_me}),
            (r"/api/users/(\d+)", {"GET": self._get_user}),
            ("/api/teams", {"GET": self._get_teams}),
            ("/api/customers", {"GET": self._get_customers, "POST": self._post_customer}),
            (r"/api/customers/(\d+)", {"GET": self._get_customer, "PATCH": self._patch_customer}),
            ("/api/projects", {"GET": self._get_projects, "POST": self._post_project}),
            (r"/api/projects/(\d+)", {"GET": self._get_project, "PATCH": self._patch_project}),
            ("/api/activities", {"GET": self._get_activities, "POST": self._post_activity}),
            (
                r"/api/activities/(\d+)",
                {"GET": self._get_activity, "PATCH": self._patch_activity},
            ),
            (r"/api/(?:customers|projects|activities)/(\d+)/team", {"POST": self._gone}),
            ("/api/tags", {"GET": self._get_tag_names, "POST": self._post_tag}),
            ("/api/tags/find", {"GET": self._find_tags}),
            (r"/api/tags/(\d+)", {"DELETE": self._delete_tag}),
            ("/api/timesheets", {"GET": self._get_timesheets, "POST": self._post_timesheet}),
            ("/api/timesheets/active", {"GET": self._get_active_timesheets}),
            ("/api/timesheets/recent", {"GET": self._get_recent_timesheets}),
            (
                r"/api/timesheets/(\d+)",
                {
                    "GET": self._get_timesheet,
                    "PATCH": self._patch_timesheet,
                    "DELETE": self._delete_timesheet,
                },
            ),
            (r"/api/timesheets/(\d+)/stop", {"PATCH": self._stop_timesheet}),
            (r"/api/timesheets/(\d+)/restart", {"PATCH": self._restart_timesheet}),
            (r"/api/timesheets/(\d+)/duplicate", {"PATCH": self._duplicate_timesheet}),
            (r"/api/timesheets/(\d+)/export", {"PATCH": self._export_timesheet}),
            (r"/api/timesheets/(\d+)/meta", {"PATCH": self._meta_timesheet}),
        ]
        since = {"/api/tags/find": 21800}  # GET /api/tags/find arrived in 2.18 (§10)
        return [(re.compile(p), h, since.get(p, 0)) for p, h in routes]

    # == authentication (§2) ==================================================================
    def _authenticate(self, request: RecordedRequest) -> User:
        authorization = request.headers.get("authorization", "")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer" and self.version_id >= 21400:
            token = self.tokens.get(credential.strip())
            user = self.users.get(token.user_id) if token else None
            expired = token is not None and (
                token.expires_at is not None and token.expires_at <= self.now()
            )
            if user is None or expired or not user.enabled:
                # symfony/security-http AccessTokenAuthenticator::onAuthenticationFailure
                raise _HttpError(
                    401,
                    None,
                    {
                        "WWW-Authenticate": 'Bearer error="invalid_token",'
                        'error_description="Invalid credentials."'
                    },
                )
            user = self._require_api(user)
            return user
        auth_user = request.headers.get("x-auth-user")
        auth_token = request.headers.get("x-auth-token")
        if auth_user is not None and auth_token is not None:
            # The deprecated X-AUTH-* headers (TokenAuthenticator); Kimai also sleeps 200-500 ms.
            for candidate in self.users.values():
                if (
                    auth_user in (candidate.username, candidate.email)
                    and candidate.api_password is not None
                    and candidate.api_password == auth_token
                    and candidate.enabled
                ):
                    return self._require_api(candidate)
            raise _HttpError(403, {"message": "Invalid credentials"})
        raise _error(401)

    def _require_api(self, user: User) -> User:
        if not self._perm(user, "api_access"):
            raise _error(403)
        return user

    def _require(self, user: User, *permissions: str) -> None:
        """IsGranted on any of `permissions`; 403 otherwise."""
        if not any(self._perm(user, p) for p in permissions):
            raise _error(403)

    # == request decoding ======================================================================
    def _form_data(self, request: RecordedRequest) -> dict[str, Any]:
        """The body as the Symfony form sees it: jsontoform + camel_keys (§1)."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            return _camel_keys(_php_form(request.body.decode("utf-8", "replace")))
        # FOSRest's format_listener falls back to JSON under /api, so no Content-Type is JSON.
        if content_type not in ("", "application/json", "application/x-json"):
            return {}
        if not request.body.strip():
            return {}
        try:
            decoded = json.loads(request.body)
        except ValueError:
            raise _error(400) from None
        if not isinstance(decoded, (dict, list)):
            raise _error(400)
        data = _php_string(decoded)
        assert isinstance(data, dict)
        return _camel_keys(data)

    # == simple endpoints ======================================================================
    def _ping(self, request: RecordedRequest, caller: User) -> Reply:
        return Reply(200, {"message": "pong"})

    def _get_version(self, request: RecordedRequest, caller: User) -> Reply:
        return Reply(
            200,
            {
                "version": self.version,
                "versionId": self.version_id,
                "copyright": f"Kimai {self.version} by Kevin Papst.",
            },
        )

    def _get_plugins(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "plugins")
        return Reply(200, [])

    def _get_timesheet_config(self, request: RecordedRequest, caller: User) -> Reply:
        config = self.config
        return Reply(
            200,
            {
                "trackingMode": config.tracking_mode,
                "defaultBeginTime": config.default_begin_time,
                "activeEntriesHardLimit": config.active_entries_hard_limit,
                "isAllowFutureTimes": config.allow_future_times,
                "isAllowOverlapping": config.allow_overlapping_records,
            },
        )

    def _gone(self, request: RecordedRequest, caller: User, entity_id: int) -> Reply:
        # Since 2.65 (§10); GoneHttpException keeps its message (fos_rest.yaml).
        message = 'This endpoint was removed, use "POST /api/teams/" instead.'
        return Reply(410, {"code": 410, "message": message})

    # -- users ---------------------------------------------------------------------------------
    def _user_json(self, user: User) -> dict[str, Any]:
        """The `User` / `UserCollection` shape (tests/API/APIControllerBaseTestCase.php)."""
        return {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "alias": user.alias,
            "title": user.title,
            "accountNumber": user.account_number,
            "enabled": user.enabled,
            "apiToken": user.api_password is not None
            or any(t.user_id == user.id for t in self.tokens.values()),
            "systemAccount": user.system_account,
            "color": user.color,
            "color-safe": _color_safe(user.color, user.display_name),
            "avatar": None,
            "initials": _initials(user.display_name),
            "language": user.language,
            "locale": user.language,
            "timezone": user.timezone,
        }

    def _team_json(self, team: Team) -> dict[str, Any]:
        return {
            "id": team.id,
            "name": team.name,
            "color": team.color,
            "color-safe": _color_safe(team.color, team.name),
        }

    def _user_entity_json(self, user: User) -> dict[str, Any]:
        teams = self._teams_of(user)
        supervisor = self.users.get(user.supervisor_id) if user.supervisor_id else None
        return {
            **self._user_json(user),
            "supervisor": self._user_entity_json(supervisor) if supervisor else None,
            "teams": [self._team_json(t) for t in teams],
            "roles": list(user.roles),
            "memberships": [
                {"team": self._team_json(t), "teamlead": bool(t.members[user.id])} for t in teams
            ],
            "preferences": [
                {"name": "timezone", "value": user.timezone},
                {"name": "language", "value": user.language},
                {"name": "locale", "value": user.language},
            ],
        }

    def _get_me(self, request: RecordedRequest, caller: User) -> Reply:
        return Reply(200, self._user_entity_json(caller))

    def _get_user(self, request: RecordedRequest, caller: User, user_id: int) -> Reply:
        subject = self.users.get(user_id)
        if subject is None:
            raise _error(404)
        if subject.id != caller.id and not (
            self._perm(caller, "view_other_profile") and self._access_user(subject, caller)
        ):
            raise _error(403)
        return Reply(200, self._user_entity_json(subject))

    def _get_users(self, request: RecordedRequest, caller: User) -> Reply:
        # `view_user` belongs to ROLE_SUPER_ADMIN only in a default Kimai (kimai.yaml "USER").
        self._require(caller, "view_user")
        params = _QueryParams(request)
        visible = params.scalar("visible", r"1|2|3") or "1"
        order_by = params.scalar("orderBy", r"id|username|alias|email") or "username"
        order = params.scalar("order", r"ASC|DESC") or "ASC"
        term = params.scalar("term")
        full = params.scalar("full", r"0|1|true|false") in ("1", "true")
        users = list(self.users.values())
        if not self._sees_all(caller):
            allowed = {caller.id}
            if ROLE_TEAMLEAD in caller.roles:
                for team in self._led_teams(caller):
                    allowed |= set(team.members)
            users = [u for u in users if u.id in allowed]
        if visible == "1":
            users = [u for u in users if u.enabled]
        elif visible == "2":
            users = [u for u in users if not u.enabled]
        if term:
            users = [
                u
                for u in users
                if _matches_term(term, [u.username, u.alias, u.email, u.title, u.account_number])
            ]
        key = {
            "id": lambda u: (u.id,),
            "username": lambda u: (u.username.lower(),),
            "alias": lambda u: ((u.alias or "").lower(),),
            "email": lambda u: (u.email.lower(),),
        }[order_by]
        users.sort(key=key, reverse=order == "DESC")
        render = self._user_entity_json if full else self._user_json
        return Reply(200, [render(u) for u in users])

    def _get_teams(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "view_team")
        teams = sorted(self.teams.values(), key=lambda t: t.name.lower())
        if not self._sees_all(caller):
            teams = [t for t in teams if t.members.get(caller.id)]
        return Reply(200, [self._team_json(t) for t in teams])

    # == timesheets: serialisation (§8) ========================================================
    def _may_view_rates(self, caller: User, sheet: Timesheet) -> bool:
        if sheet.user_id == caller.id:
            return self._perm(caller, "view_rate_own_timesheet")
        return self._access_timesheet(sheet, caller) and self._perm(
            caller, "view_rate_other_timesheet"
        )

    def _timesheet_json(
        self,
        sheet: Timesheet,
        caller: User,
        *,
        entity: bool,
        full: bool = False,
        zone: str | None = None,
        memo: dict[tuple[Any, ...], Any] | None = None,
    ) -> dict[str, Any]:
        """One timesheet as the API shows it. ``memo``: a dict shared by the rows of one answer,
        so a list shows each user, project and activity it embeds from one serialisation."""
        memo = {} if memo is None else memo
        zone = zone or sheet.timezone
        data: dict[str, Any] = {}
        activity = self.activities[sheet.activity_id]
        project = self.projects[sheet.project_id]
        if full:
            # TimesheetExpanded embeds ActivityExpanded; the full collection embeds `Activity`.
            key = ("activity", activity.id, entity)
            if key not in memo:
                memo[key] = self._activity_embed_json(activity, expanded=entity)
            data["activity"] = memo[key]
            if ("project", project.id) not in memo:
                memo["project", project.id] = self._project_embed_json(project, expanded=True)
            data["project"] = memo["project", project.id]
            if ("user", sheet.user_id) not in memo:
                memo["user", sheet.user_id] = self._user_json(self.users[sheet.user_id])
            data["user"] = memo["user", sheet.user_id]
        else:
            data["activity"] = sheet.activity_id
            data["project"] = sheet.project_id
            data["user"] = sheet.user_id
        data["tags"] = [self.tags[t].name for t in sheet.tag_ids if t in self.tags]
        data["id"] = sheet.id
        data["begin"] = format_datetime(sheet.begin, zone)
        data["end"] = None if sheet.end is None else format_datetime(sheet.end, zone)
        data["duration"] = 0 if sheet.end is None else sheet.duration
        if self.version_id >= 24500:  # `break` is serialised since 2.45 (§10)
            data["break"] = sheet.break_seconds
        data["description"] = sheet.description
        if self.version_id >= 26600:
            # RateExclusionStrategy (2.66): the four keys only with view_rate_* (§8).
            rates = ("rates", sheet.user_id, sheet.project_id, sheet.activity_id)
            if rates not in memo:
                memo[rates] = self._may_view_rates(caller, sheet)
            include_rates = memo[rates]
            include_entity_rates = include_rates and entity
        else:
            include_rates, include_entity_rates = True, entity
        if include_rates:
            data["rate"] = float(sheet.rate)
            data["internalRate"] = _money(sheet.internal_rate)
        if include_entity_rates:
            data["fixedRate"] = _money(sheet.fixed_rate)
            data["hourlyRate"] = _money(sheet.hourly_rate)
        data["exported"] = sheet.exported
        data["billable"] = sheet.billable
        data["metaFields"] = [
            {"name": m.name, "value": m.value} for m in sheet.meta.values() if m.visible
        ]
        return data

    def _customer_embed_json(self, customer: Customer) -> dict[str, Any]:
        return {
            "id": customer.id,
            "name": customer.name,
            "visible": customer.visible,
            "billable": customer.billable,
            "number": customer.number,
            "comment": customer.comment,
            "currency": customer.currency,
            "country": customer.country,
            "company": customer.company,
            "homepage": customer.homepage,
            "timezone": customer.timezone,
            "language": customer.language,
            "fax": customer.fax,
            "mobile": customer.mobile,
            "phone": customer.phone,
            "color": customer.color,
            "color-safe": _color_safe(customer.color, customer.name),
            "metaFields": [],
        }

    def _project_embed_json(self, project: Project, expanded: bool) -> dict[str, Any]:
        customer = self.customers[project.customer_id]
        return {
            "id": project.id,
            "name": project.name,
            "visible": project.visible,
            "billable": project.billable,
            "color": project.color,
            "color-safe": self._project_color(project),
            "customer": self._customer_embed_json(customer) if expanded else customer.id,
            "number": project.number,
            "orderNumber": project.order_number,
            "orderDate": _date_json(project.order_date),
            "globalActivities": project.global_activities,
            "comment": project.comment,
            "start": _date_json(project.start),
            "end": _date_json(project.end),
            "metaFields": [],
        }

    def _activity_embed_json(self, activity: Activity, expanded: bool) -> dict[str, Any]:
        project = self.projects.get(activity.project_id) if activity.project_id else None
        if expanded:
            project_value: Any = self._project_embed_json(project, True) if project else None
        else:
            project_value = activity.project_id
        return {
            "id": activity.id,
            "name": activity.name,
            "visible": activity.visible,
            "billable": activity.billable,
            "project": project_value,
            "number": activity.number,
            "comment": activity.comment,
            "color": activity.color,
            "color-safe": self._activity_color(activity),
            "metaFields": [],
        }

    def _project_color(self, project: Project) -> str:
        if project.color:
            return project.color
        customer = self.customers[project.customer_id]
        return customer.color or _color_safe(None, project.name)

    def _activity_color(self, activity: Activity) -> str:
        if activity.color:
            return activity.color
        if activity.project_id is not None:
            project = self.projects[activity.project_id]
            if project.color or self.customers[project.customer_id].color:
                return self._project_color(project)
        return _color_safe(None, activity.name)

    # == GET /api/timesheets (§5) ==============================================================
    def _get_timesheets(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "view_own_timesheet", "view_other_timesheet")
        params = _QueryParams(request)
        user_param = params.scalar("user", r"\d+|all")
        users_param = params.array("users", r"\d+")
        customer_ids = params.ids("customer", "customers")
        project_ids = params.ids("project", "projects")
        activity_ids = params.ids("activity", "activities")
        page_param = params.scalar("page", r"\d+")
        size_param = params.scalar("size", r"\d+")
        tag_names = params.array("tags")
        order_by = params.scalar("orderBy", r"id|begin|end|rate") or "begin"
        order = params.scalar("order", r"ASC|DESC") or "DESC"
        begin_param = params.datetime("begin")
        end_param = params.datetime("end")
        exported = params.scalar("exported", r"0|1")
        active = params.scalar("active", r"0|1")
        billable = params.scalar("billable", r"0|1")
        full = params.scalar("full", r"0|1|true|false") in ("1", "true")
        term = params.scalar("term")
        modified_after = params.datetime("modified_after")

        # `user`/`users[]` count only with view_other_timesheet; without them: own records (§5).
        see_all = False
        user_ids: list[int] = []
        if self._perm(caller, "view_other_timesheet"):
            wanted = [int(u) for u in users_param if u]
            if user_param == "all":
                see_all = True
            elif user_param:
                wanted.append(int(user_param))
            if not see_all:
                for uid in dict.fromkeys(wanted):
                    subject = self.users.get(uid)
                    if subject is None:
                        continue
                    if not self._access_user(subject, caller):
                        raise _error(403)
                    user_ids.append(uid)
        allowed_users: set[int] | None
        if see_all:
            if self._sees_all(caller):
                allowed_users = None
            else:  # a teamlead: themself plus the members of the teams they lead
                allowed_users = {caller.id}
                for team in self._led_teams(caller):
                    allowed_users |= set(team.members)
        else:
            allowed_users = set(user_ids) or {caller.id}

        customers = self._checked_filter(customer_ids, self.customers, caller)
        projects = self._checked_filter(project_ids, self.projects, caller)
        activities = self._checked_filter(activity_ids, self.activities, caller)

        tag_filter: set[int] | None = None
        if tag_names:
            found = {t.id for n in tag_names if (t := self._tag_by_name(n, visible_only=True))}
            if not found:
                raise _error(400)  # "Given tags were not found"
            tag_filter = found

        begin_at = _parse_param_datetime(begin_param, caller.timezone) if begin_param else None
        end_at = _parse_param_datetime(end_param, caller.timezone) if end_param else None
        modified_at = _parse_param_datetime(modified_after, "UTC") if modified_after else None

        search = _SearchTerm(term) if term else None
        page, size = _page_and_size(page_param, size_param)
        if (
            allowed_users is None  # set only for a caller who sees everyone's
            and order_by == "begin"
            and not (customers or projects or activities or tag_names or billable or exported)
            and modified_at is None
            and active in (None, "")
            and search is None
        ):
            # A window of everyone's records in begin order (the sync's read): from the index.
            window = self.timesheets.window_by_begin(begin_at, end_at)
            total = len(window)
            ids = window.page((page - 1) * size, size, descending=order == "DESC")
            chunk = [self.timesheets[i] for i in ids]
        else:
            chunk, total = self._matching_timesheets(
                caller, allowed_users, customers, projects, activities, tag_filter,
                (begin_at, end_at, modified_at), (active, billable, exported), search,
                (order_by, order, page, size),
            )  # fmt: skip
        pages = max(1, math.ceil(total / size))
        if page > pages:
            raise _error(404)
        headers = {
            "X-Page": str(page),
            "X-Total-Count": str(total),
            "X-Total-Pages": str(pages),
            "X-Per-Page": str(size),
        }
        memo: dict[tuple[Any, ...], Any] = {}
        body = [self._timesheet_json(s, caller, entity=False, full=full, memo=memo) for s in chunk]
        return Reply(200, body, headers)

    def _matching_timesheets(
        self,
        caller: User,
        allowed_users: set[int] | None,
        customers: set[int],
        projects: set[int],
        activities: set[int],
        tag_filter: set[int] | None,
        moments: tuple[datetime | None, datetime | None, datetime | None],
        flags: tuple[str | None, str | None, str | None],
        search: _SearchTerm | None,
        paging: tuple[str, str, int, int],
    ) -> tuple[list[Timesheet], int]:
        """The page of the records GET /api/timesheets filters to, and how many there are."""
        begin_at, end_at, modified_at = moments
        active, billable, exported = flags
        order_by, order, page, size = paging
        sees_all = self._sees_all(caller)
        sheets: list[Timesheet] = []
        candidates = self.timesheets.with_text(search.literals()) if search else None
        if candidates is None:
            candidates = list(self.timesheets.beginning_between(allowed_users, begin_at, end_at))
        for sheet in candidates:
            if allowed_users is not None and sheet.user_id not in allowed_users:
                continue
            project = self.projects[sheet.project_id]
            if customers and project.customer_id not in customers:
                continue
            if projects and sheet.project_id not in projects:
                continue
            if activities and sheet.activity_id not in activities:
                continue
            if not sees_all and not (
                self._access_project(project, caller)
                and self._access_activity(self.activities[sheet.activity_id], caller)
            ):
                continue
            if tag_filter is not None and not tag_filter.intersection(sheet.tag_ids):
                continue
            if begin_at is not None and sheet.begin < begin_at:
                continue
            if end_at is not None and sheet.begin > end_at:  # `end` filters on begin (§5)
                continue
            if modified_at is not None and sheet.modified_at < modified_at:
                continue
            if active is not None and active != "" and (sheet.end is None) != (active == "1"):
                continue
            if billable and sheet.billable != (billable == "1"):
                continue
            if exported and sheet.exported != (exported == "1"):
                continue
            if search is not None and not search.matches([sheet.description], sheet.meta):
                continue
            sheets.append(sheet)

        sheets.sort(key=lambda s: _timesheet_sort_key(s, order_by), reverse=order == "DESC")
        return sheets[(page - 1) * size : page * size], len(sheets)

    def _checked_filter(self, ids: list[int], table: dict[int, Any], caller: User) -> set[int]:
        """findByIds: unknown IDs vanish (all unknown: no filter); inaccessible ones give 403."""
        found: set[int] = set()
        for entity_id in ids:
            entity = table.get(entity_id)
            if entity is None:
                continue
            if isinstance(entity, Customer):
                allowed = self._access_customer(entity, caller)
            elif isinstance(entity, Project):
                allowed = self._access_project(entity, caller)
            else:
                allowed = self._access_activity(entity, caller)
            if not allowed:
                raise _error(403)
            found.add(entity_id)
        return found

    def _find_timesheet(self, timesheet_id: int, caller: User, attribute: str) -> Timesheet:
        sheet = self.timesheets.get(timesheet_id)
        if sheet is None:
            raise _error(404)
        if not self._timesheet_vote(caller, attribute, sheet):
            raise _error(403)
        return sheet

    def _get_timesheet(self, request: RecordedRequest, caller: User, timesheet_id: int) -> Reply:
        sheet = self._find_timesheet(timesheet_id, caller, "view")
        return Reply(200, self._timesheet_json(sheet, caller, entity=True))

    def _get_active_timesheets(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "view_own_timesheet")
        running = self.timesheets.running_of(caller.id)
        running.sort(key=lambda s: (s.begin, s.id), reverse=True)
        return Reply(
            200, [self._timesheet_json(s, caller, entity=False, full=True) for s in running]
        )

    def _get_recent_timesheets(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "view_own_timesheet")
        params = _QueryParams(request)
        begin_param = params.datetime("begin")
        size_param = params.scalar("size", r"\d+")
        limit = int(size_param) if size_param else 10
        since = (
            _parse_param_datetime(begin_param, caller.timezone)
            if begin_param
            else self.now() - timedelta(days=365)
        )
        latest: dict[tuple[int, int], Timesheet] = {}
        for sheet in self.timesheets.beginning_between([caller.id], since, None):
            if sheet.user_id != caller.id or sheet.begin < since:
                continue
            key = (sheet.project_id, sheet.activity_id)
            if key not in latest or sheet.id > latest[key].id:
                latest[key] = sheet
        recent = sorted(latest.values(), key=lambda s: s.id, reverse=True)[:limit]
        return Reply(
            200, [self._timesheet_json(s, caller, entity=False, full=True) for s in recent]
        )

    # == POST / PATCH /api/timesheets: the TimesheetApiEditForm (§6, §7) =======================
    def _times_via_api(self, caller: User) -> bool:
        """TrackingMode::canUpdateTimesWithAPI (§6 table, `begin`)."""
        if self.config.tracking_mode in ("punch", "duration_fixed_begin"):
            return self._perm(caller, "view_other_timesheet")
        return True

    def _timesheet_fields(
        self, caller: User, sheet: Timesheet, is_new: bool, data: dict[str, Any]
    ) -> list[str]:
        """The form's fields for this caller, in form order (§6 "Which fields exist")."""
        fields: list[str] = []
        if self._times_via_api(caller):
            fields += ["begin", "end"]
        if self.config.break_time_active:
            fields.append("break")
        fields += ["project", "activity", "description"]
        if self._timesheet_vote(caller, "edit_rate", sheet):
            fields += ["fixedRate", "hourlyRate"]
        if not is_new or self._perm(caller, "create_other_timesheet"):
            fields.append("user")
        fields.append("tags")
        if self._timesheet_vote(caller, "edit_export", sheet):
            fields.append("exported")
        if self._timesheet_vote(caller, "edit_billable", sheet):
            fields.append("billable")
            if "billable" in data:  # the PRE_SUBMIT listener adds this field on the fly
                fields.append("billableMode")
        return fields

    def _project_choices(self, caller: User, current: int | None) -> set[int]:
        """ProjectRepository::getQueryBuilderForFormType: dates are checked against *today*."""
        today = self.now().astimezone(ZoneInfo(caller.timezone)).date()
        choices = set()
        for project in self.projects.values():
            customer = self.customers[project.customer_id]
            if not (project.visible and customer.visible):
                continue
            if not self._access_project(project, caller):
                continue
            if project.start is not None and project.start > today:
                continue
            if project.end is not None and project.end < today:
                continue
            choices.add(project.id)
        if current is not None:
            choices.add(current)
        return choices

    def _activity_choices(
        self, caller: User, project_ref: int | None, any_project: bool, current: int | None
    ) -> set[int]:
        """ActivityRepository::getQueryBuilderForFormType (§6 choice lists)."""
        project = self.projects.get(project_ref) if project_ref is not None else None
        include_globals = project.global_activities if project is not None else True
        choices = set()
        for activity in self.activities.values():
            if not activity.visible or not self._access_activity(activity, caller):
                continue
            if activity.project_id is None:
                if any_project or include_globals:
                    choices.add(activity.id)
                continue
            parent = self.projects[activity.project_id]
            if not (parent.visible and self.customers[parent.customer_id].visible):
                continue
            if any_project or activity.project_id == project_ref:
                choices.add(activity.id)
        if current is not None:
            choices.add(current)
        return choices

    def _apply_timesheet_form(
        self,
        caller: User,
        sheet: Timesheet,
        data: dict[str, Any],
        *,
        is_new: bool,
        current: Timesheet | None,
    ) -> tuple[FormErrors, set[str]]:
        """Submit `data` onto `sheet` (a draft or a working copy) with submit($data, false).

        Returns the errors and the names of the fields that were submitted and understood.
        """
        fields = self._timesheet_fields(caller, current or sheet, is_new, data)
        errors = FormErrors(fields)
        unsynced: set[str] = set()
        submitted = {name for name in data if name in fields}
        zone = sheet.timezone  # POST: the caller's zone; PATCH: the record's (§6 Date input)

        def fail(name: str, message: str) -> None:
            errors.add(name, message)
            unsynced.add(name)

        for name in ("begin", "end"):
            if name in submitted:
                value = _parse_form_datetime(data[name], zone)
                if isinstance(value, _Invalid):
                    fail(name, MSG_INVALID_DATETIME)
                elif name == "begin":
                    sheet.begin = value  # type: ignore[assignment]  # None is validated below
                else:
                    sheet.end = value

        if "break" in submitted:
            seconds = _parse_duration(data["break"])
            if seconds is None:
                fail("break", MSG_INVALID_VALUE)
            else:
                sheet.break_seconds = seconds

        if "project" in submitted:
            raw = data["project"]
            if raw is None or raw == "":
                sheet.project_id = 0
            else:
                project_id = _as_id(raw)
                choices = self._project_choices(caller, current.project_id if current else None)
                if project_id is None or project_id not in choices:
                    fail("project", MSG_INVALID_CHOICE)
                else:
                    sheet.project_id = project_id

        if "activity" in submitted:
            raw = data["activity"]
            if raw is None or raw == "":
                sheet.activity_id = 0
            else:
                project_raw = data.get("project")
                if "project" in data and project_raw not in (None, ""):
                    project_ref: int | None = _as_id(project_raw) or 0
                    any_project = False
                elif current is not None:
                    project_ref, any_project = current.project_id, False
                else:
                    project_ref, any_project = None, True
                choices = self._activity_choices(
                    caller, project_ref, any_project, current.activity_id if current else None
                )
                activity_id = _as_id(raw)
                if activity_id is None or activity_id not in choices:
                    fail("activity", MSG_INVALID_CHOICE)
                else:
                    sheet.activity_id = activity_id

        if "description" in submitted:
            if _is_list_like(data["description"]):
                fail("description", MSG_INVALID_VALUE)
            else:
                sheet.description = _form_text(data["description"])

        for name in ("fixedRate", "hourlyRate"):
            if name in submitted:
                amount = _parse_money(data[name])
                if isinstance(amount, _Invalid):
                    fail(name, MSG_INVALID_MONEY)
                elif name == "fixedRate":
                    sheet.fixed_rate = amount
                else:
                    sheet.hourly_rate = amount

        if "user" in submitted:
            raw = data["user"]
            if raw is None or raw == "":
                sheet.user_id = 0
            else:
                allowed = {u.id for u in self._selectable_users(caller)}
                if current is not None:
                    allowed.add(current.user_id)
                user_id = _as_id(raw)
                if user_id is None or user_id not in allowed:
                    fail("user", MSG_INVALID_CHOICE)
                else:
                    sheet.user_id = user_id

        if "tags" in submitted:
            raw = data["tags"]
            if _is_list_like(raw):
                # TagsInputType is a non-compound TextType: an array cannot be submitted (§6).
                fail("tags", MSG_INVALID_VALUE)
            else:
                sheet.tag_ids = self._tags_from_string(raw)

        if "exported" in submitted:
            if _is_list_like(data["exported"]):
                fail("exported", MSG_INVALID_VALUE)
            else:
                # A plain CheckboxType: only JSON false (decoded to null) is false (§6 Boolean).
                sheet.exported = data["exported"] is not None

        if "billable" in submitted:
            # TimesheetApiEditForm PRE_SUBMIT: PHP (bool) of the decoded value; the string
            # "false" is true (§6 Billable).
            sheet.billable_mode = "yes" if _php_bool(data["billable"]) else "no"

        self._validate_timesheet(caller, sheet, errors, unsynced, is_new=is_new)
        if any(name not in fields for name in data):
            errors.add(None, MSG_EXTRA_FIELDS)  # FormValidator adds it after the data's errors
        return errors, submitted - unsynced

    def _tags_from_string(self, raw: Any) -> list[int]:
        """TagArrayToStringTransformer: trimmed, de-duplicated, unknown names dropped (§6)."""
        if raw is None:
            return []
        names = [n.strip() for n in str(raw).strip().split(",")]
        ids: list[int] = []
        for name in dict.fromkeys(n for n in names if n):
            tag = self._tag_by_name(name)  # hidden tags can be attached
            if tag is None and self.version_id < 21400:  # API auto-creation ended in 2.14
                tag = self.tags[self.add_tag(name[:100])]
            if tag is not None and tag.id not in ids:
                ids.append(tag.id)
        return sorted(ids)

    def _validate_timesheet(
        self,
        caller: User,
        sheet: Timesheet,
        errors: FormErrors,
        unsynced: set[str],
        *,
        is_new: bool,
    ) -> None:
        """The entity constraints of §7, in the order Kimai's validator runs them."""

        def violation(path: str, message: str) -> None:
            # Paths that are no form field (begin_date, duration, ...) land in the root (§3);
            # the ViolationMapper drops violations for fields whose transformation failed.
            if path not in unsynced:
                errors.add(path, message)

        begin, end = sheet.begin, sheet.end
        activity = self.activities.get(sheet.activity_id)
        project = self.projects.get(sheet.project_id)
        owner = self.users.get(sheet.user_id)

        # TimesheetBasic
        if begin is None:
            violation("begin_date", MSG_MISSING_BEGIN)
        # Compare instants: Python compares datetimes sharing a ZoneInfo by wall clock and
        # ignores `fold`, which gets the repeated hour after a DST fall-back wrong.
        elif end is not None and begin.timestamp() > end.timestamp():
            violation("end_date", MSG_END_BEFORE_BEGIN)
        if activity is None and self.config.require_activity:
            violation("activity", MSG_MISSING_ACTIVITY)
        if project is None:
            violation("project", MSG_MISSING_PROJECT)
        if project is not None and activity is not None:
            if activity.project_id is not None and activity.project_id != project.id:
                violation("project", MSG_PROJECT_MISMATCH)
            if not project.global_activities and activity.project_id is None:
                violation("activity", MSG_GLOBAL_FORBIDDEN)
        if project is not None and begin is not None:
            project_start, project_end = _project_bounds(project)
            if project_start is not None and begin < project_start:
                violation("begin_date", MSG_PROJECT_NOT_STARTED)
            elif project_end is not None and begin > project_end:
                violation("begin_date", MSG_PROJECT_FINISHED)
            if end is not None:
                if project_end is not None and end > project_end:
                    violation("end_date", MSG_PROJECT_FINISHED)
                elif project_start is not None and end < project_start:
                    violation("end_date", MSG_PROJECT_NOT_STARTED)

        # TimesheetDeactivated: new or running records only
        if is_new or end is None:
            if activity is not None and not activity.visible:
                violation("activity", MSG_DISABLED_ACTIVITY)
            if project is not None:
                if not project.visible:
                    violation("project", MSG_DISABLED_PROJECT)
                if not self.customers[project.customer_id].visible:
                    violation("customer", MSG_DISABLED_CUSTOMER)

        if begin is not None:
            self._validate_times(caller, sheet, violation)

        # TimesheetExported
        if not is_new and sheet.exported and not self._timesheet_vote(caller, "edit_export", sheet):
            violation("exported", MSG_EXPORTED)

        # TimesheetRestart: removing the end needs the `start` right
        if (
            end is None
            and not errors
            and None not in (owner, project, activity)
            and not self._timesheet_vote(caller, "start", sheet)
        ):
            violation("end_date", MSG_RESTART_DENIED)

        # Property constraints (NotNull, GreaterThanOrEqual(0))
        if begin is None:
            violation("begin", MSG_NOT_NULL)
        if owner is None:
            violation("user", MSG_NOT_NULL)
        if activity is None:
            violation("activity", MSG_NOT_NULL)
        if project is None:
            violation("project", MSG_NOT_NULL)
        for path, amount in (("fixedRate", sheet.fixed_rate), ("hourlyRate", sheet.hourly_rate)):
            if amount is not None and amount < 0:
                violation(path, MSG_GREATER_EQUAL_ZERO)

    def _validate_times(
        self, caller: User, sheet: Timesheet, violation: Callable[[str, str], None]
    ) -> None:
        """The time rules of §7; `violation` gets Kimai's property path for each."""
        begin, end = sheet.begin, sheet.end
        config = self.config
        # TimesheetOverlapping (allow_overlapping_records, default true)
        if (
            not config.allow_overlapping_records
            and not (end is not None and begin.timestamp() > end.timestamp())
            and self._overlaps(sheet)
        ):
            violation("begin_date", MSG_OVERLAPPING)
        if end is not None:
            duration = _seconds_between(begin, end)
            if not config.allow_zero_duration and duration == 0:
                violation("duration", MSG_ZERO_DURATION)
            if duration < 0:
                violation("duration", MSG_NEGATIVE_DURATION)
            if duration > _MAX_DURATION_SECONDS:
                violation("duration", MSG_MAX_DURATION)
            elif config.long_running_duration > 0 and duration / 60 > config.long_running_duration:
                violation("duration", _long_running_message(config.long_running_duration))
        # TimesheetFutureTimes: slack = rounding minutes + 60 s
        if not config.allow_future_times:
            now = int(self.now().timestamp())
            if now + config.rounding_begin_minutes * 60 + 60 < int(begin.timestamp()):
                violation("begin_date", MSG_BEGIN_FUTURE)
            if end is not None and now + config.rounding_end_minutes * 60 + 60 < int(
                end.timestamp()
            ):
                violation("end_time", MSG_END_FUTURE)
        # TimesheetLockdown, unless the caller may override it
        if self._lockdown_active() and not self._perm(caller, "lockdown_override_timesheet"):
            grace = self._perm(caller, "lockdown_grace_timesheet")
            if not self._lockdown_editable(begin, self.now(), grace):
                violation("begin_date", MSG_LOCKED)

    def _overlaps(self, sheet: Timesheet) -> bool:
        """TimesheetRepository::hasRecordForTime with its one-second tolerance."""
        begin = sheet.begin + timedelta(seconds=1)
        end = sheet.end - timedelta(seconds=1) if sheet.end is not None else None
        latest = begin if end is None else max(begin, end, key=lambda moment: moment.timestamp())
        earliest = begin if end is None else min(begin, end, key=lambda moment: moment.timestamp())
        for other in self.timesheets.overlap_candidates(sheet.user_id, earliest, latest):
            if other.id == sheet.id or other.user_id != sheet.user_id or other.end is None:
                continue
            if other.begin <= begin <= other.end:
                return True
            if end is not None and (
                other.begin <= end <= other.end
                or begin <= other.begin <= end
                or begin <= other.end <= end
            ):
                return True
        return False

    # -- saving -------------------------------------------------------------------------------
    def _configured_hourly_rate(self, sheet: Timesheet) -> float:
        activity = self.activities.get(sheet.activity_id)
        project = self.projects.get(sheet.project_id)
        customer = self.customers.get(project.customer_id) if project else None
        for source in (activity, project, customer):
            if source is not None and source.hourly_rate is not None:
                return float(source.hourly_rate)
        owner = self.users.get(sheet.user_id)
        return float(owner.hourly_rate) if owner else 0.0

    def _save_timesheet(self, sheet: Timesheet, *, rates_given: bool = True) -> None:
        """What Doctrine's listeners do on flush: zone, rounding, duration, rates, billable."""
        owner = self.users[sheet.user_id]
        sheet.timezone = owner.timezone  # TimesheetService::fixTimezone
        zone = ZoneInfo(owner.timezone)
        sheet.begin = _floor_minutes(sheet.begin, self.config.rounding_begin_minutes).astimezone(
            zone
        )
        if sheet.end is not None:
            sheet.end = _ceil_minutes(sheet.end, self.config.rounding_end_minutes).astimezone(zone)
            sheet.duration = max(0, _seconds_between(sheet.begin, sheet.end) - sheet.break_seconds)
        else:
            sheet.duration = 0
        if not rates_given:
            sheet.fixed_rate = None
            sheet.hourly_rate = None
        if sheet.hourly_rate is None:
            sheet.hourly_rate = self._configured_hourly_rate(sheet)
        if sheet.end is None:
            sheet.rate = 0.0
        elif sheet.fixed_rate is not None:
            sheet.rate = float(sheet.fixed_rate)
        else:
            sheet.rate = round(sheet.hourly_rate * sheet.duration / 3600, 4)
        sheet.internal_rate = sheet.rate
        sheet.billable = self._billable(sheet)
        sheet.modified_at = self.now()

    def _billable(self, sheet: Timesheet) -> bool:
        """BillableCalculator: "auto" means activity, project and customer are billable."""
        if sheet.billable_mode == "yes":
            return True
        if sheet.billable_mode == "no":
            return False
        activity = self.activities.get(sheet.activity_id)
        project = self.projects.get(sheet.project_id)
        if activity is not None and not activity.billable:
            return False
        return project is None or (
            project.billable and self.customers[project.customer_id].billable
        )

    def _stop_other_running(self, sheet: Timesheet) -> None:
        """TimesheetService::stopActiveEntries with active_entries.hard_limit (default 1)."""
        running = sorted(self.timesheets.running_of(sheet.user_id), key=lambda s: (s.begin, s.id))
        excess = len(running) - self.config.active_entries_hard_limit
        for other in running:
            if excess <= 0:
                break
            if other.id != sheet.id:
                self._stop(other)
                excess -= 1

    def _stop(self, sheet: Timesheet) -> None:
        """TimesheetService::stopTimesheet; validation failures raise the service error."""
        if sheet.end is not None:
            return
        end = self.now().astimezone(ZoneInfo(sheet.timezone))
        duration = _seconds_between(sheet.begin, end)
        if duration < 0:
            raise _service_error({"end_date": [MSG_END_BEFORE_BEGIN]})
        limit = self.config.long_running_duration
        if duration > _MAX_DURATION_SECONDS:
            raise _service_error({"duration": [MSG_MAX_DURATION]})
        if limit > 0 and duration / 60 > limit:
            raise _service_error({"duration": [_long_running_message(limit)]})
        sheet.end = end
        self._save_timesheet(sheet)

    def _post_timesheet(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "create_own_timesheet")
        params = _QueryParams(request)
        full = params.scalar("full") is not None  # any value, even "false" (§4)
        data = self._form_data(request)
        now = self.now().astimezone(ZoneInfo(caller.timezone))
        draft = Timesheet(
            id=0,
            user_id=caller.id,
            project_id=0,
            activity_id=0,
            begin=now,  # DefaultMode::create: "now" in the caller's time zone
            end=None,
            timezone=caller.timezone,
            billable_mode="auto",
        )
        errors, submitted = self._apply_timesheet_form(
            caller, draft, data, is_new=True, current=None
        )
        if errors:
            return Reply(400, errors.body())
        if not self._timesheet_vote(caller, "start" if draft.running else "create", draft):
            raise _error(403)
        draft.id = self._next_id("timesheet")
        rates_given = bool({"fixedRate", "hourlyRate"} & submitted)
        self._save_timesheet(draft, rates_given=rates_given)
        self.timesheets[draft.id] = draft
        if draft.running:
            try:
                self._stop_other_running(draft)
            except _HttpError:
                del self.timesheets[draft.id]  # the service rolls the transaction back
                form = FormErrors(self._timesheet_fields(caller, draft, True, data))
                form.add(None, "Cannot stop running timesheet")
                return Reply(400, form.body())
        # The entity is still localised to the caller's zone in memory (§6 "Important").
        body = self._timesheet_json(draft, caller, entity=True, full=full, zone=caller.timezone)
        return Reply(200, body)

    def _patch_timesheet(self, request: RecordedRequest, caller: User, timesheet_id: int) -> Reply:
        stored = self._find_timesheet(timesheet_id, caller, "edit")
        data = self._form_data(request)
        work = _copy_timesheet(stored)
        errors, submitted = self._apply_timesheet_form(
            caller, work, data, is_new=False, current=stored
        )
        if errors:
            return Reply(400, errors.body())  # 400 even on PATCH (§1)
        identity_changed = (work.project_id, work.activity_id, work.user_id) != (
            stored.project_id,
            stored.activity_id,
            stored.user_id,
        )
        # RateResetCalculator: a new project/activity/user without rate fields resets the rates.
        rates_given = bool({"fixedRate", "hourlyRate"} & submitted) or not identity_changed
        zone = stored.timezone
        self._save_timesheet(work, rates_given=rates_given)
        self.timesheets[stored.id] = work
        return Reply(200, self._timesheet_json(work, caller, entity=True, zone=zone))

    def _delete_timesheet(self, request: RecordedRequest, caller: User, timesheet_id: int) -> Reply:
        self._find_timesheet(timesheet_id, caller, "delete")
        del self.timesheets[timesheet_id]
        return Reply(204)

    def _stop_timesheet(self, request: RecordedRequest, caller: User, timesheet_id: int) -> Reply:
        sheet = self._find_timesheet(timesheet_id, caller, "stop")
        self._stop(sheet)  # already stopped: a no-op, 200
        return Reply(200, self._timesheet_json(sheet, caller, entity=True))

    def _restart_timesheet(
        self, request: RecordedRequest, caller: User, timesheet_id: int
    ) -> Reply:
        original = self._find_timesheet(timesheet_id, caller, "start")
        data = self._form_data(request)
        copy = data.get("copy")
        begin_param = data.get("begin")
        if _is_list_like(copy) or (copy not in (None, "") and copy != "all"):
            raise _error(400)
        if _is_list_like(begin_param) or (
            begin_param not in (None, "") and not _DATETIME_PARAM.match(str(begin_param))
        ):
            raise _error(400)
        begin = (
            _parse_param_datetime(str(begin_param), caller.timezone)
            if begin_param
            else self.now().astimezone(ZoneInfo(caller.timezone))
        )
        sheet = Timesheet(
            id=0,
            user_id=caller.id,
            project_id=original.project_id,
            activity_id=original.activity_id,
            begin=begin,
            end=None,
            timezone=caller.timezone,
            billable_mode="auto",  # prepareNewTimesheet runs after the copy (§4)
        )
        if copy == "all":
            sheet.description = original.description
            sheet.tag_ids = list(original.tag_ids)
            sheet.meta = {k: replace(v) for k, v in original.meta.items()}
        self._validate_for_service(caller, sheet)
        sheet.id = self._next_id("timesheet")
        self._save_timesheet(sheet, rates_given=False)
        self.timesheets[sheet.id] = sheet
        try:
            self._stop_other_running(sheet)
        except _HttpError:
            del self.timesheets[sheet.id]
            raise
        return Reply(200, self._timesheet_json(sheet, caller, entity=True))

    def _duplicate_timesheet(
        self, request: RecordedRequest, caller: User, timesheet_id: int
    ) -> Reply:
        original = self._find_timesheet(timesheet_id, caller, "duplicate")
        copy = _copy_timesheet(original)
        copy.id = 0
        copy.exported = False
        self._validate_for_service(caller, copy)
        copy.id = self._next_id("timesheet")
        self._save_timesheet(copy)
        self.timesheets[copy.id] = copy
        if copy.running:
            self._stop_other_running(copy)
        return Reply(200, self._timesheet_json(copy, caller, entity=True))

    def _validate_for_service(self, caller: User, sheet: Timesheet) -> None:
        """TimesheetService::validateTimesheet: the ValidationFailedException shape (§3)."""
        collected: dict[str, list[str]] = {}

        def violation(path: str, message: str) -> None:
            collected.setdefault(path, []).append(message)

        if sheet.end is not None and sheet.begin.timestamp() > sheet.end.timestamp():
            violation("end_date", MSG_END_BEFORE_BEGIN)
        self._validate_times(caller, sheet, violation)
        if collected:
            raise _service_error(collected)

    def _export_timesheet(self, request: RecordedRequest, caller: User, timesheet_id: int) -> Reply:
        sheet = self._find_timesheet(timesheet_id, caller, "edit_export")
        if sheet.exported and not self._perm(caller, "edit_exported_timesheet"):
            raise _error(403)
        sheet.exported = not sheet.exported
        sheet.modified_at = self.now()
        return Reply(200, self._timesheet_json(sheet, caller, entity=True))

    def _meta_timesheet(self, request: RecordedRequest, caller: User, timesheet_id: int) -> Reply:
        sheet = self._find_timesheet(timesheet_id, caller, "edit")
        data = self._form_data(request)
        name, value = data.get("name"), data.get("value")
        # RequestParam name/value: strict, not nullable (§9: a missing name is 400).
        if name is None or value is None or _is_list_like(name) or _is_list_like(value):
            raise _error(400)
        key = str(name).lower()
        if key not in self.meta_fields:
            raise _error(404)  # "Unknown meta-field requested"
        sheet.meta[key] = MetaValue(key, str(value), self.meta_fields[key])
        sheet.modified_at = self.now()
        return Reply(200, self._timesheet_json(sheet, caller, entity=True))

    # == customers, projects, activities (§8 "Other endpoints", §11) ============================
    def _budget_keys(
        self, caller: User, kind: str, teams: list[int], entity: bool
    ) -> dict[str, Any] | None:
        """Which budget keys to show: 2.66 gates them by vote, older versions by shape."""
        if self.version_id < 26600:
            return {"budget": True, "timeBudget": True, "budgetType": True} if entity else None
        money = self._entity_vote(caller, "budget", kind, teams)
        time = self._entity_vote(caller, "time", kind, teams)
        return {"budget": money, "timeBudget": time, "budgetType": money or time}

    def _add_budget(
        self, data: dict[str, Any], entity: Customer | Project | Activity, keys: dict[str, Any]
    ) -> None:
        if keys.get("budget"):
            data["budget"] = float(entity.budget)
        if keys.get("timeBudget"):
            data["timeBudget"] = int(entity.time_budget)
        if keys.get("budgetType"):
            data["budgetType"] = entity.budget_type

    def _customer_json(
        self, customer: Customer, caller: User, *, entity: bool, details: bool = False
    ) -> dict[str, Any]:
        data = self._customer_embed_json(customer)
        data["teams"] = [self._team_json(self.teams[t]) for t in customer.teams if t in self.teams]
        if entity or details:
            data.update(
                {
                    "vatId": customer.vat_id,
                    "addressLine1": customer.address_line1,
                    "addressLine2": customer.address_line2,
                    "addressLine3": customer.address_line3,
                    "postCode": customer.post_code,
                    "city": customer.city,
                }
            )
        if entity:
            data.update(
                {
                    "contact": customer.contact,
                    "email": customer.email,
                    "address": customer.address,
                    "invoiceEmail": customer.invoice_email,
                    "buyerReference": customer.buyer_reference,
                }
            )
        keys = self._budget_keys(caller, "customer", customer.teams, entity)
        if keys:
            self._add_budget(data, customer, keys)
        return data

    def _project_json(self, project: Project, caller: User) -> dict[str, Any]:
        data = self._project_embed_json(project, expanded=False)
        data["parentTitle"] = self.customers[project.customer_id].name
        data["teams"] = [self._team_json(self.teams[t]) for t in project.teams if t in self.teams]
        keys = self._budget_keys(caller, "project", self._project_team_ids(project), True)
        if keys:
            self._add_budget(data, project, keys)
        return data

    def _activity_json(self, activity: Activity, caller: User) -> dict[str, Any]:
        data = self._activity_embed_json(activity, expanded=False)
        project = self.projects.get(activity.project_id) if activity.project_id else None
        data["parentTitle"] = project.name if project else None
        data["teams"] = [self._team_json(self.teams[t]) for t in activity.teams if t in self.teams]
        keys = self._budget_keys(caller, "activity", self._activity_team_ids(activity), True)
        if keys:
            self._add_budget(data, activity, keys)
        return data

    def _get_customers(self, request: RecordedRequest, caller: User) -> Reply:
        params = _QueryParams(request)
        visible = params.scalar("visible", r"1|2|3") or "1"
        order = params.scalar("order", r"ASC|DESC") or "ASC"
        order_by = params.scalar("orderBy", r"id|name") or "name"
        term = params.scalar("term")
        full = params.scalar("full", r"0|1") == "1" and self._perm(caller, "details_customer")
        customers = [c for c in self.customers.values() if self._access_customer(c, caller)]
        if visible != "3":
            customers = [c for c in customers if c.visible == (visible == "1")]
        if term:
            customers = [
                c
                for c in customers
                if _matches_term(term, [c.name, c.comment, c.company, c.vat_id, c.number])
            ]
        customers.sort(
            key=lambda c: (c.id,) if order_by == "id" else (c.name.lower(), c.id),
            reverse=order == "DESC",
        )
        return Reply(
            200, [self._customer_json(c, caller, entity=False, details=full) for c in customers]
        )

    def _get_customer(self, request: RecordedRequest, caller: User, customer_id: int) -> Reply:
        customer = self.customers.get(customer_id)
        if customer is None:
            raise _error(404)
        if not self._entity_vote(caller, "view", "customer", customer.teams):
            raise _error(403)
        return Reply(200, self._customer_json(customer, caller, entity=True))

    def _get_projects(self, request: RecordedRequest, caller: User) -> Reply:
        params = _QueryParams(request)
        customer_ids = params.ids("customer", "customers")
        visible = params.scalar("visible", r"1|2|3") or "1"
        start = params.date_or_datetime("start")
        end = params.date_or_datetime("end")
        ignore_dates = params.scalar("ignoreDates", r"1") == "1"
        global_activities = params.scalar("globalActivities", r"0|1")
        order = params.scalar("order", r"ASC|DESC") or "ASC"
        order_by = params.scalar("orderBy", r"id|name|customer") or "name"
        term = params.scalar("term")
        customers = self._checked_filter(customer_ids, self.customers, caller)
        today = self.now().astimezone(ZoneInfo(caller.timezone)).date()
        start_day = _param_day(start) if start else None
        end_day = _param_day(end) if end else None
        if not ignore_dates and start_day is None and end_day is None:
            # By default only projects whose start/end range contains today (§8).
            start_day = end_day = today
        projects = []
        for project in self.projects.values():
            customer = self.customers[project.customer_id]
            if visible != "3" and (project.visible != (visible == "1") or not customer.visible):
                continue
            if customers and project.customer_id not in customers:
                continue
            if global_activities and project.global_activities != (global_activities == "1"):
                continue
            if not ignore_dates:
                if start_day is not None and not _project_covers(project, start_day):
                    continue
                if end_day is not None and not _project_covers(project, end_day):
                    continue
            if not self._access_project(project, caller):
                continue
            if term and not _matches_term(
                term, [project.name, project.comment, project.order_number, project.number]
            ):
                continue
            projects.append(project)

        def key(project: Project) -> tuple[Any, ...]:
            if order_by == "id":
                return (project.id,)
            if order_by == "customer":
                return (self.customers[project.customer_id].name.lower(), project.id)
            return (project.name.lower(), project.id)

        projects.sort(key=key, reverse=order == "DESC")
        return Reply(200, [self._project_json(p, caller) for p in projects])

    def _get_project(self, request: RecordedRequest, caller: User, project_id: int) -> Reply:
        project = self.projects.get(project_id)
        if project is None:
            raise _error(404)
        if not self._entity_vote(caller, "view", "project", self._project_team_ids(project)):
            raise _error(403)
        return Reply(200, self._project_json(project, caller))

    def _get_activities(self, request: RecordedRequest, caller: User) -> Reply:
        params = _QueryParams(request)
        project_ids = params.ids("project", "projects")
        visible = params.scalar("visible", r"1|2|3") or "1"
        globals_only = params.scalar("globals", r"0|1|true|false") in ("1", "true")
        order_by = params.scalar("orderBy", r"id|name|project") or "name"
        order = params.scalar("order", r"ASC|DESC") or "ASC"
        term = params.scalar("term")
        projects = self._checked_filter(project_ids, self.projects, caller)
        include_globals = True
        if len(projects) == 1:
            include_globals = self.projects[next(iter(projects))].global_activities
        activities = []
        for activity in self.activities.values():
            parent = self.projects.get(activity.project_id) if activity.project_id else None
            if visible != "3":
                if activity.visible != (visible == "1"):
                    continue
                if (
                    not globals_only
                    and parent is not None
                    and not (parent.visible and self.customers[parent.customer_id].visible)
                ):
                    continue
            if globals_only:
                if parent is not None:
                    continue
            elif projects:
                # The project's activities plus globals (§8), unless the project forbids them.
                if parent is None and not include_globals:
                    continue
                if parent is not None and parent.id not in projects:
                    continue
            if not self._access_activity(activity, caller):
                continue
            if term and not _matches_term(term, [activity.name, activity.comment, activity.number]):
                continue
            activities.append(activity)

        def key(activity: Activity) -> tuple[Any, ...]:
            if order_by == "id":
                return (activity.id,)
            if order_by == "project":
                parent = self.projects.get(activity.project_id) if activity.project_id else None
                # MySQL sorts NULL first in ascending order.
                return (parent is not None, parent.name.lower() if parent else "", activity.id)
            return (activity.name.lower(), activity.id)

        activities.sort(key=key, reverse=order == "DESC")
        return Reply(200, [self._activity_json(a, caller) for a in activities])

    def _get_activity(self, request: RecordedRequest, caller: User, activity_id: int) -> Reply:
        activity = self.activities.get(activity_id)
        if activity is None:
            raise _error(404)
        if not self._entity_vote(caller, "view", "activity", self._activity_team_ids(activity)):
            raise _error(403)
        return Reply(200, self._activity_json(activity, caller))

    # -- create and update forms (§11) --------------------------------------------------------
    def _selectable_teams(self, caller: User) -> set[int]:
        if self._sees_all(caller):
            return set(self.teams)
        return {t.id for t in self._led_teams(caller)}

    def _budget_fields(self, caller: User, kind: str, teams: list[int]) -> list[str]:
        fields = []
        money = self._entity_vote(caller, "budget", kind, teams)
        time = self._entity_vote(caller, "time", kind, teams)
        if money:
            fields.append("budget")
        if time:
            fields.append("timeBudget")
        if money or time:
            fields.append("budgetType")
        return fields

    def _customer_fields(self, caller: User, stored: Customer | None) -> list[str]:
        """CustomerApiEditForm fields for this version (§11 "Customer form history")."""
        v = self.version_id
        fields = ["name", "number", "comment", "company", "vatId", "contact"]
        if v < 24100 or (stored is not None and stored.address):
            fields.append("address")
        if v >= 24300:
            fields += ["addressLine1", "addressLine2", "addressLine3", "postCode", "city"]
        elif v >= 24100:  # address_line1-3 are unreachable from JSON: camel_keys renames them
            fields += ["address_line1", "address_line2", "address_line3", "postcode", "city"]
        fields.append("country")
        if v >= 26300:
            fields.append("language")
        fields += ["currency", "phone", "fax", "mobile", "email", "homepage", "timezone"]
        fields += ["invoiceText", "invoiceTemplate"]
        if v >= 26300:
            fields.append("invoiceEmail")
        if v >= 24100:
            fields.append("buyerReference")
        fields += self._budget_fields(caller, "customer", stored.teams if stored else [])
        if stored is None:
            fields.append("teams")
        return [*fields, "color", "visible", "billable"]

    def _post_customer(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "create_customer")
        customer = Customer(
            id=0,
            name="",
            number=f"{len(self.customers) + 1:04d}",
            country=self.config.default_customer_country,
            currency=self.config.default_customer_currency,
            timezone=self.config.default_customer_timezone,
        )
        return self._submit_customer(request, caller, customer, None)

    def _patch_customer(self, request: RecordedRequest, caller: User, customer_id: int) -> Reply:
        stored = self.customers.get(customer_id)
        if stored is None:
            raise _error(404)
        if not self._entity_vote(caller, "edit", "customer", stored.teams):
            raise _error(403)
        return self._submit_customer(request, caller, replace(stored), stored)

    def _submit_customer(
        self, request: RecordedRequest, caller: User, customer: Customer, stored: Customer | None
    ) -> Reply:
        data = self._form_data(request)
        form = _EntityForm(
            self._customer_fields(caller, stored), data, self._clears(stored), self.version_id
        )
        texts = {
            "name": "name", "number": "number", "comment": "comment", "company": "company",
            "vatId": "vat_id", "contact": "contact", "address": "address",
            "addressLine1": "address_line1", "addressLine2": "address_line2",
            "addressLine3": "address_line3", "postCode": "post_code", "postcode": "post_code",
            "city": "city", "phone": "phone", "fax": "fax", "mobile": "mobile", "email": "email",
            "homepage": "homepage", "invoiceText": "invoice_text", "invoiceEmail": "invoice_email",
            "buyerReference": "buyer_reference",
        }  # fmt: skip
        for name, attribute in texts.items():
            form.text(name, customer, attribute)
        form.choice("country", customer, "country", _COUNTRIES, "Please select a valid country.")
        form.choice(
            "currency", customer, "currency", _CURRENCIES, "Please select a valid currency."
        )
        form.choice("timezone", customer, "timezone", _ZONES, "Please select a valid timezone.")
        form.choice("language", customer, "language", _LANGUAGES, MSG_INVALID_CHOICE)
        form.choice(
            "invoiceTemplate", customer, "invoice_template", frozenset(), MSG_INVALID_CHOICE
        )
        form.common(customer, self._selectable_teams(caller))
        if customer.name == "" or customer.name is None:
            form.violation("name", MSG_NOT_BLANK)
        form.check_name_and_number(customer, 50, self._number_taken(self.customers, customer))
        for name, limit in (
            ("company", 100), ("vatId", 50), ("contact", 100), ("addressLine1", 150),
            ("addressLine2", 150), ("addressLine3", 150), ("postCode", 20), ("city", 50),
            ("phone", 30), ("fax", 30), ("mobile", 30), ("email", 75), ("homepage", 100),
            ("buyerReference", 50), ("invoiceEmail", 75),
        ):  # fmt: skip
            form.max_length(name, getattr(customer, texts[name]), limit)
        for name in ("country", "currency", "timezone"):
            if getattr(customer, name) in (None, ""):
                form.violation(name, MSG_NOT_BLANK)
        for name, value in (("email", customer.email), ("invoiceEmail", customer.invoice_email)):
            if value is not None and not _EMAIL.fullmatch(value):
                form.violation(name, MSG_INVALID_EMAIL)
        if customer.homepage is not None and not _URL.fullmatch(customer.homepage):
            form.violation("homepage", MSG_INVALID_URL)
        if form.finish():
            return Reply(400, form.errors.body())
        if stored is None:
            customer.id = self._next_id("customer")
        self.customers[customer.id] = customer
        return Reply(200, self._customer_json(customer, caller, entity=True))

    def _clears(self, stored: object | None) -> bool:
        """POST used submit($data) (clearing left-out fields) up to 2.62 (§11)."""
        return stored is None and self.version_id < 26300

    def _number_taken(self, table: dict[int, Any], entity: Any) -> bool:
        if self.config.allow_duplicate_number or not entity.number:
            return False
        return any(o.number == entity.number and o.id != entity.id for o in table.values())

    def _post_project(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "create_project")
        project = Project(
            id=0,
            name="",
            customer_id=0,
            number=f"{len(self.projects) + 1:04d}",
            timezone=caller.timezone,
        )
        return self._submit_project(request, caller, project, None)

    def _patch_project(self, request: RecordedRequest, caller: User, project_id: int) -> Reply:
        stored = self.projects.get(project_id)
        if stored is None:
            raise _error(404)
        if not self._entity_vote(caller, "edit", "project", self._project_team_ids(stored)):
            raise _error(403)
        return self._submit_project(request, caller, replace(stored), stored)

    def _submit_project(
        self, request: RecordedRequest, caller: User, project: Project, stored: Project | None
    ) -> Reply:
        data = self._form_data(request)
        fields = ["name"]
        if self.version_id >= 21400:
            fields.append("number")
        fields += ["comment", "invoiceText", "orderNumber", "orderDate", "start", "end"]
        fields += ["customer", "color"]
        fields += self._budget_fields(
            caller, "project", self._project_team_ids(stored) if stored else []
        )
        if stored is None:
            fields.append("teams")
        fields += ["globalActivities", "visible", "billable"]
        form = _EntityForm(fields, data, self._clears(stored), self.version_id)
        for name, attribute in (
            ("name", "name"), ("number", "number"), ("comment", "comment"),
            ("invoiceText", "invoice_text"), ("orderNumber", "order_number"),
        ):  # fmt: skip
            form.text(name, project, attribute)
        # POST takes yyyy-MM-dd, PATCH yyyy-MM-dd'T'HH:mm:ss, read in the API user's zone (§11).
        for name, attribute in (("orderDate", "order_date"), ("start", "start"), ("end", "end")):
            if form.date(name, project, attribute, with_time=stored is not None):
                project.timezone = caller.timezone
        customers = {
            c.id for c in self.customers.values() if c.visible and self._access_customer(c, caller)
        }
        if stored is not None:
            customers.add(stored.customer_id)
        if stored is not None and "name" in data and project.name is None:
            raise _error(500)  # Project::setName(string) gets null: a TypeError (§11, inferred)
        form.entity("customer", project, "customer_id", customers)
        form.checkbox("globalActivities", project, "global_activities")
        form.common(project, self._selectable_teams(caller))
        if not project.name:
            form.violation("name", MSG_NOT_NULL)
        if not project.customer_id:
            form.violation("customer", MSG_NOT_NULL)
        form.check_name_and_number(project, 10, self._number_taken(self.projects, project))
        form.max_length("orderNumber", project.order_number, 50)
        if project.start and project.end and project.end < project.start:
            form.violation("end", MSG_END_BEFORE_BEGIN)
        if form.finish():
            return Reply(400, form.errors.body())
        if stored is None:
            project.id = self._next_id("project")
        self.projects[project.id] = project
        return Reply(200, self._project_json(project, caller))

    def _post_activity(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "create_activity")
        activity = Activity(id=0, name="", number=f"{len(self.activities) + 1:04d}")
        return self._submit_activity(request, caller, activity, None)

    def _patch_activity(self, request: RecordedRequest, caller: User, activity_id: int) -> Reply:
        stored = self.activities.get(activity_id)
        if stored is None:
            raise _error(404)
        if not self._entity_vote(caller, "edit", "activity", self._activity_team_ids(stored)):
            raise _error(403)
        return self._submit_activity(request, caller, replace(stored), stored)

    def _submit_activity(
        self, request: RecordedRequest, caller: User, activity: Activity, stored: Activity | None
    ) -> Reply:
        data = self._form_data(request)
        fields = ["name"]
        if self.version_id >= 21400:
            fields.append("number")
        fields += ["comment", "invoiceText"]
        # `project` on POST, and on PATCH of a project activity only (§11 Conditional).
        with_project = stored is None or stored.project_id is not None
        if with_project:
            fields.append("project")
        fields.append("color")
        fields += self._budget_fields(
            caller, "activity", self._activity_team_ids(stored) if stored else []
        )
        if stored is None:
            fields.append("teams")
        fields += ["visible", "billable"]
        form = _EntityForm(fields, data, self._clears(stored), self.version_id)
        for name, attribute in (
            ("name", "name"), ("number", "number"), ("comment", "comment"),
            ("invoiceText", "invoice_text"),
        ):  # fmt: skip
            form.text(name, activity, attribute)
        if stored is not None and "name" in data and activity.name is None:
            raise _error(500)  # Activity::setName(string) gets null: a TypeError (§11, inferred)
        if with_project:
            choices = set()
            for project in self.projects.values():
                customer = self.customers[project.customer_id]
                if not (project.visible and customer.visible):
                    continue
                if not self._access_project(project, caller):
                    continue
                if (
                    stored is not None
                    and stored.project_id is not None
                    and project.customer_id != self.projects[stored.project_id].customer_id
                ):
                    continue
                choices.add(project.id)
            if stored is not None and stored.project_id is not None:
                choices.add(stored.project_id)
            form.entity("project", activity, "project_id", choices, empty=None)
        form.common(activity, self._selectable_teams(caller))
        if not activity.name:
            form.violation("name", MSG_NOT_BLANK)
        form.check_name_and_number(activity, 10, self._number_taken(self.activities, activity))
        if form.finish():
            return Reply(400, form.errors.body())
        if stored is None:
            activity.id = self._next_id("activity")
        self.activities[activity.id] = activity
        return Reply(200, self._activity_json(activity, caller))

    # == tags (§8 "Tags") ======================================================================
    def _tag_json(self, tag: Tag) -> dict[str, Any]:
        return {
            "id": tag.id,
            "name": tag.name,
            "color": tag.color,
            "color-safe": _color_safe(tag.color, tag.name),
            "visible": tag.visible,
        }

    def _visible_tags_like(self, name: str | None) -> list[Tag]:
        pattern = _like(f"%{name}%") if name is not None else None
        tags = [
            t
            for t in self.tags.values()
            if t.visible and (not pattern or pattern.fullmatch(t.name))
        ]
        return sorted(tags, key=lambda t: t.name.lower())

    def _get_tag_names(self, request: RecordedRequest, caller: User) -> Reply:
        name = _QueryParams(request).scalar("name")
        return Reply(200, [t.name for t in self._visible_tags_like(name)])

    def _find_tags(self, request: RecordedRequest, caller: User) -> Reply:
        name = _QueryParams(request).scalar("name")
        if name is None:
            return Reply(200, [])
        return Reply(200, [self._tag_json(t) for t in self._visible_tags_like(name)])

    def _post_tag(self, request: RecordedRequest, caller: User) -> Reply:
        self._require(caller, "manage_tag", "create_tag")
        data = self._form_data(request)
        tag = Tag(id=0, name="", visible=True)
        # TagController::postAction uses submit($data): a missing checkbox is saved false (§8).
        form = _EntityForm(["name", "visible", "color"], data, True, self.version_id)
        form.text("name", tag, "name")
        form.checkbox("visible", tag, "visible")
        form.color(tag)
        name = tag.name or ""
        if not name:
            form.violation("name", MSG_NOT_BLANK)
        elif len(name) < 2:
            form.violation("name", _too_short(2))
        elif len(name) > 100:
            form.violation("name", _too_long(100))
        if "," in name:
            form.violation("name", MSG_TAG_COMMA)
        if name and self._tag_by_name(name) is not None:  # UniqueEntity('name')
            form.violation("name", MSG_ALREADY_USED)
        if form.finish():
            return Reply(400, form.errors.body())
        tag.id = self._next_id("tag")
        self.tags[tag.id] = tag
        return Reply(200, self._tag_json(tag))

    def _delete_tag(self, request: RecordedRequest, caller: User, tag_id: int) -> Reply:
        if tag_id not in self.tags:
            raise _error(404)
        self._require(caller, "delete_tag")
        del self.tags[tag_id]
        for sheet in self.timesheets.values():
            if tag_id in sheet.tag_ids:
                sheet.tag_ids.remove(tag_id)
        return Reply(204)


# == module helpers =============================================================================
_EMAIL = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
)
_URL = re.compile(r"https?://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?|https?://localhost(?:[:/?#]\S*)?")


def _too_short(limit: int) -> str:
    return f"This value is too short. It should have {limit} characters or more."


def _too_long(limit: int) -> str:
    return f"This value is too long. It should have {limit} characters or less."


def _long_running_message(minutes: int) -> str:
    return f"Maximum {minutes // 60}:{minutes % 60:02d} hours allowed."


def _service_error(children: dict[str, list[str]]) -> _HttpError:
    """ValidationFailedException: code is the *string* "400" (§3, second shape)."""
    return _HttpError(
        400,
        {
            "code": "400",
            "message": "There was a problem saving.",
            "errors": {"children": {path: {"errors": msgs} for path, msgs in children.items()}},
        },
    )


def _copy_timesheet(sheet: Timesheet) -> Timesheet:
    return replace(
        sheet,
        tag_ids=list(sheet.tag_ids),
        meta={k: replace(v) for k, v in sheet.meta.items()},
    )


def _by_id(sheet: Timesheet) -> int:
    return sheet.id


def _date_json(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _project_bounds(project: Project) -> tuple[datetime | None, datetime | None]:
    """Project start is forced to 00:00:00, end to 23:59:59, in the project's zone (§11)."""
    zone = ZoneInfo(project.timezone)
    start = datetime.combine(project.start, dtime(0, 0, 0), zone) if project.start else None
    end = datetime.combine(project.end, dtime(23, 59, 59), zone) if project.end else None
    return start, end


def _project_covers(project: Project, day: date) -> bool:
    return (project.start is None or project.start <= day) and (
        project.end is None or project.end >= day
    )


def _param_day(value: str) -> date:
    return date.fromisoformat(value[:10])


def _as_id(raw: Any) -> int | None:
    if _is_list_like(raw) or raw is None:
        return None
    text = str(raw).strip()
    # Choice values compare as strings: "01" is not the choice "1".
    return int(text) if text.isdigit() and str(int(text)) == text else None


def _parse_money(raw: Any) -> float | None | _Invalid:
    if _is_list_like(raw):
        return _INVALID
    text = _form_text(raw)
    if text is None:
        return None
    if not re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return _INVALID
    return float(text)


def _parse_duration(raw: Any) -> int | None:
    """Kimai's DurationType: "H:MM", "H:MM:SS" or decimal hours; "" is zero."""
    if _is_list_like(raw):
        return None
    text = _form_text(raw)
    if text is None:
        return 0
    match = re.fullmatch(r"(\d+):(\d{1,2})(?::(\d{1,2}))?", text)
    if match:
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    if re.fullmatch(r"\d+(?:[.,]\d+)?", text):
        return round(float(text.replace(",", ".")) * 3600)
    return None


def _timesheet_sort_key(sheet: Timesheet, order_by: str) -> tuple[Any, ...]:
    """ORDER BY <field>, t.id (#4881); MySQL sorts NULL (a running record's end) lowest."""
    value: float | None
    if order_by == "id":
        value = sheet.id
    elif order_by == "end":
        value = None if sheet.end is None else sheet.end.timestamp()
    elif order_by == "rate":
        value = sheet.rate
    else:
        value = sheet.begin.timestamp()
    return (value is not None, value if value is not None else 0.0, sheet.id)


def _page_and_size(page_param: str | None, size_param: str | None) -> tuple[int, int]:
    """BaseApiController::prepareQuery: size 0 → 50, above 500 → 500 (§5)."""
    page = int(page_param) if page_param else 1
    page = max(page, 1)
    size = _DEFAULT_PAGE_SIZE
    if size_param:
        size = int(size_param)
        if size < 1:
            size = _DEFAULT_PAGE_SIZE
        size = min(size, _MAX_PAGE_SIZE)
    return page, size


def _term_parts(term: str) -> list[tuple[str | None, str, bool]]:
    """SearchTerm / SearchTermPart: (meta field or None, word, negated)."""
    parts = []
    for word in term.split():
        name: str | None = None
        if ":" in word:
            head, tail = word.split(":", 1)
            if tail != "":  # "name:" is plain text
                name = head
                word = tail if tail != '""' else ""
        negated = len(word) > 1 and word[0] == "!"
        if negated:
            word = word[1:]
        parts.append((name, word, negated))
    return parts


class _SearchTerm:
    """SearchHelper::addSearchTerm: every word must match (AND), `name:value` searches meta
    fields (visible or not), `name:*` exists, `name:~` does not exist, `!` negates (§5)."""

    def __init__(self, term: str) -> None:
        self.parts = [
            (name, word, negated, _like(f"%{word}%")) for name, word, negated in _term_parts(term)
        ]

    def literals(self) -> list[str]:
        """Text every matching description holds (the plain, positive words between their
        wildcards), for the double's description index."""
        return [
            literal
            for name, word, negated, _ in self.parts
            if name is None and not negated
            for literal, _wildcard in _like_parts(f"%{word}%")  # as _like reads it
        ]

    def matches(self, fields: list[str | None], meta: dict[str, MetaValue] | None = None) -> bool:
        for name, word, negated, pattern in self.parts:
            if name is not None:
                if not self._meta_matches((meta or {}).get(name.lower()), word, negated, pattern):
                    return False
                continue
            hit = any(value is not None and pattern.fullmatch(value) for value in fields)
            if hit == negated:
                return False
        return True

    @staticmethod
    def _meta_matches(
        row: MetaValue | None, word: str, negated: bool, pattern: re.Pattern[str]
    ) -> bool:
        if word == "*":
            return row is not None and row.value is not None
        if word == "~":
            return row is None
        if word == "":
            return row is None or row.value is None
        if row is None:
            return False
        hit = row.value is not None and bool(pattern.fullmatch(row.value))
        return (row.value is None or not hit) if negated else hit


def _matches_term(
    term: str, fields: list[str | None], meta: dict[str, MetaValue] | None = None
) -> bool:
    return _SearchTerm(term).matches(fields, meta)


def _php_form(text: str) -> dict[str, Any]:
    """A PHP-parsed application/x-www-form-urlencoded body (one level of `name[key]`)."""
    result: dict[str, Any] = {}
    for key, value in _parse_qsl(text):
        match = re.fullmatch(r"([^\[]+)\[([^\]]*)\]", key)
        if match is None:
            result[key] = value
            continue
        bucket = result.get(match.group(1))
        if not isinstance(bucket, dict):
            bucket = result[match.group(1)] = {}
        bucket[match.group(2) or str(len(bucket))] = value
    return result


def _parse_qsl(text: str) -> Iterator[tuple[str, str]]:
    for key, values in parse_qs(text, keep_blank_values=True).items():
        for value in values:
            yield key, value


class _QueryParams:
    """FOSRest's ParamFetcher with ``strict: true``: a broken requirement is a 400 (§5)."""

    def __init__(self, request: RecordedRequest) -> None:
        self.query = request.query

    def scalar(self, name: str, requirement: str | None = None) -> str | None:
        values = self.query.get(name)
        if not values:
            return None  # absent, or sent as name[] (not a scalar: the default)
        value = values[-1]
        # Symfony's Regex constraint lets "" pass.
        if requirement and value != "" and not re.fullmatch(f"(?:{requirement})", value):
            raise _error(400)
        return value

    def datetime(self, name: str) -> str | None:
        value = self.scalar(name)
        if value:
            _parse_param_datetime(value, "UTC")  # exactly Y-m-d\TH:i:s and a real date
        return value or None

    def date_or_datetime(self, name: str) -> str | None:
        value = self.scalar(name)
        if not value:
            return None
        if _DATE_PARAM.match(value):
            try:
                date.fromisoformat(value)
            except ValueError:
                raise _error(400) from None
        else:
            _parse_param_datetime(value, "UTC")
        return value

    def array(self, name: str, requirement: str | None = None) -> list[str]:
        values: list[str] = []
        pattern = re.compile(rf"{re.escape(name)}\[[^\]]*\]")
        for key, items in self.query.items():
            if pattern.fullmatch(key):
                values += items
        for value in values:
            if requirement and value != "" and not re.fullmatch(f"(?:{requirement})", value):
                raise _error(400)
        return values

    def ids(self, single: str, plural: str) -> list[int]:
        values = self.array(plural, r"\d+")
        one = self.scalar(single, r"\d+")
        if one:
            values.append(one)
        return [int(v) for v in dict.fromkeys(values) if v]


class _EntityForm:
    """A Symfony API form for customers, projects, activities and tags (§11)."""

    def __init__(
        self,
        fields: list[str],
        data: dict[str, Any],
        clear_missing: bool,
        version: int = version_id(DEFAULT_VERSION),
    ) -> None:
        self.fields = fields
        self.data = data
        self.clear_missing = clear_missing
        self.version = version
        self.errors = FormErrors(fields)
        self.unsynced: set[str] = set()

    def _present(self, name: str) -> bool:
        return name in self.fields and name in self.data

    def _cleared(self, name: str) -> bool:
        return self.clear_missing and name in self.fields and name not in self.data

    def fail(self, name: str, message: str) -> None:
        self.errors.add(name, message)
        self.unsynced.add(name)

    def violation(self, name: str, message: str) -> None:
        if name not in self.unsynced:
            self.errors.add(name, message)

    def text(self, name: str, target: object, attribute: str) -> None:
        if self._present(name):
            value = self.data[name]
            if _is_list_like(value):
                self.fail(name, MSG_INVALID_VALUE)
            else:
                setattr(target, attribute, _form_text(value))
        elif self._cleared(name):
            setattr(target, attribute, None)

    def checkbox(self, name: str, target: object, attribute: str) -> None:
        """API forms use a plain CheckboxType: only JSON false reads as false (§6 Boolean)."""
        if self._present(name):
            value = self.data[name]
            if _is_list_like(value):
                self.fail(name, MSG_INVALID_VALUE)
            else:
                setattr(target, attribute, value is not None)
        elif self._cleared(name):
            setattr(target, attribute, False)

    def choice(
        self, name: str, target: object, attribute: str, allowed: frozenset[str], message: str
    ) -> None:
        if self._present(name):
            value = self.data[name]
            text = None if _is_list_like(value) else _form_text(value)
            if _is_list_like(value) or (text is not None and text not in allowed):
                self.fail(name, message)
            else:
                setattr(target, attribute, text)
        elif self._cleared(name):
            setattr(target, attribute, None)

    def entity(
        self,
        name: str,
        target: object,
        attribute: str,
        choices: set[int],
        empty: int | None = 0,
    ) -> None:
        if self._present(name):
            raw = self.data[name]
            if raw is None or raw == "":
                setattr(target, attribute, empty)
                return
            entity_id = _as_id(raw)
            if entity_id is None or entity_id not in choices:
                self.fail(name, MSG_INVALID_CHOICE)
            else:
                setattr(target, attribute, entity_id)
        elif self._cleared(name):
            setattr(target, attribute, empty)

    def date(self, name: str, target: object, attribute: str, with_time: bool) -> bool:
        """DatePickerType; returns whether a value was set."""
        if self._present(name):
            raw = self.data[name]
            text = None if _is_list_like(raw) else _form_text(raw)
            if text is None and not _is_list_like(raw):
                setattr(target, attribute, None)
                return True
            pattern = _DATETIME_PARAM if with_time else _DATE_PARAM
            if text is not None and pattern.match(text):
                try:
                    setattr(target, attribute, date.fromisoformat(text[:10]))
                    return True
                except ValueError:
                    pass
            self.fail(name, MSG_INVALID_DATE)
        elif self._cleared(name):
            setattr(target, attribute, None)
        return False

    def color(self, target: object) -> None:
        """ColorChoiceType: only the theme colours (theme.color_choices) are valid (§11)."""
        self.choice("color", target, "color", THEME_COLORS, MSG_INVALID_CHOICE)

    def teams(self, target: Any, allowed: set[int]) -> None:
        if not self._present("teams"):
            return
        raw = self.data["teams"]
        if raw == "" or raw is None:
            target.teams = []
            return
        if not isinstance(raw, dict):
            self.fail("teams", MSG_INVALID_CHOICE)
            return
        ids = [_as_id(v) for v in raw.values()]
        if any(i is None or i not in allowed for i in ids):
            self.fail("teams", MSG_INVALID_CHOICE)
            return
        target.teams = [i for i in ids if i is not None]

    def budgets(self, target: Any) -> None:
        if self._present("budget"):
            amount = _parse_money(self.data["budget"])
            if isinstance(amount, _Invalid):
                self.fail("budget", MSG_INVALID_MONEY)
            else:
                target.budget = amount or 0.0
        if self._present("timeBudget"):
            seconds = _parse_duration(self.data["timeBudget"])
            if seconds is None:
                self.fail("timeBudget", MSG_INVALID_VALUE)
            else:
                target.time_budget = seconds
        self.choice("budgetType", target, "budget_type", frozenset({"month"}), MSG_INVALID_CHOICE)

    def common(self, target: object, teams: set[int]) -> None:
        self.color(target)
        self.teams(target, teams)
        self.budgets(target)
        self.checkbox("visible", target, "visible")
        self.checkbox("billable", target, "billable")

    def check_name_and_number(self, target: Any, number_limit: int, number_taken: bool) -> None:
        name = target.name
        if name:
            if len(name) < 2:
                self.violation("name", _too_short(2))
            elif len(name) > 150:
                self.violation("name", _too_long(150))
        number = target.number
        if number is not None and len(number) > number_limit:
            self.violation("number", _too_long(number_limit))
        if self.version >= 25400:  # since 2.54 (§11)
            for field_name, value in (("name", name), ("number", number)):
                if value and re.search(r'[<>"=]', value):
                    self.violation(field_name, MSG_FORBIDDEN_CHARS)
        if number_taken:
            self.violation("number", f"The number {number} is already used.")

    def max_length(self, name: str, value: str | None, limit: int) -> None:
        if name in self.fields and value is not None and len(value) > limit:
            self.violation(name, _too_long(limit))

    def finish(self) -> bool:
        """Adds the extra-fields error (last, like FormValidator); True when invalid."""
        if any(key not in self.fields for key in self.data):
            self.errors.add(None, MSG_EXTRA_FIELDS)
        return bool(self.errors)


# == seeding from the shared data set ===========================================================
def seed_from_dataset(double: KimaiDouble, dataset: Dataset) -> None:
    """Fill `double` with the Kimai side of `dataset` (users, customers, projects, activities
    and the timesheets people typed in by hand)."""
    for user in dataset.kimai_users:
        double.add_user(
            user.username, user.email, timezone=user.timezone, role=user.role, token=user.token
        )
    if dataset.kimai_token not in double.tokens:
        double.add_token(dataset.kimai_sync_username, dataset.kimai_token)
    for customer in dataset.kimai_customers:
        double.add_customer(customer.name, timezone=customer.timezone, billable=customer.billable)
    for project in dataset.kimai_projects:
        double.add_project(
            project.name,
            project.customer,
            billable=project.billable,
            global_activities=project.global_activities,
        )
    for activity in dataset.kimai_activities:
        double.add_activity(activity.name, activity.project, billable=activity.billable)
    for sheet in dataset.kimai_manual_timesheets:
        double.add_timesheet(
            sheet.username,
            sheet.project,
            sheet.activity,
            sheet.begin,
            sheet.begin + timedelta(minutes=sheet.duration_minutes),
            description=sheet.description,
            tags=sheet.tags,
        )


# == standalone server ==========================================================================
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.doubles.kimai",
        description="Run the Kimai test double on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay for every request")
    parser.add_argument(
        "--seed",
        choices=("demo", "none"),
        default="none",
        help="demo: the shared demo data set; none: a single super admin",
    )
    parser.add_argument("--version", default=DEFAULT_VERSION, help="Kimai version to simulate")
    args = parser.parse_args(argv)

    double = KimaiDouble(version=args.version)
    double.latency = args.latency_ms / 1000
    if args.seed == "demo":
        from tests.doubles.dataset import demo_dataset

        seed_from_dataset(double, demo_dataset())
    else:
        double.add_user("admin", "admin@example.com", role=ROLE_SUPER_ADMIN, token="kimai-admin")

    server = double.make_server(args.port)
    port = server.server_address[1]
    print(f"Kimai double {double.version} on http://127.0.0.1:{port} (API under /api)")
    for username, tokens in sorted(double.tokens_by_user().items()):
        for token in tokens:
            print(f"  token for {username}: {token}")
    stop = stop_on_signals()
    sys.stdout.flush()
    thread = threading.Thread(target=server.serve_forever, name="kimai-double", daemon=True)
    thread.start()
    try:
        while thread.is_alive() and not stop.is_set():
            stop.wait(0.5)
        print("stopping")
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
