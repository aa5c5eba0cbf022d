"""Issues, users and the connection check of the Jira double.

Cloud searches with ``/search/jql`` (``nextPageToken``, ``isLast``, bounded JQL, ids only unless
fields are named) and answers 410 on the removed ``/search`` (§1.3, §6.1); Data Center keeps
``/search`` with ``startAt``/``total`` (§6.4). ``/myself`` checks credentials, ``/serverInfo``
tells the deployment and answers anyone (§7). User search hides what privacy hides (§5.3).
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from tests.doubles.base import Reply
from tests.doubles.jira import jql
from tests.doubles.jira.model import CLOUD, Issue, JiraError, User, not_a_number
from tests.doubles.jira.render import issue_json

if TYPE_CHECKING:
    from tests.doubles.jira.double import Call, JiraDouble

SEARCH_REMOVED = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)  # the 410 body seen since August 2025 (§1.3)
SEARCH_DEFAULT_MAX = 50  # both search operations (§6.1, §6.4)
SEARCH_MAX_IDS = 5000  # /search/jql with only id or key (§6.1)
SEARCH_MAX_FIELDS = 100  # /search/jql with fields: "may return fewer"; the double's number (§11)
CLASSIC_SEARCH_MAX = 1000  # jira.search.views.default.max; the double's number (§11)
TOKEN_LIFETIME = timedelta(days=7)  # nextPageToken expires in 7 days (§6.1)
USER_SEARCH_DEFAULT_MAX = 50
DC_USER_SEARCH_MAX = 1000  # larger values are truncated (§5.3)
CLOUD_VERSION = ("1001.0.0-SNAPSHOT", [1001, 0, 0])
DATA_CENTER_VERSION = ("10.3.6", [10, 3, 6])


# -- connection check (§7) ---------------------------------------------------------------------
def server_info(jira: JiraDouble, call: Call) -> Reply:
    cloud = jira.flavour == CLOUD
    version, numbers = CLOUD_VERSION if cloud else DATA_CENTER_VERSION
    body: dict[str, Any] = {
        "baseUrl": call.view.base,
        "version": version,
        "versionNumbers": numbers,
        "deploymentType": "Cloud" if cloud else "Server",
        "buildNumber": 100290 if cloud else 10030006,
        "buildDate": call.view.time(jira.now() - timedelta(days=3)),
        "serverTime": call.view.time(jira.now()),
        "scmInfo": "1f51473f5c7b75c1a69a0090f4832cdc5053702a",
        "serverTitle": "Jira",
    }
    if cloud:
        body |= {"defaultLocale": {"locale": "en_US"}, "serverTimeZone": str(jira.site_zone)}
    return Reply(200, body)


def myself(jira: JiraDouble, call: Call) -> Reply:
    user = call.caller
    assert user is not None  # not an anonymous operation
    body = jira.user_json(call.view, user, itself=True)
    groups = sorted(user.groups)
    return Reply(200, body | {
        "locale": "en_US",
        "groups": {"size": len(groups), "items": []},
        "applicationRoles": {"size": 1 if user.jira_access else 0, "items": []},
        "expand": "groups,applicationRoles",
    })  # fmt: skip


# -- issue search ------------------------------------------------------------------------------
def search_jql(jira: JiraDouble, call: Call) -> Reply:
    """Cloud's enhanced search (§6.1)."""
    options = _search_options(call)
    query = parse_jql(jira, call.caller, str(options.get("jql") or ""))
    if query.where is None:
        raise JiraError(400, "Unbounded JQL queries are not allowed here. Please add a search "
                             "restriction to your query.")  # fmt: skip
    fields = _list(options.get("fields")) or ["id"]
    offset, jql_text = 0, str(options.get("jql"))
    token = options.get("nextPageToken")
    if token:
        stored = jira.search_tokens.get(str(token))
        if stored is None or stored[0] != jql_text or jira.now() - stored[2] > TOKEN_LIFETIME:
            raise JiraError(400, "The provided next page token is invalid or expired.")
        offset = stored[1]
    only_ids = not ({f.strip() for f in ",".join(fields).split(",")} - {"id", "key"})
    cap = SEARCH_MAX_IDS if only_ids else SEARCH_MAX_FIELDS
    wanted = _int(options.get("maxResults"), SEARCH_DEFAULT_MAX, JiraError(400, "maxResults"))
    reconcile = {str(i) for i in _list(options.get("reconcileIssues"))}
    found = _run(jira, call.caller, query, reconcile)
    page = found[offset : offset + min(max(wanted, 0), cap)]
    body: dict[str, Any] = {"issues": [issue_json(jira, call.view, i, fields) for i in page]}
    body["isLast"] = offset + len(page) >= len(found)
    if not body["isLast"]:
        token = secrets.token_urlsafe(24)
        jira.search_tokens[token] = (jql_text, offset + len(page), jira.now())
        body["nextPageToken"] = token  # absent on the last page
    return Reply(200, body)


