"""Reference records a run needs (tags, customers, projects) are created once, even with eight
writer threads reaching for the same missing tag at the same moment (real threads, real commits,
the Kimai double over loopback with latency so that they overlap)."""

from __future__ import annotations

from collections import Counter

import pytest

from apps.sync.models import Run
from tests.sync.world import World


@pytest.mark.django_db(transaction=True)
def test_missing_tags_customers_and_projects_are_created_once_per_run(tx_world: World) -> None:
    kimai = tx_world.kimai_double
    kimai.latency = 0.05  # every writer thread asks before any creation has been answered
    run = tx_world.run()
    assert run.status == Run.Status.SUCCEEDED, run.error
    created_tags = Counter(r.json["name"] for r in kimai.requests_to("POST", "/api/tags"))
    assert created_tags == {"billable": 1, "not billable": 1}
    assert len(kimai.requests_to("POST", "/api/customers")) == 1  # Umbrella Health
    assert len(kimai.requests_to("POST", "/api/projects")) == 1  # Umbrella Health support
    assert kimai.refusals() == []
    assert len(kimai.requests_to("POST", "/api/timesheets")) == run.results["written"]
