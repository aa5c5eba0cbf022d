"""Jira worklogs as a source: each worklog becomes one normalized :class:`TimeEntry`.

Section numbers (§) refer to ``docs/reference/jira-api.md``.

Request budget: changes come from the incremental feeds, 1000 ids a page (§3.1); the worklogs
behind them in batches of up to 1000 ids (§3.2); their issues (key, summary, project, type,
labels, components) by JQL, 100 ids a query, remembered for the life of the connector, so a run
costs requests in proportion to pages, never to worklogs. Make one connector per run.

What a worklog becomes:

* ``begin`` is ``started`` (an instant with the site's offset, §4, §10) and ``end`` is ``begin``
  plus ``timeSpentSeconds``; ``booked_at`` is the begin. ``timeSpent`` ("3h 20m", in working days
  of the site's settings) is never parsed.
* the ticket is the issue (id, key, summary); the organization is the project's category (the
  customer, in most Jira sites); the work type (activity) is the issue type; the agent is the
  author, by ``accountId`` on Cloud and by the stable ``key`` on Data Center (§5).
* the description is the worklog's comment as plain text (ADF on v3, a string on v2, §4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from apps.connectors.contract import (
    ActivityRef,
    AgentRef,
    Capability,
    CheckReport,
    CheckReportDraft,
    ExternalServiceError,
    Fact,
    OrganizationRef,
    OutboundHttpClient,
    ReferenceActivity,
    ReferenceCustomer,
    ReferenceData,
    ReferenceGroup,
    ReferenceProject,
    ReferenceUser,
    SourceConnector,
    TicketFacts,
    TicketRef,
    TimeEntry,
    display_url,
)
from zks_connector_jira.client import JiraClient, Row, epoch_ms, parse_jira_time
from zks_connector_jira.config import JiraSettings

# Reference data (people, categories, issue types, components) is read from the worklogs of
# this many days: Jira has no listing of "everyone who logs work".
REFERENCE_DAYS = 90


class JiraConnector(SourceConnector):
    kind = "jira"
    # The host's connector contract this package was written against (MAJOR.MINOR).
    contract_version: ClassVar[str] = "1.1"
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.ENTRIES_CHANGED_SINCE,
            Capability.ENTRIES_IN_WINDOW,
            Capability.ENTRIES_OF_TICKET,
            Capability.ALL_ENTRIES,
            Capability.DELETIONS_SINCE,
            Capability.REFERENCE_DATA,
        }
    )
    settings_model = JiraSettings
    settings: JiraSettings
    facts: ClassVar[frozenset[Fact]] = frozenset(Fact) - {Fact.CUSTOMER}
    fact_labels: ClassVar[Mapping[Fact, str]] = {
        Fact.ORGANIZATION: "Jira project category",
        Fact.PROJECT: "Jira project",
        Fact.GROUP: "Jira component",
        Fact.WORK_TYPE: "Jira issue type",
        Fact.TAGS: "An issue label",
        Fact.TICKET: "Issue summary",
    }

    def _open_http(
        self,
        base_url: str,
        token: str,
        transport: httpx.BaseTransport | None,
        sleep: Callable[[float], None],
    ) -> OutboundHttpClient:
        self.client = JiraClient(base_url, token, self.settings, transport=transport, sleep=sleep)
        return self.client.http

    def forget_lookups(self) -> None:
        self._issues: dict[str, Row | None] = {}

    # -- reading entries ------------------------------------------------------------------------
    def fetch_entries_changed_since(
        self, since: datetime, known: Mapping[str, datetime] | None = None
    ) -> Iterator[TimeEntry]:
        """Worklogs updated at or after ``since − change_overlap_seconds`` (§3.1). The feed
        leaves out the last minute; those come with the next read. ``known`` (id → ``updated``
        already synced) filters the overlap's repeats after the bulk read."""
        floor = since - timedelta(seconds=self.settings.change_overlap_seconds)
        known = known or {}
        for ids in self.client.updated_worklog_ids(floor):
            rows = self.client.worklogs(ids)
            fresh = [r for r in rows if known.get(str(r.get("id"))) != _updated(r)]
            yield from self._normalize(fresh)

    def fetch_deleted_since(self, since: datetime) -> list[str]:
        """Ids of worklogs deleted at or after ``since − change_overlap_seconds`` (§3.3)."""
        floor = since - timedelta(seconds=self.settings.change_overlap_seconds)
        return [str(i) for ids in self.client.deleted_worklog_ids(floor) for i in ids]

    def fetch_entries_in_window(self, start: datetime, end: datetime) -> Iterator[TimeEntry]:
        """Worklogs whose work began in ``[start, end)``. Jira lists worklogs only by when they
        were saved, so the feed is read from ``logged_ahead_days`` before ``start``: a worklog
        is saved at or after its start, unless someone logs work in advance."""
        floor = start - timedelta(days=self.settings.logged_ahead_days)
        for ids in self.client.updated_worklog_ids(floor):
            rows = [r for r in self.client.worklogs(ids) if start <= _started(r) < end]
            yield from self._normalize(rows)

    def fetch_entries_of_ticket(self, ticket_id: str) -> list[TimeEntry]:
        """The issue's complete current set (absent worklogs were deleted)."""
        try:
            rows = self.client.issue_worklogs(ticket_id)
        except ExternalServiceError as error:
            # §2.5: a deleted issue and one the token may not see both answer 404.
            if error.status == 404:
                return []
            raise
        return list(self._normalize(rows))

    def fetch_all_entries(self) -> Iterator[TimeEntry]:
        for ids in self.client.updated_worklog_ids(datetime.fromtimestamp(0, UTC)):
            yield from self._normalize(self.client.worklogs(ids))

    # -- issues ---------------------------------------------------------------------------------
    def issues(self, issue_ids: Iterable[str]) -> dict[str, Row]:
        """Issues by id from this connector's per-run cache; only unseen ones cost a request."""
        wanted = {str(i) for i in issue_ids}
        missing = [i for i in wanted if i not in self._issues]
        if missing:
            for issue in self.client.issues(missing):
                self._issues[str(issue.get("id"))] = issue
            for issue_id in missing:
                self._issues.setdefault(issue_id, None)  # gone, or hidden from the token
        return {i: row for i in wanted if (row := self._issues.get(i)) is not None}

    def fetch_ticket_facts(
        self, ticket_ids: Iterable[str], *, with_tags: bool
    ) -> dict[str, TicketFacts]:
        """The issue's project, components (as groups) and labels (as tags), from the issues
        this run already read for its worklogs; labels come with the issue, so ``with_tags``
        costs nothing more."""
        facts: dict[str, TicketFacts] = {}
        for issue_id, issue in self.issues(ticket_ids).items():
            fields = issue.get("fields") or {}
            project = fields.get("project") or {}
            components = [c for c in fields.get("components") or [] if isinstance(c, dict)]
            facts[issue_id] = TicketFacts(
                ticket_id=issue_id,
                project_id=_text(project.get("id")),
                project_name=_project_name(project),
                group_ids=tuple(str(c.get("id")) for c in components),
                group_names=tuple(str(c.get("name")) for c in components),
                tags=tuple(str(label) for label in fields.get("labels") or []),
            )
        return facts

    # -- normalizing ----------------------------------------------------------------------------
    def _normalize(self, rows: list[Row]) -> Iterator[TimeEntry]:
        rows = [r for r in rows if r.get("id") and r.get("issueId") and r.get("started")]
        if not rows:
            return
        issues = self.issues(str(r["issueId"]) for r in rows)
        for row in sorted(rows, key=lambda r: int(r["id"])):
            yield self._entry(row, issues.get(str(row["issueId"])))

    def _entry(self, row: Row, issue: Row | None) -> TimeEntry:
        begin = _started(row)
        seconds = row.get("timeSpentSeconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise ExternalServiceError(
                f"Jira sent worklog {row.get('id')} without timeSpentSeconds",
                permanent=True,
                service="Jira",
            )
        fields = (issue or {}).get("fields") or {}
        return TimeEntry(
            source_kind=self.kind,
            connection_id=self.connection_id,
            external_id=str(row["id"]),
            booked_at=begin,
            duration_seconds=seconds,
            begin=begin,
            end=begin + timedelta(seconds=seconds),
            ticket=TicketRef(
                id=str(row["issueId"]),
                number=_text(issue.get("key")) if issue else None,
                title=_text(fields.get("summary")),
            ),
            organization=_category(fields.get("project")),
            agent=self._agent(row.get("author")),
            activity=_issue_type(fields.get("issuetype")),
            description=comment_text(row.get("comment")),
            changed_at=_updated(row),
        )

    def _agent(self, author: Any) -> AgentRef | None:
        if not isinstance(author, dict):
            return None
        # Cloud: accountId; Data Center: the key, stable across renames (§5.1, §5.2).
        agent_id = author.get("accountId") if self.client.cloud else author.get("key")
        agent_id = agent_id or author.get("name")
        if not agent_id:
            return None
        return AgentRef(
            id=str(agent_id),
            email=_text(author.get("emailAddress")),  # may be hidden (§5.1)
            name=_text(author.get("displayName")),
        )

    # -- reference data -------------------------------------------------------------------------
    def fetch_reference_data(self) -> ReferenceData:
        """Who logged work, and the categories, issue types, projects and components of their
        issues, over the last ``REFERENCE_DAYS`` days of worklogs."""
        since = self._server_time() - timedelta(days=REFERENCE_DAYS)
        users: dict[str, ReferenceUser] = {}
        for ids in self.client.updated_worklog_ids(since):
            rows = self.client.worklogs(ids)
            self.issues(str(r.get("issueId")) for r in rows if r.get("issueId"))
            for row in rows:
                agent = self._agent(row.get("author"))
                if agent is not None and agent.id not in users:
                    author = row["author"]
                    users[agent.id] = ReferenceUser(
                        id=agent.id,
                        username=str(author.get("name") or agent.email or agent.id),
                        email=agent.email,
                        name=agent.name,
                        timezone=_text(author.get("timeZone")),
                        active=bool(author.get("active", True)),
                    )
        customers: dict[str, ReferenceCustomer] = {}
        activities: dict[str, ReferenceActivity] = {}
        projects: dict[str, ReferenceProject] = {}
        groups: dict[str, ReferenceGroup] = {}
        for issue in self._issues.values():
            fields = (issue or {}).get("fields") or {}
            category = _category(fields.get("project"))
            if category is not None:
                customers[category.id] = ReferenceCustomer(category.id, category.name or "")
            kind = _issue_type(fields.get("issuetype"))
            if kind is not None:
                activities[kind.id] = ReferenceActivity(kind.id, kind.name or "")
            project = fields.get("project") or {}
            if project.get("id"):
                projects[str(project["id"])] = ReferenceProject(
                    id=str(project["id"]),
                    name=_project_name(project) or str(project["id"]),
                    customer_id=category.id if category else "",
                )
            for component in fields.get("components") or []:
                if isinstance(component, dict) and component.get("id"):
                    groups[str(component["id"])] = ReferenceGroup(
                        str(component["id"]), str(component.get("name"))
                    )
        return ReferenceData(
            users=tuple(users.values()),
            customers=tuple(customers.values()),
            projects=tuple(projects.values()),
            activities=tuple(activities.values()),
            groups=tuple(groups.values()),
        )

    def _server_time(self) -> datetime:
        """Jira's own clock (serverInfo ``serverTime``, §7): the feeds count from it."""
        value = self.client.server_info().get("serverTime")
        return parse_jira_time(value) if isinstance(value, str) else datetime.now(UTC)

    # -- connection check -----------------------------------------------------------------------
    def check(self) -> CheckReport:
        report = CheckReportDraft(self.kind, self.role, display_url(self.client.http.base_url))
        try:
            self._check(report)
        except ExternalServiceError as error:
            report.failed(error)
        return report.finish(self.request_count)

    def _check(self, report: CheckReportDraft) -> None:
        try:
            info = self.client.server_info()
        except ExternalServiceError as error:
            if error.status != 401 or not self.client.cloud:
                raise
            # Cloud answers serverInfo to anyone, even with bad credentials (§2.3); Data Center
            # refuses bad credentials everywhere: this is no Jira Cloud.
            report.reachable = True
            report.problems.append(
                "This server refused the e-mail and API token on a call Jira Cloud answers to "
                "anyone, so it is probably Jira Data Center: choose that under “Jira runs on” "
                "and use a personal access token"
            )
            return
        report.reachable = True
        report.version = _text(info.get("version"))
        deployment = str(info.get("deploymentType") or "")
        says_cloud = deployment == "Cloud"  # always "Cloud" on Cloud (§7)
        if deployment and says_cloud != self.client.cloud:
            where = "Jira Cloud" if says_cloud else f"Jira {deployment}"
            report.problems.append(
                f"This server is {where}: choose that under “Jira runs on” (Cloud takes an "
                "e-mail and API token, Data Center a personal access token)"
            )
            return
        me = self.client.myself()  # the one call that proves the credentials (§2.3)
        report.authenticated = True
        name, email = _text(me.get("displayName")), _text(me.get("emailAddress"))
        login = email or _text(me.get("name")) or _text(me.get("accountId")) or "unknown"
        report.identity = f"{name} ({login})" if name else login
        report.facts["API"] = "REST v3 (Cloud)" if self.client.cloud else "REST v2 (Data Center)"
        if info.get("serverTimeZone"):
            report.facts["time zone"] = str(info["serverTimeZone"])
        try:
            now = epoch_ms(datetime.now(UTC))
            self.client.http.get(f"{self.client.api}/worklog/updated", {"since": now})
        except ExternalServiceError as error:
            if error.status not in (401, 403, 404):
                raise
            granted = False
        else:
            granted = True
        report.permission(
            "read worklog changes",
            granted,
            "This Jira account cannot read the worklog feeds: it needs access to Jira and "
            "Browse projects on the projects whose time should be synced",
            required=True,
        )


