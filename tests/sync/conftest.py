from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doubles.dataset import demo_dataset
from tests.support.concurrency import CONCURRENCIES, concurrency_id, fixed_concurrency
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


@pytest.fixture(params=CONCURRENCIES, ids=concurrency_id)
def fault_world(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[World]:
    """The world with real commits, so a run writes on its threads, with 1, 4 and 16 requests
    to Kimai at once: exactly once must hold at each."""
    with demo_world(weeks=1) as built:
        built.tune_kimai_http(**fixed_concurrency(request.param))
        yield built
