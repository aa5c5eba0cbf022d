"""Jira's REST API as thin calls returning Jira's own JSON, through the host's HTTP seam.

Everything goes through :class:`apps.connectors.http.OutboundHttpClient`: timeouts, retries with
backoff, and Atlassian's 429 and 503 with ``Retry-After`` (§9) are handled there, in one place.
Section numbers (§) refer to ``docs/reference/jira-api.md``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from apps.connectors.contract import (
    ExternalServiceError,
    OutboundHttpClient,
    VendorErrorDetails,
)
from zks_connector_jira.config import JiraSettings

logger = structlog.get_logger(__name__)

Row = dict[str, Any]
LIST_LIMIT = 1000  # POST worklog/list takes 1 to 1000 ids (§3.2)
ISSUES_PER_SEARCH = 100  # issue ids per JQL `id in (...)`; pages follow (§6.1, §6.4)
ISSUE_FIELDS = ["summary", "project", "issuetype", "labels", "components"]  # §6.3
ISSUE_WORKLOGS_PAGE = 5000  # Cloud's maxResults default for an issue's worklogs (§3.4)


def parse_jira_time(value: str) -> datetime:
    """``2021-01-17T12:34:00.000+0000``: milliseconds and a ``+hhmm`` offset, no ``Z`` (§4, §10).
    The offset is the site's zone and moves with its daylight saving time: keep it."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ExternalServiceError(
            f"Jira sent a time without an offset: {value!r}", permanent=True, service="Jira"
        )
    return moment


def epoch_ms(moment: datetime) -> int:
    """``since`` and ``updatedTime`` are UNIX milliseconds (§3.1, §10)."""
    return int(moment.astimezone(UTC).timestamp() * 1000)


def jira_error_details(body: Any) -> VendorErrorDetails:
    """Jira's ErrorCollection ``{"errorMessages": [...], "errors": {field: text}}`` (§8), and the
    ``message``/``errorMessage`` keys real servers also send; a plain-text 401 has none (§2.4)."""
    if not isinstance(body, dict):
        return VendorErrorDetails(message=body.strip()[:300] if isinstance(body, str) else None)
    messages = [str(m) for m in body.get("errorMessages") or [] if m]
    errors = body.get("errors")
    fields = {str(k): [str(v)] for k, v in errors.items()} if isinstance(errors, dict) else {}
    for key in ("message", "errorMessage"):
        if isinstance(body.get(key), str) and body[key]:
            messages.append(body[key])
    listed = messages + [f"{name}: {texts[0]}" for name, texts in fields.items()]
    return VendorErrorDetails(message="; ".join(listed) or None, field_errors=fields)


