from __future__ import annotations

import pytest

from tests.doubles.jira import JiraDouble
from tests.doubles.jira_world import T0, build
from tests.doubles.zammad import ManualClock


@pytest.fixture
def jira_clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def cloud(jira_clock: ManualClock) -> JiraDouble:
    """A Jira Cloud double with the small world of jira_world.py."""
    return build("cloud", jira_clock)


@pytest.fixture
def dc(jira_clock: ManualClock) -> JiraDouble:
    """The same world on Jira Data Center."""
    return build("datacenter", jira_clock)
