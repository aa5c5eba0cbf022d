from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doubles.dataset import demo_dataset
from tests.support.concurrency import CONCURRENCIES, concurrency_id, fixed_concurrency
from tests.sync.jira_world import jira_world
from tests.sync.world import NOW, World, demo_world


@pytest.fixture
def world(db: None) -> Iterator[World]:
    with demo_world(weeks=2) as built:
        yield built


@pytest.fixture
def tx_world(transactional_db: None) -> Iterator[World]:
    """The same world with real commits, for threads and processes."""
    with demo_world(weeks=1) as built:
        yield built


@pytest.fixture
def empty_world(db: None) -> Iterator[World]:
    """The demo pair without bookings: each test books exactly what it is about."""
    dataset = demo_dataset(weeks=1, now=NOW)
    dataset.entries = []
    dataset.kimai_manual_timesheets = []
    with demo_world(dataset=dataset) as built:
        yield built


# (source, requests at once): the Zammad pair at each concurrency, the Jira pair at 4.
FAULT_WORLDS = [("zammad", n) for n in CONCURRENCIES] + [("jira", 4)]


def _fault_world_id(param: tuple[str, int]) -> str:
    source, at_once = param
    return concurrency_id(at_once) if source == "zammad" else f"jira-{concurrency_id(at_once)}"


@pytest.fixture(params=FAULT_WORLDS, ids=_fault_world_id)
def fault_world(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[World]:
    """The world with real commits, so a run writes on its threads, with 1, 4 and 16 requests
    to Kimai at once: exactly once must hold at each; and a Jira → Kimai pair on the same Kimai,
    which must survive the same faults."""
    source, at_once = request.param
    with jira_world(weeks=1) if source == "jira" else demo_world(weeks=1) as built:
        built.tune_kimai_http(**fixed_concurrency(at_once))
        yield built
