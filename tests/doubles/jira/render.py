"""JSON of users, worklogs and issues as Jira Cloud (v2, v3) and Data Center (v2) send it.

Every rendering takes a :class:`View`: which flavour and API version answers, at which base URL,
for which caller, in which site time zone. The differences that matter to a client live here:
ADF versus plain-string comments (§4), ``accountId`` versus ``name``/``key`` (§5), hidden
e-mails (§5.1), timestamps in the site's zone (§10).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from tests.doubles.jira.model import (
    CLOUD,
    Flavour,
    Issue,
    User,
    Worklog,
    adf_document,
    jira_time,
    time_spent,
)

if TYPE_CHECKING:
    from tests.doubles.jira.double import JiraDouble

# Issue fields the double knows; "*all" and "*navigable" mean all of them (§6.3).
ISSUE_FIELDS = ("summary", "project", "issuetype", "labels", "components", "parent", "created",
                "updated")  # fmt: skip


@dataclass(frozen=True)
class View:
    flavour: Flavour
    version: str
    base: str
    caller: User | None
    zone: tzinfo  # the site's default user time zone (§10)

    @property
    def api(self) -> str:
        return f"{self.base}/rest/api/{self.version}"

    @property
    def cloud(self) -> bool:
        return self.flavour == CLOUD

    def time(self, moment: datetime) -> str:
        return jira_time(moment, self.zone)


def avatar_urls(view: View, owner: str) -> dict[str, str]:
    return {
        f"{size}x{size}": f"{view.base}/secure/useravatar?size={label}&ownerId={owner}"
        for size, label in ((16, "xsmall"), (24, "small"), (32, "medium"), (48, "large"))
    }


def user_json(view: View, user: User, *, itself: bool = False, email_shown: bool = True) -> dict:
    """A user as worklog authors, /myself and user search show them (§5).

    Cloud leaves out ``emailAddress`` and ``timeZone`` that the person's profile visibility hides
    (a user always sees their own); Data Center shows ``name``/``key`` and no ``accountId``.
    """
    if view.cloud:
        body: dict[str, Any] = {
            "self": f"{view.api}/user?accountId={user.account_id}",
            "accountId": user.account_id,
            "accountType": user.account_type,
        }
        if itself or user.email_visible:
            body["emailAddress"] = user.email
        body |= {"avatarUrls": avatar_urls(view, user.account_id),
                 "displayName": user.display_name, "active": user.active}  # fmt: skip
        if itself or user.zone_visible:
            body["timeZone"] = user.time_zone
        return body
    body = {"self": f"{view.api}/user?username={user.name}", "name": user.name, "key": user.key}
    if email_shown:
        body["emailAddress"] = user.email
    return body | {
        "avatarUrls": avatar_urls(view, user.key),
        "displayName": user.display_name,
        "active": user.active,
        "timeZone": user.time_zone,
    }


def visibility_json(view: View, visibility: tuple[str, str]) -> dict[str, str]:
    kind, value = visibility
    if not view.cloud:
        return {"type": kind, "value": value}
    # Cloud identifies a group by an id (names can change) and a role by its name (§4).
    identifier = str(uuid.uuid5(uuid.NAMESPACE_URL, f"group:{value}")) if kind == "group" else value
    return {"identifier": identifier, "type": kind, "value": value}


def worklog_json(jira: JiraDouble, view: View, worklog: Worklog) -> dict[str, Any]:
    """One worklog (§4): ids as strings, ``comment`` as ADF on v3 and a string on v2."""
    body: dict[str, Any] = {
        "self": f"{view.api}/issue/{worklog.issue_id}/worklog/{worklog.id}",
        "author": jira.user_json(view, jira.users[worklog.author]),
        "updateAuthor": jira.user_json(view, jira.users[worklog.update_author]),
    }
    if worklog.comment is not None:
        body["comment"] = adf_document(worklog.comment) if view.version == "3" else worklog.comment
    body |= {
        "created": view.time(worklog.created),
        "updated": view.time(worklog.updated),
    }
    if worklog.visibility is not None:
        body["visibility"] = visibility_json(view, worklog.visibility)
    return body | {
        "started": view.time(worklog.started),
        "timeSpent": time_spent(worklog.seconds, jira.hours_per_day, jira.days_per_week),
        "timeSpentSeconds": worklog.seconds,
        "id": str(worklog.id),
        "issueId": worklog.issue_id,
    }


def issue_json(jira: JiraDouble, view: View, issue: Issue, fields: list[str]) -> dict[str, Any]:
    """An issue in search results with exactly the ``fields`` asked for (§6.1, §6.3)."""
    wanted = expand_fields(fields)
    if not wanted:
        return {"id": issue.id}
    values = {name: _field(jira, view, issue, name) for name in ISSUE_FIELDS if name in wanted}
    if values.get("parent", "") is None:
        del values["parent"]  # only sub-tasks have one
    expand = "operations,versionedRepresentations,editmeta,changelog,renderedFields"
    return {"expand": expand, "id": issue.id, "self": f"{view.api}/issue/{issue.id}",
            "key": issue.key, "fields": values}  # fmt: skip


def expand_fields(fields: list[str]) -> set[str]:
    """``summary,labels``, ``*all``, ``*navigable``, ``-labels``; "id" alone asks for nothing."""
    names = [part.strip() for value in fields for part in value.split(",") if part.strip()]
    wanted: set[str] = set()
    for name in names:
        if name in ("*all", "*navigable"):
            wanted.update(ISSUE_FIELDS)
        elif not name.startswith("-"):
            wanted.add(name)
    for name in names:
        if name.startswith("-"):
            wanted.discard(name[1:])
    return wanted & set(ISSUE_FIELDS)


def _field(jira: JiraDouble, view: View, issue: Issue, name: str) -> Any:
    project = jira.projects[issue.project_key]
    if name == "summary":
        return issue.summary
    if name == "labels":
        return list(issue.labels)
    if name in ("created", "updated"):
        return view.time(getattr(issue, name))
    if name == "issuetype":
        return issue_type_json(jira, view, issue.type_id)
    if name == "components":
        by_id = {c.id: c for c in project.components}
        return [
            {"self": f"{view.api}/component/{cid}", "id": cid, "name": by_id[cid].name}
            | ({"description": by_id[cid].description} if by_id[cid].description else {})
            for cid in issue.component_ids
        ]
    if name == "parent":
        if issue.parent_id is None:
            return None
        parent = jira.issues[issue.parent_id]
        return {"id": parent.id, "key": parent.key, "self": f"{view.api}/issue/{parent.id}",
                "fields": {"summary": parent.summary,
                           "issuetype": issue_type_json(jira, view, parent.type_id)}}  # fmt: skip
    body: dict[str, Any] = {"self": f"{view.api}/project/{project.id}", "id": project.id,
                            "key": project.key, "name": project.name,
                            "projectTypeKey": project.project_type}  # fmt: skip
    if project.category:
        category_id = str(10000 + sorted(jira.categories()).index(project.category))
        body["projectCategory"] = {"self": f"{view.api}/projectCategory/{category_id}",
                                   "id": category_id, "name": project.category,
                                   "description": ""}  # fmt: skip
    return body


def issue_type_json(jira: JiraDouble, view: View, type_id: str) -> dict[str, Any]:
    kind = jira.issue_types[type_id]
    body: dict[str, Any] = {
        "self": f"{view.api}/issuetype/{kind.id}",
        "id": kind.id,
        "description": kind.description,
        "iconUrl": f"{view.base}/images/icons/issuetypes/{kind.name.lower()}.svg",
        "name": kind.name,
        "subtask": kind.subtask,
    }
    if view.cloud:
        body["hierarchyLevel"] = kind.hierarchy_level
    return body
