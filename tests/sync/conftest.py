from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sync.world import World, demo_world


@pytest.fixture
def world(db: None) -> Iterator[World]:
    with demo_world(weeks=2) as built:
        yield built


@pytest.fixture
def tx_world(transactional_db: None) -> Iterator[World]:
    """The same world with real commits, for threads and processes."""
    with demo_world(weeks=1) as built:
        yield built
