"""Reference records a run needs (tags, customers, projects) are created once, even with eight
writer threads reaching for the same missing tag at the same moment (real threads, real commits,
the Kimai double over loopback with latency so that they overlap)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.sync.conflicts import conflict_values, open_new_conflicts, record_conflict
from apps.sync.models import Conflict, Run
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


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("hint", [True, False])
def test_an_entry_has_one_open_conflict_whatever_the_caller_believed(
    tx_world: World, hint: bool
) -> None:
    """The applier tells record_conflict whether a conflict may be open (it loaded them when the
    run began); a stale "none is open" still updates the open one instead of adding a second."""
    first = record_conflict(tx_world.profile, None, "4711", "ambiguous", "first reason")
    again = record_conflict(
        tx_world.profile, None, "4711", "edited_both", "second reason", maybe_open=hint
    )
    open_ones = Conflict.objects.filter(profile=tx_world.profile, source_id="4711", status="open")
    assert list(open_ones.values_list("pk", "kind", "reason")) == [
        (first.pk, "edited_both", "second reason")
    ]
    assert again.pk == first.pk


@pytest.mark.django_db(transaction=True)
def test_a_new_conflict_outside_a_transaction_is_one_insert(tx_world: World) -> None:
    with CaptureQueriesContext(connection) as queries:
        record_conflict(tx_world.profile, None, "4712", "ambiguous", "why", maybe_open=False)
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]


@pytest.mark.django_db(transaction=True)
def test_conflicts_opened_together_update_one_that_was_opened_meanwhile(tx_world: World) -> None:
    first = record_conflict(tx_world.profile, None, "4711", "ambiguous", "opened meanwhile")
    rows = [(sid, conflict_values(None, "edited_both", f"why {sid}")) for sid in ("4711", "4712")]
    open_new_conflicts(tx_world.profile, rows)
    open_ones = Conflict.objects.filter(profile=tx_world.profile, status="open")
    assert sorted(open_ones.values_list("source_id", "kind", "reason")) == [
        ("4711", "edited_both", "why 4711"), ("4712", "edited_both", "why 4712"),
    ]  # fmt: skip
    assert open_ones.get(source_id="4711").pk == first.pk
