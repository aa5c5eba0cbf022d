"""The Jira double's state and the way Jira writes values (docs/reference/jira-api.md, cited §n).

Plain data: users, projects, issue types, issues, worklogs and deletion records, plus the value
formats Jira uses on the wire (timestamps with a numeric offset, ``timeSpent`` display strings,
Atlassian Document Format) and its error body. Nothing here knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

Flavour = Literal["cloud", "datacenter"]
CLOUD: Flavour = "cloud"
DATACENTER: Flavour = "datacenter"
API_VERSIONS: dict[Flavour, tuple[str, ...]] = {
    CLOUD: ("2", "3"),  # same operations; v3 speaks ADF (§1.1)
    DATACENTER: ("2",),  # Data Center has no /rest/api/3 (§1.2)
}

CHANGES_PER_PAGE = 1000  # worklog/updated and worklog/deleted (§3.1, §3.3)
LIST_LIMIT = 1000  # worklog/list (§3.2)
RECENT_MS = 60_000  # the feeds leave out the minute before the request (§3.1)
ISSUE_WORKLOGS_DEFAULT_MAX = 5000  # Cloud issue worklogs maxResults default (§3.4)
DEFAULT_HOURS_PER_DAY = 8  # time tracking defaults behind timeSpent (§4)
DEFAULT_DAYS_PER_WEEK = 5


# -- errors ------------------------------------------------------------------------------------
class JiraError(Exception):
    """An error as Jira's ErrorCollection: ``{"errorMessages": [...], "errors": {}}`` (§8)."""

    def __init__(
        self,
        status: int,
        *messages: str,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(messages[0] if messages else str(status))
        self.status = status
        self.messages = list(messages)
        self.errors = errors or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


def issue_not_found() -> JiraError:
    # One answer for "missing" and "not allowed to see" (§2.5); the wording is the double's (§11).
    return JiraError(404, "Issue does not exist or you do not have permission to see it.")


def worklog_not_found(worklog_id: str) -> JiraError:
    return JiraError(404, f"Cannot find worklog with id: {worklog_id}.")


def not_a_number() -> JiraError:
    # JAX-RS cannot convert a numeric query parameter: 404, as the reference says for
    # startAt/maxResults of issue worklogs (§3.4); the double applies it to every numeric parameter.
    return JiraError(404)


# -- state ------------------------------------------------------------------------------------
@dataclass
class User:
    account_id: str  # Cloud identity (§5.1)
    name: str  # Data Center username (§5.2)
    key: str  # Data Center user key, stable across renames (§5.2)
    display_name: str
    email: str
    time_zone: str
    active: bool = True
    email_visible: bool = True  # Cloud profile visibility of the e-mail (§5.1)
    zone_visible: bool = True  # Cloud profile visibility of the time zone (§5.1)
    account_type: str = "atlassian"
    groups: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)  # project roles, held in every project
    browse: set[str] | None = None  # project keys with Browse projects; None: all (§2.5)
    browse_users: bool = False  # "Browse users and groups" global permission (§5.3)
    jira_access: bool = True  # product access; without it: 403 (§2.5)
    api_tokens: set[str] = field(default_factory=set)  # Cloud, Basic e-mail:token (§2.1)
    personal_access_tokens: set[str] = field(default_factory=set)  # Data Center, Bearer (§2.2)
    password: str | None = None  # Data Center Basic username:password (§2.2)

    def can_browse(self, project_key: str) -> bool:
        return self.jira_access and (self.browse is None or project_key in self.browse)


@dataclass
class Component:
    id: str
    name: str
    description: str = ""


@dataclass
class Project:
    id: str
    key: str
    name: str
    category: str | None = None  # project category, e.g. the customer (§6.3)
    project_type: str = "software"
    components: list[Component] = field(default_factory=list)
    next_number: int = 1


@dataclass
class IssueType:
    id: str
    name: str
    subtask: bool = False
    description: str = ""

    @property
    def hierarchy_level(self) -> int:
        return -1 if self.subtask else 0


@dataclass
class Issue:
    id: str
    key: str
    project_key: str
    summary: str
    type_id: str
    labels: list[str]
    component_ids: list[str]
    created: datetime
    updated: datetime
    parent_id: str | None = None


@dataclass
class Worklog:
    id: int
    issue_id: str
    author: str  # User.account_id
    update_author: str
    started: datetime  # an instant, stored in UTC (§10)
    seconds: int
    comment: str | None
    created: datetime
    updated: datetime
    # ("group", name) or ("role", name): only members see the worklog (§3.1, §4)
    visibility: tuple[str, str] | None = None


@dataclass
class Deletion:
    worklog_id: int
    at: datetime


# -- values as Jira writes them ------------------------------------------------------------------
def epoch_ms(moment: datetime) -> int:
    """The UNIX milliseconds of ``since``, ``until`` and ``updatedTime`` (§3.1)."""
    if moment.tzinfo is None:
        raise ValueError("Jira instants must be timezone-aware")
    return int(moment.timestamp() * 1000)


def truncate_ms(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("Jira instants must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def jira_time(moment: datetime, zone: tzinfo) -> str:
    """``2021-01-17T12:34:00.000+0000``: milliseconds and a +hhmm offset, no ``Z`` (§4, §10).

    The wall time and offset are those of ``zone`` at that instant, so the offset of one and the
    same site changes with daylight saving time.
    """
    local = moment.astimezone(zone)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + (local.strftime("%z"))
    )


def parse_jira_time(text: str) -> datetime:
    """Read ``2021-01-17T12:34:00.000+0000`` back into an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def time_spent(
    seconds: int,
    hours_per_day: int = DEFAULT_HOURS_PER_DAY,
    days_per_week: int = DEFAULT_DAYS_PER_WEEK,
) -> str:
    """The display string of a duration, ``3h 20m``, in working days and weeks (§4).

    A day is ``hours_per_day`` hours and a week ``days_per_week`` days (time tracking settings),
    so 8 hours shows as ``1d``: only ``timeSpentSeconds`` is a duration a client can add up.
    """
    minutes = seconds // 60
    units = (
        ("w", hours_per_day * days_per_week * 60),
        ("d", hours_per_day * 60),
        ("h", 60),
        ("m", 1),
    )
    parts = []
    for suffix, size in units:
        count, minutes = divmod(minutes, size)
        if count:
            parts.append(f"{count}{suffix}")
    return " ".join(parts) or "0m"


def adf_document(text: str) -> dict[str, Any]:
    """A plain-text comment as Atlassian Document Format, one paragraph per line (§4)."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}
