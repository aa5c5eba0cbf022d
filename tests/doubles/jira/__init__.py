"""A Jira test double, Cloud (REST v3/v2) or Data Center (REST v2), written from Atlassian's docs.

The facts it follows are in docs/reference/jira-api.md (cited as §n). In tests::

    jira = JiraDouble("cloud", now=ManualClock(datetime(2026, 3, 30, 9, tzinfo=UTC)))
    seed_from_dataset(jira, jira_dataset(now=...))
    client = httpx.Client(
        transport=jira.transport(),
        base_url="http://jira.test",
        auth=("sync@example.com", "jira-demo-token"),  # Data Center: Bearer jira-demo-pat
    )

Standalone (serves on 127.0.0.1 until Ctrl-C; prints the base URL and credentials)::

    python -m tests.doubles.jira --port 8083 [--flavour cloud|datacenter] [--latency-ms 20]

Test-only control endpoints, no authentication, as a person working in Jira::

    POST /__double__/log     {"issue": "AWE-1", "author": "emma.schulz@example.com",
                              "started": "2026-03-30T09:00:00+02:00", "seconds": 1800,
                              "comment": "Remote session"}             -> 201 worklog
    POST /__double__/edit    {"id": 10001, "seconds": 2700, "by": "chris@chrispresso.com"}
    POST /__double__/delete  {"id": 10001}
"""

from tests.doubles.jira.dataset import JiraDataset, jira_dataset, seed_from_dataset
from tests.doubles.jira.double import JiraDouble, RateLimit
from tests.doubles.jira.model import CLOUD, DATACENTER, Flavour

__all__ = [
    "CLOUD",
    "DATACENTER",
    "Flavour",
    "JiraDataset",
    "JiraDouble",
    "RateLimit",
    "jira_dataset",
    "seed_from_dataset",
]
