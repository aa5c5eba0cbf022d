"""Worklog endpoints of the Jira double: the incremental feeds, bulk fetch and per-issue lists.

``GET worklog/updated`` and ``GET worklog/deleted`` page 1000 ids at a time from oldest to
youngest, echo ``until`` and a ``nextPage`` that starts at ``until`` (so the boundary item comes
again), and leave out the last minute (§3.1, §3.3). ``POST worklog/list`` turns up to 1000 ids into
worklogs the caller may see (§3.2). Also the test-only control endpoints under ``/__double__/``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from tests.doubles.base import RecordedRequest, Reply
from tests.doubles.jira.model import (
    CHANGES_PER_PAGE,
    CLOUD,
    ISSUE_WORKLOGS_DEFAULT_MAX,
    LIST_LIMIT,
    RECENT_MS,
    JiraError,
    Worklog,
    epoch_ms,
    issue_not_found,
    not_a_number,
    worklog_not_found,
)
from tests.doubles.jira.render import View, worklog_json

if TYPE_CHECKING:
    from tests.doubles.jira.double import Call, JiraDouble


def number_param(call: Call, name: str, default: int | None) -> int | None:
    raw = call.param(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise not_a_number() from None


# -- the incremental feeds ---------------------------------------------------------------------
def updated(jira: JiraDouble, call: Call) -> Reply:
    """IDs of worklogs the caller may see, by their last update (§3.1)."""
    changes = [
        (epoch_ms(w.updated), w.id)
        for w in jira.worklogs.values()
        if jira.can_see_worklog(call.caller, w)
    ]
    return Reply(200, _changes_page(jira, call, changes, "worklog/updated"))


def deleted(jira: JiraDouble, call: Call) -> Reply:
    """IDs of deleted worklogs with the moment of deletion; no visibility filter (§3.3)."""
    changes = [(epoch_ms(d.at), d.worklog_id) for d in jira.deletions]
    return Reply(200, _changes_page(jira, call, changes, "worklog/deleted"))


def _changes_page(
    jira: JiraDouble, call: Call, changes: list[tuple[int, int]], path: str
) -> dict[str, Any]:
    since = number_param(call, "since", 0) or 0
    blind_from = epoch_ms(jira.now()) - RECENT_MS  # nothing from the last minute (§3.1)
    rows = sorted((at, wid) for at, wid in changes if since <= at <= blind_from)
    page = rows[:CHANGES_PER_PAGE]
    last = len(rows) <= CHANGES_PER_PAGE
    first = page[0][0] if page else since
    until = page[-1][0] if page else since
    body: dict[str, Any] = {
        "values": [{"worklogId": wid, "updatedTime": at, "properties": []} for at, wid in page],
        "since": first,
        "until": until,
        "self": f"{call.view.api}/{path}?since={since}",
        "nextPage": f"{call.view.api}/{path}?since={until}",  # present on the last page too
        "lastPage": last,
    }
    if jira.flavour != CLOUD:
        body["isLastPage"] = last  # the Data Center schema declares both (§3.1)
    return body


def worklog_list(jira: JiraDouble, call: Call) -> Reply:
    """Worklogs for ``{"ids": [...]}``: 1 to 1000 ids; missing and hidden ones left out (§3.2)."""
    ids = _ids(call.request)
    found = [jira.worklogs[i] for i in sorted(set(ids)) if i in jira.worklogs]
    visible = [w for w in found if jira.can_see_worklog(call.caller, w)]
    return Reply(200, [worklog_json(jira, call.view, w) for w in visible])


def _ids(request: RecordedRequest) -> list[int]:
    body = request.json
    ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not ids or len(ids) > LIST_LIMIT:
        raise JiraError(400, f"Provide between 1 and {LIST_LIMIT} worklog ids.")
    try:
        return [int(i) for i in ids if not isinstance(i, bool)]
    except (TypeError, ValueError):
        raise JiraError(400, "Worklog ids must be numbers.") from None


# -- per issue ---------------------------------------------------------------------------------
def issue_worklogs(jira: JiraDouble, call: Call) -> Reply:
    """An issue's worklogs by creation; Cloud pages them, Data Center returns all (§3.4)."""
    issue = _visible_issue(jira, call)
    worklogs = sorted(
        (w for w in jira.worklogs.values() if w.issue_id == issue.id),
        key=lambda w: (w.created, w.id),
    )
    worklogs = [w for w in worklogs if jira.can_see_worklog(call.caller, w)]
    if call.view.flavour != CLOUD:  # the Data Center operation takes no paging parameters
        rendered = [worklog_json(jira, call.view, w) for w in worklogs]
        return Reply(200, {"startAt": 0, "maxResults": len(rendered), "total": len(rendered),
                           "worklogs": rendered})  # fmt: skip
    start_at = max(0, number_param(call, "startAt", 0) or 0)
    max_results = number_param(call, "maxResults", ISSUE_WORKLOGS_DEFAULT_MAX)
    max_results = min(max(0, max_results or 0), ISSUE_WORKLOGS_DEFAULT_MAX)
    after = number_param(call, "startedAfter", None)
    before = number_param(call, "startedBefore", None)
    if after is not None:
        worklogs = [w for w in worklogs if epoch_ms(w.started) >= after]
    if before is not None:
        worklogs = [w for w in worklogs if epoch_ms(w.started) < before]
    page = worklogs[start_at : start_at + max_results]
    return Reply(200, {"maxResults": max_results, "startAt": start_at, "total": len(worklogs),
                       "worklogs": [worklog_json(jira, call.view, w) for w in page]})  # fmt: skip


