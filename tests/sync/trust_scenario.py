"""The trust scenario end to end: a new admin's pair against the doubles, and what must hold.

Used by ``tests/sync/test_trust_end_to_end.py`` (a few hundred entries) and
``bench/trust_bench.py`` (10,000). The expectations are computed here from the rules as a person
reads them (which project each organization books on, begin and end from the booked instant and
the minutes), independently of the planner, and compared with what the Kimai double holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.connectors.models import Connection
from apps.mappings.models import MappingProfile, Rule
from apps.mappings.reference import refresh_reference
from apps.mappings.rules import RuleSpec
from apps.sync.models import Link
from tests.doubles.dataset import TimeEntry
from tests.doubles.kimai import KimaiDouble
from tests.doubles.trust_dataset import HIDDEN_CUSTOMER, HOOLI, ONSITE, UNMAPPED_AGENT, TrustData
from tests.support.servers import Served, served_doubles
from tests.sync.world import configure

# What the rules of tests.sync.world.configure book each organization on (None: no organization).
PROJECTS = {1: "Support 2026", 2: "Managed Service", 3: "Retainer", 4: "Umbrella Health support",
            None: "Internal Helpdesk"}  # fmt: skip
RULE_ACTIVITIES = {3: "Retainer support", None: "Internal work"}
TYPE_ACTIVITIES = {1: "Support", 2: "Consulting", 3: "Development", None: "Support"}
WRITES = ("POST", "PATCH", "PUT", "DELETE")


@dataclass(frozen=True)
class Expected:
    username: str
    project: str
    activity: str
    begin: datetime
    end: datetime


@dataclass
class TrustWorld:
    data: TrustData
    served: Served
    zammad: Connection
    kimai: Connection
    profile: MappingProfile

    @property
    def double(self) -> KimaiDouble:
        return self.served.kimai

    def kimai_writes(self) -> int:
        return sum(1 for r in self.double.requests if r.method in WRITES)


@contextmanager
def trust_world(data: TrustData) -> Iterator[TrustWorld]:
    """Both doubles serving ``data``: Kimai with the hidden customer and the typed copies, and a
    pair as a new admin makes it (connections, then rules), schedule untouched."""
    with served_doubles(data.dataset) as served:
        kimai = served.kimai
        kimai.add_customer(HIDDEN_CUSTOMER, visible=False)
        usernames = {a.kimai_username for a in data.dataset.agents}
        entries = {e.zammad_id: e for e in data.dataset.entries}
        for copy in data.copies:
            assert copy.username in usernames
            wanted = expected(data, entries[copy.entry_id])
            assert wanted is not None
            ticket = data.dataset.ticket(entries[copy.entry_id].ticket_id)
            kimai.add_timesheet(
                copy.username, wanted.project, wanted.activity, copy.begin, copy.end,
                description=f"#{ticket.number} {ticket.title}",
            )  # fmt: skip
        zammad = Connection.objects.create(
            kind="zammad", name="Zammad", base_url=served.zammad_url,
            token=data.dataset.zammad_token, settings={"time_unit": "minute"},
        )  # fmt: skip
        target = Connection.objects.create(
            kind="kimai", name="Kimai", base_url=served.kimai_url, token=data.dataset.kimai_token
        )
        profile = configure(zammad, target, kimai)
        catch_all = Rule.objects.get(profile=profile, name="Everything else")
        Rule.objects.filter(pk=catch_all.pk).update(position=6)
        hooli = RuleSpec(name="Hooli", organization_ids=[str(HOOLI.zammad_id)],
                         project_mode="per_organization",
                         project_name_template="{organization} support")  # fmt: skip
        Rule.objects.create(profile=profile, position=5, **hooli.model_dump())
        refresh_reference(target)
        yield TrustWorld(data, served, zammad, target, profile)


def booked_minutes(entry: TimeEntry) -> int:
    seconds = int(entry.time_unit * 60)
    return max(1, (seconds + 30) // 60)


def expected(data: TrustData, entry: TimeEntry) -> Expected | None:
    """The timesheet the rules make of ``entry``, or None when it must not be booked."""
    agent = data.dataset.agent(entry.agent_id)
    organization = data.dataset.ticket(entry.ticket_id).organization_id
    if entry.agent_id == UNMAPPED_AGENT or agent.kimai_username is None:
        return None  # no Kimai user
    if organization == HOOLI.zammad_id:
        return None  # its Kimai customer is hidden: never created a second time
    if organization in RULE_ACTIVITIES:
        activity = RULE_ACTIVITIES[organization]
    elif entry.type_id == ONSITE:
        return None  # no activity mapping for "Onsite"
    else:
        activity = TYPE_ACTIVITIES[entry.type_id]
    end = entry.created_at.astimezone(UTC).replace(second=0, microsecond=0)
    begin = end - timedelta(minutes=booked_minutes(entry))
    return Expected(agent.kimai_username, PROJECTS[organization], activity, begin, end)


@dataclass
class Figures:
    entries: int
    dst_entries: int
    midnight_entries: int
    synced_timesheets: int
    expected_bookings: int
    not_by_the_rules: int  # synced timesheets the rules would not make (or not so)
    doubled: int  # entries with more than one synced timesheet
    refusals: int  # writes Kimai answered with 4xx
    in_the_future: int  # timesheets ending after their booking or after the run
    copies: int
    copies_adopted: int
    hidden_customers: int  # customers named like the hidden one (1: never re-created)
    writes_before_confirm: int

    @property
    def adopted_percent(self) -> float:
        return 100 * self.copies_adopted / self.copies if self.copies else 100.0

    def lines(self) -> list[str]:
        return [
            f"entries {self.entries} ({self.dst_entries} in daylight-saving nights, "
            f"{self.midnight_entries} across midnight); {self.expected_bookings} bookable by the "
            f"rules, {self.synced_timesheets} synced timesheets",
            f"bookings the rules would not make: {self.not_by_the_rules}; entries booked twice: "
            f"{self.doubled}; refusals by Kimai: {self.refusals}; timesheets in the future: "
            f"{self.in_the_future}",
            f"hand-typed copies adopted: {self.copies_adopted} of {self.copies} "
            f"({self.adopted_percent:.1f} %); customers named {HIDDEN_CUSTOMER!r}: "
            f"{self.hidden_customers}; writes before the admin confirmed: "
            f"{self.writes_before_confirm}",
        ]


def measure(world: TrustWorld, writes_before_confirm: int, ran_at: datetime) -> Figures:
    data, double = world.data, world.double
    entries = {str(e.zammad_id): e for e in data.dataset.entries}
    marker = f"zks-{world.zammad.pk}-"
    synced: dict[str, list[int]] = {}
    for sheet in double.all_timesheets():
        description = sheet.description or ""
        if marker in description:
            source = description.split(marker, 1)[1].split("-z", 1)[0]
            synced.setdefault(source, []).append(sheet.id)
    wrong = future = 0
    for source, ids in synced.items():
        entry = entries[source]
        wanted = expected(data, entry)
        for sheet_id in ids:
            sheet = double.timesheet(sheet_id)
            assert sheet.end is not None
            if sheet.end > entry.created_at or sheet.end > ran_at:
                future += 1
            if wanted is None or (
                double.users[sheet.user_id].username,
                double.projects[sheet.project_id].name,
                double.activities[sheet.activity_id].name,
                sheet.begin.astimezone(UTC),
                sheet.end.astimezone(UTC),
            ) != (wanted.username, wanted.project, wanted.activity, wanted.begin, wanted.end):
                wrong += 1
    copy_ids = {str(c.entry_id) for c in data.copies}
    adopted = Link.objects.filter(
        profile=world.profile, source_id__in=copy_ids, origin=Link.Origin.ADOPTED
    ).count()
    names = Counter(c.name for c in double.customers.values())
    return Figures(
        entries=len(entries),
        dst_entries=len(data.dst_entries),
        midnight_entries=len(data.midnight_entries),
        synced_timesheets=sum(len(ids) for ids in synced.values()),
        expected_bookings=sum(1 for e in entries.values() if expected(data, e) is not None),
        not_by_the_rules=wrong,
        doubled=sum(1 for ids in synced.values() if len(ids) > 1),
        refusals=len(double.refusals()),
        in_the_future=future,
        copies=len(copy_ids),
        copies_adopted=adopted,
        hidden_customers=names[HIDDEN_CUSTOMER],
        writes_before_confirm=writes_before_confirm,
    )
