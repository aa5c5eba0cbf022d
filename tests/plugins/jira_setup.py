"""The Jira connector against the Jira double's small world (tests/doubles/jira_world.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from zks_connector_jira.connector import JiraConnector

from tests.doubles.jira import JiraDouble
from tests.doubles.jira.model import Flavour
from tests.doubles.jira_world import EMMA, PAT, SYNC, T0, TOKEN, build
from tests.doubles.zammad import ManualClock

BASE_URL = "https://example.atlassian.net"


def connector(jira: JiraDouble, **settings: Any) -> JiraConnector:
    """The sync's view of ``jira``: Basic e-mail:API token on Cloud, a PAT on Data Center."""
    if jira.flavour == "cloud":
        settings = {"deployment": "cloud", "email": SYNC} | settings
        token = settings.pop("token", TOKEN)
    else:
        settings = {"deployment": "datacenter"} | settings
        token = settings.pop("token", PAT)
    return JiraConnector(
        BASE_URL, token, settings, transport=jira.transport(), sleep=lambda _s: None,
        connection_id=9,
    )  # fmt: skip


def world(flavour: Flavour = "cloud") -> tuple[JiraDouble, ManualClock]:
    """tests/doubles/jira_world.py's site; the clock stands on Monday 30 March 2026, 08:00 UTC."""
    clock = ManualClock(T0)
    return build(flavour, clock), clock


def log(
    jira: JiraDouble,
    minutes_ago: float,
    *,
    issue: str = "AWE-1",
    author: str = EMMA,
    seconds: int = 1800,
    comment: str | None = None,
) -> int:
    """``author`` logs ``seconds`` of work begun an hour before it was saved."""
    saved = jira.now() - timedelta(minutes=minutes_ago)
    worklog = jira.log_work(issue, author, saved - timedelta(hours=1), seconds, comment=comment,
                            at=saved)  # fmt: skip
    return worklog.id
