"""A small Jira world for the double's own tests: two projects, a few people, worklogs.

Shared by test_jira_double.py and test_jira_search.py. The clock stands on Monday 30 March 2026,
the day after Europe switched to summer time.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx

from tests.doubles.jira import JiraDouble
from tests.doubles.jira.model import Flavour
from tests.doubles.zammad import ManualClock

T0 = datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
SYNC, TOKEN, PAT = "sync@example.com", "api-token", "pat-token"
EMMA, SOFIA, CHRIS = "emma.schulz@example.com", "sofia.rossi@example.com", "chris@chrispresso.com"


def build(flavour: Flavour = "cloud", clock: ManualClock | None = None) -> JiraDouble:
    jira = JiraDouble(flavour, now=clock or ManualClock(T0), site_time_zone="Europe/Berlin")
    jira.add_user("Time Sync", SYNC, name="sync-bot", api_token=TOKEN,
                  personal_access_token=PAT, groups={"jira-administrators"},
                  roles={"Developers"}, browse_users=True)  # fmt: skip
    jira.add_user("Emma Schulz", EMMA, name="emma", time_zone="Europe/Berlin", api_token="emma-t",
                  personal_access_token="emma-pat", browse={"AWE"})  # fmt: skip
    jira.add_user("Sofia Rossi", SOFIA, name="sofia", time_zone="Europe/Rome",
                  email_visible=False, zone_visible=False)  # fmt: skip
    jira.add_user("Christopher Miller", CHRIS, name="chris", time_zone="America/New_York",
                  groups={"hr-team"})  # fmt: skip
    for name in ("Task", "Bug"):
        jira.add_issue_type(name)
    jira.add_issue_type("Sub-task", subtask=True)
    jira.add_project("AWE", "Awesome Support", category="Awesome Customer Inc.",
                     components=("Network", "Email"))  # fmt: skip
    jira.add_project("GLX", "Globex Managed Service", category="Globex Corporation")
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    jira.add_issue("AWE", "Printer broken", labels=("billable", "vip"), components=("Network",),
                   at=at)  # fmt: skip
    jira.add_issue("AWE", "VPN drops every hour", issue_type="Bug", at=at)
    jira.add_issue("GLX", "Backup job failed", at=at)
    jira.add_issue("AWE", "Replace switch", issue_type="Sub-task", parent="AWE-1", at=at)
    return jira


def basic(login: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{login}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def api(jira: JiraDouble, headers: dict[str, str] | None = None) -> httpx.Client:
    """A client as the sync user: Basic e-mail:token on Cloud, Bearer PAT on Data Center."""
    if headers is None and jira.flavour == "cloud":
        headers = basic(SYNC, TOKEN)
    elif headers is None:
        headers = {"Authorization": f"Bearer {PAT}"}
    return httpx.Client(transport=jira.transport(), base_url="http://jira.test", headers=headers)


def rest(jira: JiraDouble) -> str:
    return "/rest/api/3" if jira.flavour == "cloud" else "/rest/api/2"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
