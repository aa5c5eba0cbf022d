"""A Jira test double: Cloud (REST v3 and v2) or Data Center (REST v2), per instance.

It behaves as docs/reference/jira-api.md writes down (cited as §n): authentication per flavour,
the incremental worklog feeds with their paging and one-minute blind spot, issue search, users
with hidden e-mails, timestamps in the site's time zone, Jira's error bodies and 429s. Tests
change the world the way people do in Jira (:meth:`JiraDouble.log_work`, ``edit_worklog``,
``delete_worklog``) and read what a client would see. Endpoints live in ``feeds.py`` (worklogs)
and ``search.py`` (issues, users, /myself, /serverInfo).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from tests.doubles.base import Double, Fault, RecordedRequest, Reply
from tests.doubles.jira import feeds, search
from tests.doubles.jira.model import (
    API_VERSIONS,
    CLOUD,
    Component,
    Deletion,
    Flavour,
    Issue,
    IssueType,
    JiraError,
    Project,
    User,
    Worklog,
    truncate_ms,
)
from tests.doubles.jira.render import View, user_json

Credentials = Literal["none", "valid", "invalid"]
UNAUTHENTICATED = "Client must be authenticated to access this resource."  # observed, §2.4
UNSET: Any = object()


@dataclass
class Call:
    """One authenticated (or anonymous) request on its way to a handler."""

    request: RecordedRequest
    path: dict[str, str]
    view: View

    @property
    def caller(self) -> User | None:
        return self.view.caller

    def param(self, name: str) -> str | None:
        return self.request.param(name)


Handler = Callable[["JiraDouble", Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    anonymous: bool = False  # "This operation can be accessed anonymously." (§2.3)
    flavours: tuple[Flavour, ...] = ("cloud", "datacenter")


def _route(method: str, tail: str, handler: Handler, **options: Any) -> Route:
    return Route(method, re.compile(rf"^/rest/api/(?P<version>[^/]+)/{tail}$"), handler, **options)


ROUTES = (
    _route("GET", "serverInfo", search.server_info, anonymous=True),
    _route("GET", "myself", search.myself),
    _route("GET", "worklog/updated", feeds.updated),
    _route("GET", "worklog/deleted", feeds.deleted),
    _route("POST", "worklog/list", feeds.worklog_list),
    _route("GET", r"issue/(?P<issue>[^/]+)/worklog", feeds.issue_worklogs, anonymous=True),
    _route("GET", r"issue/(?P<issue>[^/]+)/worklog/(?P<id>[^/]+)", feeds.one_worklog,
           anonymous=True),
    _route("GET", "search/jql", search.search_jql, anonymous=True, flavours=("cloud",)),
    _route("POST", "search/jql", search.search_jql, anonymous=True, flavours=("cloud",)),
    _route("GET", "search", search.search_classic, anonymous=True),
    _route("POST", "search", search.search_classic, anonymous=True),
    _route("GET", "user/search", search.user_search, anonymous=True),
)  # fmt: skip


EVERYONE = (search.myself, search.server_info)  # answered without product access


@dataclass
class BurstWindow:
    started: datetime
    used: int = 0


@dataclass
class RateLimit:
    """``limit`` requests per ``seconds`` (§9): on Cloud per endpoint and method (the burst
    limit), on Data Center per user (the administrator's token bucket, refilled each interval)."""

    limit: int
    seconds: float = 1.0
    windows: dict[str, BurstWindow] = field(default_factory=dict)


class JiraDouble(Double):
    name = "jira"

    def __init__(
        self,
        flavour: Flavour = CLOUD,
        *,
        now: Callable[[], datetime] | None = None,
        site_time_zone: str = "Europe/Berlin",
        base_url: str | None = None,
    ) -> None:
        super().__init__()
        if flavour not in API_VERSIONS:
            raise ValueError(f"unknown flavour {flavour!r}")
        self.flavour: Flavour = flavour
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.site_zone = ZoneInfo(site_time_zone)  # timestamps are written in it (§10)
        self.base_url = base_url  # None: the Host the client called (links follow it)
        self.users: dict[str, User] = {}  # by account id
        self.projects: dict[str, Project] = {}  # by key
        self.issue_types: dict[str, IssueType] = {}
        self.issues: dict[str, Issue] = {}  # by id
        self.worklogs: dict[int, Worklog] = {}
        self.deletions: list[Deletion] = []
        self.hours_per_day, self.days_per_week = 8, 5  # time tracking settings (§4)
        self.dc_emails_visible = True  # Data Center's instance-wide e-mail visibility (§5.2)
        self.index_lag = timedelta(0)  # search sees new issues this much later (§6.1)
        self.strict_jql_values = True  # 400 for unknown projects and issue keys in JQL (§6.2)
        self.rate_limit: RateLimit | None = None  # None: no burst limit (§9)
        self.search_tokens: dict[str, tuple[str, int, datetime]] = {}
        self._counters = {"project": 10000, "issue": 10000, "type": 10000, "component": 10000,
                          "worklog": 10000, "user": 10000}  # fmt: skip

    # -- identities ---------------------------------------------------------------------------
    def _next(self, kind: str, wanted: int | str | None = None) -> int:
        number = int(wanted) if wanted is not None else self._counters[kind] + 1
        self._counters[kind] = max(self._counters[kind], number)
        return number

    def stamp(self, at: datetime | None = None) -> datetime:
        return truncate_ms(at or self.now())

    # -- world: what people set up and do in Jira ---------------------------------------------
    def add_user(
        self,
        display_name: str,
        email: str,
        *,
        time_zone: str = "UTC",
        account_id: str | None = None,
        name: str | None = None,
        api_token: str | None = None,
        personal_access_token: str | None = None,
        **options: Any,
    ) -> User:
        with self.lock:
            number = self._next("user")
            digest = hashlib.sha1(email.lower().encode()).hexdigest()
            user = User(
                account_id=account_id or digest[:24],  # like 5b10ac8d82e05b22cc7d4ef5 (§5.1)
                name=name or email.split("@")[0].lower(),
                key=f"JIRAUSER{number}",
                display_name=display_name,
                email=email,
                time_zone=time_zone,
                api_tokens={api_token} if api_token else set(),
                personal_access_tokens={personal_access_token} if personal_access_token else set(),
                **options,
            )
            self.users[user.account_id] = user
            return user

    def add_issue_type(
        self, name: str, *, subtask: bool = False, id: int | None = None
    ) -> IssueType:
        with self.lock:
            kind = IssueType(str(self._next("type", id)), name, subtask)
            self.issue_types[kind.id] = kind
            return kind

    def add_project(
        self,
        key: str,
        name: str,
        *,
        category: str | None = None,
        components: Iterable[str] = (),
        id: int | None = None,
    ) -> Project:
        with self.lock:
            project = Project(str(self._next("project", id)), key, name, category)
            project.components = [Component(str(self._next("component")), c) for c in components]
            self.projects[key] = project
            return project

    def add_issue(
        self,
        project_key: str,
        summary: str,
        *,
        issue_type: str = "Task",
        labels: Iterable[str] = (),
        components: Iterable[str] = (),
        parent: str | None = None,
        at: datetime | None = None,
        id: int | None = None,
    ) -> Issue:
        with self.lock:
            project = self.projects[project_key]
            kind = next(t for t in self.issue_types.values() if t.name == issue_type)
            by_name = {c.name: c.id for c in project.components}
            stamp = self.stamp(at)
            issue = Issue(
                id=str(self._next("issue", id)),
                key=f"{project.key}-{project.next_number}",
                project_key=project.key,
                summary=summary,
                type_id=kind.id,
                labels=list(labels),
                component_ids=[by_name[name] for name in components],
                created=stamp,
                updated=stamp,
                parent_id=self.issue(parent).id if parent else None,
            )
            project.next_number += 1
            self.issues[issue.id] = issue
            return issue

    def log_work(
        self,
        issue: str,
        author: str,
        started: datetime,
        seconds: int,
        *,
        comment: str | None = None,
        visibility: tuple[str, str] | None = None,
        at: datetime | None = None,
        id: int | None = None,
    ) -> Worklog:
        """``author`` logs ``seconds`` on ``issue`` (key or id), work begun at ``started``."""
        with self.lock:
            target, person = self.issue(issue), self.user(author)
            stamp = self.stamp(at)
            worklog = Worklog(
                self._next("worklog", id), target.id, person.account_id, person.account_id,
                truncate_ms(started), seconds, comment, stamp, stamp, visibility,
            )  # fmt: skip
            self.worklogs[worklog.id] = worklog
            target.updated = max(target.updated, stamp)
            return worklog

    def edit_worklog(
        self,
        worklog_id: int,
        *,
        by: str | None = None,
        seconds: int | None = None,
        started: datetime | None = None,
        comment: Any = UNSET,
        visibility: Any = UNSET,
        at: datetime | None = None,
    ) -> Worklog:
        """Someone edits a worklog in place: same id, new ``updated`` (§3.1)."""
        with self.lock:
            worklog = self.worklogs[worklog_id]
            if seconds is not None:
                worklog.seconds = seconds
            if started is not None:
                worklog.started = truncate_ms(started)
            if comment is not UNSET:
                worklog.comment = comment
            if visibility is not UNSET:
                worklog.visibility = visibility
            worklog.update_author = self.user(by).account_id if by else worklog.update_author
            worklog.updated = self.stamp(at)
            return worklog

    def delete_worklog(self, worklog_id: int, *, at: datetime | None = None) -> Deletion:
        """The worklog disappears; only its id and the moment remain, in the deleted feed (§3.3)."""
        with self.lock:
            del self.worklogs[worklog_id]
            deletion = Deletion(worklog_id, self.stamp(at))
            self.deletions.append(deletion)
            return deletion

    # -- lookups ------------------------------------------------------------------------------
    def issue(self, reference: str) -> Issue:
        """An issue by id or by key (keys compare without case)."""
        if reference in self.issues:
            return self.issues[reference]
        for issue in self.issues.values():
            if issue.key.upper() == reference.upper():
                return issue
        raise KeyError(reference)

    def user(self, reference: str) -> User:
        """A user by account id, e-mail or Data Center username."""
        if reference in self.users:
            return self.users[reference]
        for user in self.users.values():
            if reference.lower() in (user.email.lower(), user.name.lower()):
                return user
        raise KeyError(reference)

    def categories(self) -> set[str]:
        return {p.category for p in self.projects.values() if p.category}

    def can_see_issue(self, caller: User | None, issue: Issue) -> bool:
        return caller is not None and caller.can_browse(issue.project_key)

    def can_see_worklog(self, caller: User | None, worklog: Worklog) -> bool:
        """Browse the project, and belong to the group or role the worklog is restricted to."""
        if caller is None or not self.can_see_issue(caller, self.issues[worklog.issue_id]):
            return False
        if worklog.visibility is None:
            return True
        kind, value = worklog.visibility
        return value in (caller.groups if kind == "group" else caller.roles)

    def user_json(self, view: View, user: User, *, itself: bool = False) -> dict[str, Any]:
        return user_json(view, user, itself=itself, email_shown=self.dc_emails_visible)

    # -- HTTP ---------------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Reply:
        if request.path.startswith("/__double__/"):
            return feeds.control(self, request)
        matched = self._match(request)
        if isinstance(matched, Reply):
            return matched
        route, path = matched
        credentials, user = self._authenticate(request)
        if credentials == "invalid" and not (route.anonymous and self.flavour == CLOUD):
            return self.unauthorized()  # Data Center refuses bad credentials everywhere (§2.3)
        if user is None and not route.anonymous:
            return self.unauthorized()
        bucket = self._bucket(request.method, route, user)
        limited = self._burst(bucket)
        if limited is not None:
            return limited
        view = View(self.flavour, path["version"], self.base_for(request), user, self.site_zone)
        try:
            if user is not None and not user.jira_access and route.handler not in EVERYONE:
                raise JiraError(403, "You do not have access to Jira.")  # §2.5
            reply = route.handler(self, Call(request, path, view))
        except JiraError as error:
            reply = Reply(error.status, error.body(), error.headers)
        if user is not None and self.flavour == CLOUD:
            reply.headers.setdefault("X-AAccountId", user.account_id)  # §2.1
        reply.headers.update(self._limit_headers(bucket))
        return reply

    def _match(self, request: RecordedRequest) -> tuple[Route, dict[str, str]] | Reply:
        allowed = False
        for route in ROUTES:
            found = route.pattern.match(request.path)
            if not found:
                continue
            version = found.group("version")
            if self.flavour not in route.flavours or version not in API_VERSIONS[self.flavour]:
                continue
            if route.method != request.method:
                allowed = True
                continue
            return route, found.groupdict()
        if allowed:
            return Reply(405)
        if self.flavour == CLOUD and re.match(r"^/rest/api/(2|3|latest)/search$", request.path):
            return Reply(410, JiraError(410, search.SEARCH_REMOVED).body())  # §1.3
        return Reply(404, JiraError(404).body())

    def _authenticate(self, request: RecordedRequest) -> tuple[Credentials, User | None]:
        header = request.headers.get("authorization", "")
        if not header:
            return "none", None
        scheme, _, value = header.partition(" ")
        user = None
        if scheme.lower() == "basic":
            try:
                login, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "invalid", None
            user = self._basic_user(login, secret)
        elif scheme.lower() == "bearer" and self.flavour != CLOUD:
            user = next((u for u in self.users.values() if value in u.personal_access_tokens), None)
        if user is None or not user.active:
            return "invalid", None
        return "valid", user

    def _basic_user(self, login: str, secret: str) -> User | None:
        for user in self.users.values():
            if self.flavour == CLOUD:  # e-mail address and API token (§2.1)
                if user.email.lower() == login.lower() and secret in user.api_tokens:
                    return user
            elif user.name == login and user.password is not None and secret == user.password:
                return user
        return None

    def unauthorized(self) -> Reply:
        return Reply(401, UNAUTHENTICATED, {"Content-Type": "text/plain;charset=UTF-8"})

    def base_for(self, request: RecordedRequest) -> str:
        return self.base_url or f"http://{request.headers.get('host', 'jira.test')}"

    # -- rate limits (§9) ---------------------------------------------------------------------
    def _bucket(self, method: str, route: Route, user: User | None) -> str:
        if self.flavour == CLOUD:
            return f"{method} {route.pattern.pattern}"
        return f"user {user.key if user else 'anonymous'}"

    def _window(self, bucket: str) -> BurstWindow | None:
        if self.rate_limit is None:
            return None
        now = self.now()
        window = self.rate_limit.windows.get(bucket)
        if window is None or (now - window.started).total_seconds() >= self.rate_limit.seconds:
            window = self.rate_limit.windows[bucket] = BurstWindow(now)
        return window

    def _burst(self, bucket: str) -> Reply | None:
        window = self._window(bucket)
        if window is None or self.rate_limit is None:
            return None
        if window.used >= self.rate_limit.limit:
            elapsed = (self.now() - window.started).total_seconds()
            wait = max(1, math.ceil(self.rate_limit.seconds - elapsed))
            return self.too_many_requests(wait, self._limit_headers(bucket))
        window.used += 1
        return None

    def _limit_headers(self, bucket: str) -> dict[str, str]:
        window = self._window(bucket)
        if window is None or self.rate_limit is None:
            return {}
        limit = self.rate_limit.limit
        remaining = max(0, limit - window.used)
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}
        if self.flavour != CLOUD:
            return headers | {"X-RateLimit-Interval-Seconds": f"{self.rate_limit.seconds:g}",
                              "X-RateLimit-FillRate": str(limit)}  # fmt: skip
        if remaining < limit * 0.2:
            headers["X-RateLimit-NearLimit"] = "true"  # less than 20% of the budget left
        return headers

    def too_many_requests(self, retry_after: int, extra: dict[str, str] | None = None) -> Reply:
        headers = {"Retry-After": str(retry_after)}
        if self.flavour == CLOUD:
            reset = (self.now() + timedelta(seconds=retry_after)).astimezone(UTC)
            headers["X-RateLimit-Reset"] = reset.strftime("%Y-%m-%dT%H:%MZ")
            headers["RateLimit-Reason"] = "jira-burst-based"
        return Reply(429, None, headers | (extra or {}))

    def rate_limit_reply(self, fault: Fault) -> Reply:
        return self.too_many_requests(fault.retry_after)

    def server_error_reply(self, fault: Fault) -> Reply:
        # Some transient 5xx carry Retry-After, e.g. a 503 when a resource limit is hit (§9).
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 503 else {}
        return Reply(fault.status, JiraError(fault.status, "Internal server error").body(), headers)
