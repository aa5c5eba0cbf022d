"""The "trust" data set: what a new admin meets, at any size (benchmarks use 10,000 entries).

On top of the demo cast (six agents, in Europe/Berlin, Europe/Rome, America/New_York, Asia/Tokyo
and one unmapped in America/Los_Angeles) and its Kimai:

* an organization, Hooli, whose Kimai customer of the same name is **hidden** (retired);
* bookings through the **daylight-saving nights** of 2025 in Europe (30 March, 26 October) and
  New York (9 March, 2 November), every 15 minutes from 00:00 to 05:00 local time, so some start
  in the repeated hour and some are counted back over the skipped one;
* bookings just after **midnight** that began the day before;
* **hand-typed copies** in Kimai of about 1.5 % of the entries, typed the way people do: to the
  second (Kimai floors the begin and ceils the end), to the minute, or rounded to 5 minutes.

Deterministic from a seed. Times are UTC instants; the copies' begin and end too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.doubles.dataset import (
    AGENTS,
    GROUPS,
    ORGANIZATIONS,
    TICKET_TITLES,
    Dataset,
    Organization,
    Ticket,
    TimeEntry,
    demo_dataset,
)

HIDDEN_CUSTOMER = "Hooli"
HOOLI = Organization(5, HIDDEN_CUSTOMER, None)
FIRST_DAY = date(2025, 3, 1)
LAST_DAY = date(2025, 11, 28)
NOW = datetime(2025, 11, 29, 12, tzinfo=UTC)
# (zone, local day) of each daylight-saving change in the period.
DST_NIGHTS = [
    ("Europe/Berlin", date(2025, 3, 30)), ("Europe/Berlin", date(2025, 10, 26)),
    ("America/New_York", date(2025, 3, 9)), ("America/New_York", date(2025, 11, 2)),
]  # fmt: skip
DURATIONS = [
    Decimal(v) for v in ("5", "10", "15", "20", "30", "30", "45", "60", "7.5", "90", "120")
]
ONSITE = 4  # the Zammad activity type no mapping covers
UNMAPPED_AGENT = 8


@dataclass(frozen=True)
class TypedCopy:
    """A timesheet a person typed into Kimai for one Zammad entry."""

    entry_id: int
    username: str
    begin: datetime  # as typed, an instant (Kimai floors it to the minute)
    end: datetime  # as typed (Kimai ceils it)
    how: str  # "seconds", "minutes" or "five minutes"


@dataclass
class TrustData:
    dataset: Dataset
    copies: list[TypedCopy] = field(default_factory=list)
    dst_entries: set[int] = field(default_factory=set)
    midnight_entries: set[int] = field(default_factory=set)


def _tickets(rng: random.Random, base: Dataset, count: int) -> list[Ticket]:
    organizations = [*ORGANIZATIONS, HOOLI]
    return [
        Ticket(
            zammad_id=1000 + i, number=str(40000 + i), title=TICKET_TITLES[i % len(TICKET_TITLES)],
            group_id=GROUPS[i % len(GROUPS)].zammad_id,
            organization_id=organizations[i % len(organizations)].zammad_id if i % 7 else None,
            customer_id=base.customer_users[i % len(base.customer_users)].zammad_id,
            owner_id=AGENTS[i % len(AGENTS)].zammad_id,
            created_at=datetime.combine(FIRST_DAY, time(8), UTC),
        )
        for i in range(count)
    ]  # fmt: skip


def trust_dataset(entries: int = 10_000, seed: int = 13, copy_share: float = 0.015) -> TrustData:
    rng = random.Random(seed)
    base = demo_dataset(weeks=1, seed=seed, now=NOW)
    tickets = _tickets(rng, base, max(12, entries // 10))
    data = TrustData(base)
    made: list[TimeEntry] = []

    def book(agent_id: int, created: datetime, minutes: Decimal, ticket: Ticket) -> TimeEntry:
        entry = TimeEntry(
            zammad_id=len(made) + 1, ticket_id=ticket.zammad_id, agent_id=agent_id,
            type_id=rng.choice([1, 1, 1, 2, 3, ONSITE, None]), time_unit=minutes,
            created_at=created, updated_at=created,
        )  # fmt: skip
        made.append(entry)
        return entry

    # The daylight-saving nights: every 15 minutes from 00:00 to 05:00 local time (UTC steps, so
    # the repeated hour is booked twice), 30 to 180 minutes of work each.
    for zone_name, day in DST_NIGHTS:
        zone = ZoneInfo(zone_name)
        start = datetime.combine(day, time(0), zone).astimezone(UTC)
        for agent in (a for a in AGENTS if a.timezone == zone_name):
            for step in range(0, 5 * 60, 15):
                minutes = Decimal(rng.choice([30, 45, 60, 90, 120, 180]))
                at = start + timedelta(minutes=step, seconds=rng.randint(0, 59))
                entry = book(agent.zammad_id, at, minutes, rng.choice(tickets))
                data.dst_entries.add(entry.zammad_id)
    days = (LAST_DAY - FIRST_DAY).days + 1
    while len(made) < entries:
        agent = rng.choice(AGENTS)
        zone = ZoneInfo(agent.timezone)
        day = FIRST_DAY + timedelta(days=rng.randrange(days))
        if rng.random() < 0.02:  # just after midnight, for work begun the day before
            local = datetime.combine(day, time(0, rng.randint(5, 50)), zone)
            minutes = Decimal(rng.choice([60, 90, 120]))
            midnight = True
        else:
            local = datetime.combine(day, time(rng.randint(8, 18), rng.randrange(0, 60, 5)), zone)
            minutes, midnight = rng.choice(DURATIONS), False
        created = local.astimezone(UTC) + timedelta(seconds=rng.randint(0, 59))
        entry = book(agent.zammad_id, created, minutes, rng.choice(tickets))
        if midnight:
            data.midnight_entries.add(entry.zammad_id)
    base.tickets = tickets
    base.organizations = [*ORGANIZATIONS, HOOLI]
    base.entries = made
    base.kimai_manual_timesheets = []
    data.copies = _typed_copies(rng, base, made, copy_share)
    return data


def _typed_copies(
    rng: random.Random, base: Dataset, entries: list[TimeEntry], share: float
) -> list[TypedCopy]:
    """``share`` of the bookable entries, typed into Kimai by their agent."""
    usernames = {a.zammad_id: a.kimai_username for a in AGENTS}
    # Not for Hooli (hidden in Kimai) nor Umbrella Health (its project does not exist in Kimai
    # until the sync makes it): nobody could have typed those.
    elsewhere = {t.zammad_id for t in base.tickets if t.organization_id in (HOOLI.zammad_id, 4)}
    candidates = [
        e for e in entries
        if e.agent_id != UNMAPPED_AGENT and e.type_id != ONSITE and e.ticket_id not in elsewhere
    ]  # fmt: skip
    copies = []
    for entry in rng.sample(candidates, max(1, round(len(candidates) * share))):
        exact = timedelta(minutes=float(entry.time_unit))
        how = rng.choices(["seconds", "minutes", "five minutes"], weights=[45, 45, 10])[0]
        if how == "seconds":
            begin, end = entry.created_at - exact, entry.created_at
        elif how == "minutes":
            end = entry.created_at.replace(second=0, microsecond=0)
            begin = end - timedelta(minutes=max(1, round(float(entry.time_unit))))
        else:
            end = _nearest_five(entry.created_at)
            begin = _nearest_five(entry.created_at - exact)
        username = usernames[entry.agent_id]
        assert username is not None
        copies.append(TypedCopy(entry.zammad_id, username, begin, end, how))
    return copies


def _nearest_five(moment: datetime) -> datetime:
    floored = moment.replace(second=0, microsecond=0)
    minutes = floored.minute + (1 if moment.second >= 30 else 0)
    return floored.replace(minute=0) + timedelta(minutes=5 * round(minutes / 5))
