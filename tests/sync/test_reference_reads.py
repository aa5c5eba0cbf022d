"""A run reads Kimai's reference data once: the refresh goes through the run's own connection."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from apps.mappings.models import ReferenceSnapshot
from apps.sync.models import Run
from tests.sync.world import NOW, World

REFERENCE_PATHS = (
    "/api/users/me", "/api/customers", "/api/projects", "/api/activities", "/api/users",
    "/api/tags",
)  # fmt: skip


@pytest.mark.django_db
def test_a_run_with_stale_reference_data_reads_each_list_once(world: World) -> None:
    ReferenceSnapshot.objects.update(fetched_at=NOW - timedelta(hours=1))
    world.kimai_double.requests.clear()

    run = world.run()

    assert run.status in (Run.Status.SUCCEEDED, Run.Status.PARTIAL), run.error
    assert run.results["written"] > 0
    reads = Counter(r.path for r in world.kimai_double.requests if r.method == "GET")
    assert {path: reads[path] for path in REFERENCE_PATHS} == dict.fromkeys(REFERENCE_PATHS, 1)