class JiraClient:
    """One Jira site, one credential: Cloud (v3, Basic e-mail:token) or Data Center (v2, PAT)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        settings: JiraSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.cloud = settings.deployment == "cloud"
        self.api = "/rest/api/3" if self.cloud else "/rest/api/2"  # §1.1, §1.2
        if self.cloud:
            pair = f"{settings.email}:{token}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode()  # §2.1
        else:
            authorization = f"Bearer {token}"  # §2.2: a PAT is never a Basic password
        self.http = OutboundHttpClient(
            service="Jira",
            base_url=base_url,
            headers={"Authorization": authorization},
            tuning=settings.http,
            transport=transport,
            sleep=sleep,
            explain_error=jira_error_details,
        )

    # -- who and what ---------------------------------------------------------------------------
    def myself(self) -> Row:
        """Only ``/myself`` proves the credentials: Cloud treats bad ones as anonymous elsewhere
        (§2.3, §7)."""
        data = self.http.get(f"{self.api}/myself").data
        return data if isinstance(data, dict) else {}

    def server_info(self) -> Row:
        """Anyone may ask (§2.3); v2 answers on Cloud and Data Center alike, so a connection set
        up for the wrong deployment learns which one the server is (§7)."""
        data = self.http.get("/rest/api/2/serverInfo").data
        return data if isinstance(data, dict) else {}

    # -- the incremental feeds (§3.1, §3.3) -----------------------------------------------------
    def updated_worklog_ids(self, since: datetime) -> Iterator[list[int]]:
        """Ids of worklogs updated at or after ``since``, a page at a time, each id once."""
        return self._changes("worklog/updated", since)

    def deleted_worklog_ids(self, since: datetime) -> Iterator[list[int]]:
        """Ids of worklogs deleted at or after ``since`` (the only trace a deletion leaves)."""
        return self._changes("worklog/deleted", since)

    def _changes(self, feed: str, since: datetime) -> Iterator[list[int]]:
        cursor = max(0, epoch_ms(since))
        seen: set[int] = set()
        while True:
            page = self.http.get(f"{self.api}/{feed}", {"since": cursor}).data
            if not isinstance(page, dict):
                raise ExternalServiceError(
                    f"Jira answered {feed} with something other than a page of changes",
                    permanent=True,
                    service="Jira",
                )
            ids = [
                int(value["worklogId"])
                for value in page.get("values") or []
                if isinstance(value, dict) and isinstance(value.get("worklogId"), int)
            ]
            # `since` is inclusive and the next page starts at `until`: the boundary item comes
            # again (§3.1 example). Each id once.
            fresh = [i for i in ids if i not in seen]
            seen.update(fresh)
            if fresh:
                yield fresh
            # Stop on lastPage, not on a missing nextPage: Jira sends nextPage on the last page
            # too. Data Center may send isLastPage instead (§3.1, §11).
            last = page.get("lastPage", page.get("isLastPage", True))
            until = page.get("until")
            if last or not isinstance(until, int):
                return
            if until <= cursor and not fresh:
                # A full page within one millisecond: step on rather than loop for ever.
                logger.warning("jira_feed_page_within_one_ms", feed=feed, since=cursor)
                until = cursor + 1
            cursor = until

    def worklogs(self, ids: Iterable[int]) -> list[Row]:
        """The worklogs for ``ids``, 1000 per request (§3.2); deleted or hidden ones are simply
        absent. A read sent as POST: safe to repeat."""
        wanted = sorted(set(ids))
        rows: list[Row] = []
        for start in range(0, len(wanted), LIST_LIMIT):
            batch = wanted[start : start + LIST_LIMIT]
            data = self.http.request(
                "POST", f"{self.api}/worklog/list", json_body={"ids": batch}, safe_to_repeat=True
            ).data
            rows.extend(row for row in data or [] if isinstance(row, dict))
        return rows

    def issue_worklogs(self, issue_id: str) -> list[Row]:
        """Every worklog of one issue: Cloud pages them, Data Center answers all at once (§3.4)."""
        rows: list[Row] = []
        start = 0
        while True:
            params = {"startAt": start, "maxResults": ISSUE_WORKLOGS_PAGE} if self.cloud else None
            data = self.http.get(f"{self.api}/issue/{issue_id}/worklog", params).data
            page = [w for w in (data or {}).get("worklogs") or [] if isinstance(w, dict)]
            rows.extend(page)
            total = (data or {}).get("total")
            if not self.cloud or not page or not isinstance(total, int) or len(rows) >= total:
                return rows
            start = len(rows)

    # -- issues (§6) ----------------------------------------------------------------------------
    def issues(self, issue_ids: Iterable[str]) -> list[Row]:
        """Issues by id with the fields rules need, ``ISSUES_PER_SEARCH`` ids per JQL query.

        A JQL naming an issue that is gone (or hidden) is a 400 (§6.2): such a batch is split
        until the missing issue stands alone, and then left out.
        """
        wanted = sorted({i for i in issue_ids if str(i).isdigit()}, key=int)
        rows: list[Row] = []
        for start in range(0, len(wanted), ISSUES_PER_SEARCH):
            rows.extend(self._issues_tolerant(wanted[start : start + ISSUES_PER_SEARCH]))
        return rows

    def _issues_tolerant(self, ids: list[str]) -> list[Row]:
        try:
            return self._search(f"id in ({','.join(ids)})")
        except ExternalServiceError as error:
            if error.status != 400:
                raise
            if len(ids) == 1:
                return []
            middle = len(ids) // 2
            return self._issues_tolerant(ids[:middle]) + self._issues_tolerant(ids[middle:])

    def _search(self, jql: str) -> list[Row]:
        """All pages of a search: Cloud's ``/search/jql`` with page tokens (the old ``/search``
        answers 410 there, §1.3), Data Center's ``/search`` with ``startAt`` (§6.4)."""
        rows: list[Row] = []
        token: str | None = None
        while True:
            body: Row = {"jql": jql, "fields": ISSUE_FIELDS, "maxResults": ISSUES_PER_SEARCH}
            if self.cloud:
                if token:
                    body["nextPageToken"] = token
                path = f"{self.api}/search/jql"
            else:
                body["startAt"] = len(rows)
                path = f"{self.api}/search"
            data = self.http.request("POST", path, json_body=body, safe_to_repeat=True).data
            page = [i for i in (data or {}).get("issues") or [] if isinstance(i, dict)]
            rows.extend(page)
            if self.cloud:
                token = (data or {}).get("nextPageToken")
                if (data or {}).get("isLast", True) or not token:
                    return rows
            else:
                total = (data or {}).get("total")
                if not page or not isinstance(total, int) or len(rows) >= total:
                    return rows
