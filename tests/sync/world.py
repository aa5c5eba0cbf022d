"""A configured Zammad → Kimai pair against the doubles, for sync tests and benchmarks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.connectors.models import Connection
from apps.mappings.catalog import Catalog
from apps.mappings.models import MappingProfile
from apps.mappings.reference import kimai_reference, refresh_reference
from apps.sync.models import Link, Run
from apps.sync.services import request_run
from tests.doubles.dataset import Dataset, demo_dataset
from tests.doubles.demo_pair import add_demo_rules
from tests.doubles.kimai import KimaiDouble
from tests.support.servers import Served, served_doubles

NOW = datetime(2026, 3, 6, 18, 0, tzinfo=UTC)


@dataclass
class World:
    served: Served
    zammad: Connection
    kimai: Connection
    profile: MappingProfile

    @property
    def kimai_double(self) -> KimaiDouble:
        return self.served.kimai

    @property
    def dataset(self) -> Dataset:
        return self.served.dataset

    def window(self) -> tuple[datetime, datetime]:
        first = min(e.created_at for e in self.dataset.entries)
        return first - timedelta(days=1), NOW + timedelta(days=1)

    def run(self, scope: str = Run.Scope.WINDOW, **kwargs: object) -> Run:
        from apps.sync.engine import execute_run

        if scope == Run.Scope.WINDOW and "start" not in kwargs:
            kwargs["start"], kwargs["end"] = self.window()
        run, _ = request_run(
            self.profile, scope=scope, trigger=Run.Trigger.MANUAL, actor="admin:1",
            enqueue=False, **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip
        finished = execute_run(run.pk)
        assert finished is not None
        return finished

    def busiest_ticket(self) -> str:
        """The ticket with the most entries of agents who have a Kimai user."""
        counted = Counter(e.ticket_id for e in self.dataset.entries if e.agent_id != 8)
        return str(counted.most_common(1)[0][0])

    def tune_kimai_http(self, **tuning: object) -> None:
        """Change the Kimai connection's HTTP tuning, keeping what else is set (the number of
        requests at once a fault test runs at)."""
        http = {**(self.kimai.settings or {}).get("http", {}), **tuning}
        self.kimai.settings = {**(self.kimai.settings or {}), "http": http}
        self.kimai.save()

    def kimai_writes(self) -> list[str]:
        return [
            f"{r.method} {r.path}"
            for r in self.kimai_double.requests
            if r.method in ("POST", "PATCH", "DELETE") and r.path.startswith("/api/timesheets")
        ]


def timesheets_per_marker(world: World) -> Counter[str]:
    """How many timesheets in the Kimai double carry each of the pair's markers."""
    counts: Counter[str] = Counter()
    for sheet in world.kimai_double.all_timesheets():
        for word in (sheet.description or "").split():
            if word.startswith(f"zks-{world.zammad.pk}-"):
                counts[word] += 1
    return counts


def assert_one_timesheet_per_entry(world: World) -> None:
    per_marker = timesheets_per_marker(world)
    assert per_marker, "nothing was synced"
    assert max(per_marker.values()) == 1, per_marker.most_common(3)
    links = Link.objects.filter(profile=world.profile)
    assert len(per_marker) == links.exclude(origin=Link.Origin.ADOPTED).count()


def configure(zammad: Connection, kimai: Connection, double: KimaiDouble) -> MappingProfile:
    """The demo's rules and mappings (tests/doubles/demo_pair.py): each customer organization to
    its Kimai project, Umbrella Health (no Kimai customer yet) to a project per organization,
    the rest to Internal."""
    profile = MappingProfile.objects.create(source=zammad, target=kimai)
    refresh_reference(kimai)
    reference, _snapshot = kimai_reference(kimai)
    add_demo_rules(profile, Catalog.build(reference))
    return profile


@contextmanager
def demo_world(weeks: int = 1, dataset: Dataset | None = None, suffix: str = "") -> Iterator[World]:
    """The demo data set (or ``dataset``) served by both doubles, and a configured pair
    (``suffix`` after its connections' names, for a second pair)."""
    dataset = dataset or demo_dataset(weeks=weeks, now=NOW)
    with served_doubles(dataset) as served:
        served.kimai.set_now(NOW)
        zammad = Connection.objects.create(
            kind="zammad", name=f"Zammad{suffix}", base_url=served.zammad_url,
            token=dataset.zammad_token, settings={"time_unit": "minute"},
        )  # fmt: skip
        kimai = Connection.objects.create(
            kind="kimai", name=f"Kimai{suffix}", base_url=served.kimai_url,
            token=dataset.kimai_token,
        )  # fmt: skip
        profile = configure(zammad, kimai, served.kimai)
        yield World(served, zammad, kimai, profile)