def search_classic(jira: JiraDouble, call: Call) -> Reply:
    """Data Center's ``/search`` with ``startAt`` and ``total`` (§6.4); gone on Cloud (§1.3)."""
    if jira.flavour == CLOUD:
        raise JiraError(410, SEARCH_REMOVED)
    options = _search_options(call)
    query = parse_jql(jira, call.caller, str(options.get("jql") or ""))
    fields = _list(options.get("fields")) or ["*navigable"]
    start_at = max(0, _int(options.get("startAt"), 0, not_a_number()))
    max_results = min(_int(options.get("maxResults"), SEARCH_DEFAULT_MAX, not_a_number()),
                      CLASSIC_SEARCH_MAX)  # fmt: skip
    found = _run(jira, call.caller, query, set())
    page = found[start_at : start_at + max(max_results, 0)]
    return Reply(200, {
        "expand": "schema,names", "startAt": start_at, "maxResults": max_results,
        "total": len(found), "issues": [issue_json(jira, call.view, i, fields) for i in page],
    })  # fmt: skip


def _search_options(call: Call) -> dict[str, Any]:
    if call.request.method == "POST":
        body = call.request.json
        if not isinstance(body, dict):
            raise JiraError(400, "The request body is not a JSON object.")
        return body
    return {name: (call.request.params(name) if name in ("fields", "reconcileIssues")
                   else call.param(name))
            for name in ("jql", "nextPageToken", "maxResults", "startAt", "fields",
                         "reconcileIssues")}  # fmt: skip


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _int(value: Any, default: int, error: JiraError) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise error from None


def _run(jira: JiraDouble, caller: User | None, query: jql.Query, reconcile: set[str]) -> list:
    """Issues the caller may browse that the index already holds, in the query's order (§6.1)."""
    indexed_before = jira.now() - jira.index_lag
    found = [
        issue for issue in jira.issues.values()
        if jira.can_see_issue(caller, issue)
        and (issue.created <= indexed_before or issue.id in reconcile)
        and (query.where is None or query.where(issue))
    ]  # fmt: skip
    for name, descending in reversed(query.order or [("id", False)]):
        found.sort(key=partial(_sort_key, name=name), reverse=descending)
    return found


def _sort_key(issue: Issue, name: str) -> Any:
    if name in ("key", "project"):
        project, _, number = issue.key.partition("-")
        return (project, int(number)) if name == "key" else project
    if name == "id":
        return int(issue.id)
    return getattr(issue, name)


# -- JQL against the double's issues (§6.2) ----------------------------------------------------
def parse_jql(jira: JiraDouble, caller: User | None, text: str) -> jql.Query:
    def clause(field: str, operator: str, values: list[str]) -> jql.Predicate:
        jql.check_operator(field, operator)
        words = [w.lower() for v in values for w in v.split()]
        accepted = set() if field in jql.TEXT_FIELDS else {
            _resolve(jira, caller, field, value) for value in values
        }  # fmt: skip

        def test(issue: Issue) -> bool:
            if field in jql.TEXT_FIELDS:
                return all(word in issue.summary.lower() for word in words)
            return bool(_values_of(issue, field) & accepted)

        if operator in ("!=", "not in", "!~"):
            return lambda issue: not test(issue)
        return test

    return jql.parse(text, clause)