def one_worklog(jira: JiraDouble, call: Call) -> Reply:
    issue = _visible_issue(jira, call)
    worklog_id = call.path["id"]
    worklog = jira.worklogs.get(int(worklog_id)) if worklog_id.isdigit() else None
    if worklog is None or worklog.issue_id != issue.id:
        raise worklog_not_found(worklog_id)
    if not jira.can_see_worklog(call.caller, worklog):
        raise worklog_not_found(worklog_id)
    return Reply(200, worklog_json(jira, call.view, worklog))


def _visible_issue(jira: JiraDouble, call: Call) -> Any:
    try:
        issue = jira.issue(call.path["issue"])
    except KeyError:
        raise issue_not_found() from None
    if not jira.can_see_issue(call.caller, issue):
        raise issue_not_found()  # not found and not allowed look the same (§2.5)
    return issue


# -- control endpoints: what a person does in Jira, for process tests and the demo -------------
def control(jira: JiraDouble, request: RecordedRequest) -> Reply:
    """``POST /__double__/log|edit|delete`` with a JSON body; no authentication."""
    body = request.json if isinstance(request.json, dict) else {}
    action = request.path.removeprefix("/__double__/")
    try:
        if request.method == "POST" and action == "log":
            worklog = jira.log_work(
                str(body["issue"]), str(body["author"]), _instant(body["started"]),
                int(body["seconds"]), comment=body.get("comment"),
            )  # fmt: skip
            return Reply(201, _control_json(jira, request, worklog))
        if request.method == "POST" and action == "edit":
            changes: dict[str, Any] = {}
            if "seconds" in body:
                changes["seconds"] = int(body["seconds"])
            if "started" in body:
                changes["started"] = _instant(body["started"])
            if "comment" in body:
                changes["comment"] = body["comment"]
            worklog = jira.edit_worklog(int(body["id"]), by=body.get("by"), **changes)
            return Reply(200, _control_json(jira, request, worklog))
        if request.method == "POST" and action == "delete":
            jira.delete_worklog(int(body["id"]))
            return Reply(200, {})
    except (KeyError, TypeError, ValueError) as error:
        return Reply(400, {"errorMessages": [f"bad control request: {error}"], "errors": {}})
    return Reply(404, {"errorMessages": [], "errors": {}})


def _instant(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text))
    if moment.tzinfo is None:
        raise ValueError("started needs a UTC offset")
    return moment


def _control_json(jira: JiraDouble, request: RecordedRequest, worklog: Worklog) -> dict[str, Any]:
    version = "3" if jira.flavour == CLOUD else "2"
    view = View(jira.flavour, version, jira.base_for(request), None, jira.site_zone)
    return worklog_json(jira, view, worklog)
