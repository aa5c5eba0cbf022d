from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.doubles.dataset import demo_dataset
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