def comment_text(comment: Any) -> str | None:
    """A worklog comment as plain text: v2 sends a string, v3 an ADF document (§4)."""
    if comment is None:
        return None
    if isinstance(comment, str):
        return comment.strip() or None
    if not isinstance(comment, dict):
        return None
    lines = ["".join(_adf_text(block)) for block in comment.get("content") or []]
    text = "\n".join(lines).strip()
    return text or None


def _adf_text(node: Any) -> Iterator[str]:
    if not isinstance(node, dict):
        return
    if node.get("type") == "text" and isinstance(node.get("text"), str):
        yield node["text"]
    elif node.get("type") == "hardBreak":
        yield "\n"
    for child in node.get("content") or []:
        yield from _adf_text(child)


def _started(row: Row) -> datetime:
    return parse_jira_time(str(row["started"]))


def _updated(row: Row) -> datetime | None:
    return parse_jira_time(str(row["updated"])) if row.get("updated") else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _project_name(project: Any) -> str | None:
    """``AWE Awesome Support``: the key people search for, then the name."""
    if not isinstance(project, dict):
        return None
    name = " ".join(str(project[k]) for k in ("key", "name") if project.get(k))
    return name or None


def _category(project: Any) -> OrganizationRef | None:
    category = project.get("projectCategory") if isinstance(project, dict) else None
    if not isinstance(category, dict) or not category.get("id"):
        return None
    return OrganizationRef(id=str(category["id"]), name=_text(category.get("name")))


def _issue_type(kind: Any) -> ActivityRef | None:
    if not isinstance(kind, dict) or not kind.get("id"):
        return None
    return ActivityRef(id=str(kind["id"]), name=_text(kind.get("name")))