def _values_of(issue: Issue, field: str) -> set[str]:
    if field == "project":
        return {issue.project_key}
    if field in ("id", "key", "issuekey"):
        return {issue.id}
    if field in ("issuetype", "type"):
        return {issue.type_id}
    if field == "labels":
        return {label.lower() for label in issue.labels}
    if field == "component":
        return set(issue.component_ids)
    return {issue.parent_id} if issue.parent_id else set()  # parent


def _resolve(jira: JiraDouble, caller: User | None, field: str, value: str) -> str:
    """A JQL value as the id the double compares; unknown values answer 400 like Jira (§6.2)."""
    lowered = value.lower()
    if field == "labels":
        return lowered
    if field == "project":
        for project in jira.projects.values():
            visible = caller is not None and caller.can_browse(project.key)
            if visible and lowered in (project.key.lower(), project.id, project.name.lower()):
                return project.key
        return _unknown(jira, field, value)
    if field in ("issuetype", "type"):
        for kind in jira.issue_types.values():
            if lowered in (kind.id, kind.name.lower()):
                return kind.id
        return _unknown(jira, field, value)
    if field == "component":
        for project in jira.projects.values():
            for component in project.components:
                if lowered in (component.id, component.name.lower()):
                    return component.id
        return _unknown(jira, field, value)
    try:  # id, key, issuekey, parent
        issue = jira.issue(value)
    except KeyError:
        issue = None
    if issue is not None and jira.can_see_issue(caller, issue):
        return issue.id
    if jira.strict_jql_values:
        raise JiraError(400, f"An issue with key '{value}' does not exist for field '{field}'.")
    return ""


def _unknown(jira: JiraDouble, field: str, value: str) -> str:
    if jira.strict_jql_values:
        raise JiraError(400, f"The value '{value}' does not exist for the field '{field}'.")
    return ""


# -- users (§5.3) ------------------------------------------------------------------------------
def user_search(jira: JiraDouble, call: Call) -> Reply:
    """Active users matching a prefix; nothing for callers without "Browse users and groups"."""
    cloud = jira.flavour == CLOUD
    query = call.param("query") if cloud else call.param("username")
    account_id = call.param("accountId") if cloud else None
    if cloud and bool(query) == bool(account_id):
        raise JiraError(400, "One of 'query' or 'accountId' query parameters is required.")
    if not cloud and not query:
        raise JiraError(400, "The username query parameter was not provided")
    start_at = max(0, _int(call.param("startAt"), 0, not_a_number()))
    max_results = max(0, _int(call.param("maxResults"), USER_SEARCH_DEFAULT_MAX, not_a_number()))
    if not cloud:
        max_results = min(max_results, DC_USER_SEARCH_MAX)
    caller = call.caller
    if caller is None and not cloud:
        return jira.unauthorized()  # "cannot be accessed anonymously" on Data Center
    if caller is None or not caller.browse_users:
        return Reply(200, [])  # Cloud: empty, not an error
    found = [
        user for user in jira.users.values()
        if user.active and (user.account_id == account_id if account_id
                            else _user_matches(jira, user, str(query)))
    ]  # fmt: skip
    found.sort(key=lambda u: (u.display_name.lower(), u.account_id))
    page = found[start_at : start_at + max_results]
    return Reply(200, [jira.user_json(call.view, user) for user in page])


def _user_matches(jira: JiraDouble, user: User, query: str) -> bool:
    wanted = query.lower()
    names = [user.display_name.lower(), *user.display_name.lower().split()]
    if jira.flavour != CLOUD:
        names.append(user.name.lower())
    if any(name.startswith(wanted) for name in names):
        return True
    email = user.email.lower()
    email_visible = user.email_visible if jira.flavour == CLOUD else jira.dc_emails_visible
    # A hidden address is only found by its exact value, never by a prefix (§5.3).
    return email.startswith(wanted) if email_visible else email == wanted
