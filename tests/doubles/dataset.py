"""A deterministic, realistic data set shared by the Zammad and Kimai doubles.

Used by tests, the standalone demo servers, browser tests and benchmarks. Everything is derived
from a seed, so two runs produce the same tickets, entries and timestamps.

The story: a support team of six agents in four time zones works tickets for four customer
organizations (and some tickets without one). They book time in Zammad in minutes. Their Kimai has
users for all agents but one (the temp, who stays unmapped), customers and projects for most
organizations, global and project activities, and a few timesheets people typed in by hand: one
matches a Zammad entry exactly (to be adopted), one disagrees on the duration (a conflict).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Agent:
    zammad_id: int
    login: str
    firstname: str
    lastname: str
    email: str
    timezone: str
    # The Kimai account of this agent, or None if they have none (an unmapped agent).
    kimai_username: str | None
    # The e-mail their Kimai account has; may differ in case from Zammad's.
    kimai_email: str | None
    kimai_role: str = "ROLE_USER"

    @property
    def name(self) -> str:
        return f"{self.firstname} {self.lastname}"


@dataclass(frozen=True)
class CustomerUser:
    zammad_id: int
    firstname: str
    lastname: str
    email: str
    organization_id: int | None


@dataclass(frozen=True)
class Organization:
    zammad_id: int
    name: str
    # Name of the matching Kimai customer, or None when Kimai has no customer for it yet.
    kimai_customer: str | None


@dataclass(frozen=True)
class Group:
    zammad_id: int
    name: str


@dataclass(frozen=True)
class ActivityType:
    zammad_id: int
    name: str
    active: bool = True


@dataclass(frozen=True)
class Ticket:
    zammad_id: int
    number: str
    title: str
    group_id: int
    organization_id: int | None
    customer_id: int
    owner_id: int
    created_at: datetime
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimeEntry:
    zammad_id: int
    ticket_id: int
    agent_id: int
    type_id: int | None
    time_unit: Decimal  # in the Zammad unit (minutes here), at most 2 decimal places
    created_at: datetime  # UTC
    updated_at: datetime  # UTC; later than created_at when the entry was edited
    with_article: bool = True


@dataclass(frozen=True)
class KimaiUser:
    username: str
    email: str
    timezone: str
    role: str
    token: str | None = None


@dataclass(frozen=True)
class KimaiCustomer:
    name: str
    timezone: str = "Europe/Berlin"
    billable: bool = True


@dataclass(frozen=True)
class KimaiProject:
    name: str
    customer: str
    billable: bool = True
    global_activities: bool = True


@dataclass(frozen=True)
class KimaiActivity:
    name: str
    project: str | None = None  # None: a global activity
    billable: bool = True


@dataclass(frozen=True)
class KimaiManualTimesheet:
    """A timesheet a person created in Kimai by hand, before the sync existed."""

    username: str
    project: str
    activity: str
    begin: datetime  # aware, in the user's time zone
    duration_minutes: int
    description: str
    tags: tuple[str, ...] = ()


@dataclass
class Dataset:
    agents: list[Agent]
    customer_users: list[CustomerUser]
    organizations: list[Organization]
    groups: list[Group]
    activity_types: list[ActivityType]
    tickets: list[Ticket]
    entries: list[TimeEntry]
    kimai_users: list[KimaiUser]
    kimai_customers: list[KimaiCustomer]
    kimai_projects: list[KimaiProject]
    kimai_activities: list[KimaiActivity]
    kimai_manual_timesheets: list[KimaiManualTimesheet] = field(default_factory=list)
    zammad_token: str = "zammad-demo-token"
    zammad_unit: str = "minute"
    kimai_token: str = "kimai-demo-token"
    kimai_sync_username: str = "sync-bot"

    def agent(self, zammad_id: int) -> Agent:
        return next(a for a in self.agents if a.zammad_id == zammad_id)

    def ticket(self, zammad_id: int) -> Ticket:
        return next(t for t in self.tickets if t.zammad_id == zammad_id)


AGENTS = [
    Agent(3, "chris@chrispresso.com", "Christopher", "Miller", "chris@chrispresso.com",
          "Europe/Berlin", "chris", "chris@chrispresso.com", "ROLE_TEAMLEAD"),
    Agent(4, "emma.schulz@example.com", "Emma", "Schulz", "emma.schulz@example.com",
          "Europe/Berlin", "emma", "emma.schulz@example.com"),
    Agent(5, "liam.johnson@example.com", "Liam", "Johnson", "liam.johnson@example.com",
          "America/New_York", "liam", "liam.johnson@example.com"),
    Agent(6, "aiko.tanaka@example.com", "Aiko", "Tanaka", "aiko.tanaka@example.com",
          "Asia/Tokyo", "aiko", "aiko.tanaka@example.com"),
    Agent(7, "sofia.rossi@example.com", "Sofia", "Rossi", "sofia.rossi@example.com",
          "Europe/Rome", "sofia", "Sofia.Rossi@Example.com"),
    Agent(8, "pat.temp@example.com", "Pat", "Temp", "pat.temp@example.com",
          "America/Los_Angeles", None, None),
]  # fmt: skip

ORGANIZATIONS = [
    Organization(1, "Awesome Customer Inc.", "Awesome Customer Inc."),
    Organization(2, "Globex Corporation", "Globex Corporation"),
    Organization(3, "Initech", "Initech"),
    Organization(4, "Umbrella Health", None),
]

GROUPS = [Group(1, "Service Desk"), Group(2, "2nd Level"), Group(3, "Billing")]

ACTIVITY_TYPES = [
    ActivityType(1, "Support"),
    ActivityType(2, "Consulting"),
    ActivityType(3, "Development"),
    ActivityType(4, "Onsite"),
    ActivityType(5, "Travel", active=False),
]

TICKET_TITLES = [
    "Printer broken", "VPN drops every hour", "Invoice shows wrong VAT",
    "New laptop for onboarding", "Mailbox full", "Password reset loop", "Slow ERP after update",
    "Backup job failed",
    "Phone system: no ring tone", "Add user to shared drive", "Website contact form spam",
    "License renewal question", "Migrate calendar to new tenant", "Wi-Fi in meeting room 2",
    "Export of last quarter's tickets", "Scanner sends to wrong folder", "2FA device lost",
    "Database disk almost full", "SSL certificate expires soon", "Outlook crashes on start",
]  # fmt: skip

KIMAI_CUSTOMERS = [
    KimaiCustomer("Awesome Customer Inc."),
    KimaiCustomer("Globex Corporation", timezone="America/New_York"),
    KimaiCustomer("Initech"),
    KimaiCustomer("Internal", billable=False),
]

KIMAI_PROJECTS = [
    KimaiProject("Support 2026", "Awesome Customer Inc."),
    KimaiProject("Managed Service", "Globex Corporation"),
    KimaiProject("Retainer", "Initech", global_activities=False),
    KimaiProject("Internal Helpdesk", "Internal", billable=False),
]

KIMAI_ACTIVITIES = [
    KimaiActivity("Support"),
    KimaiActivity("Consulting"),
    KimaiActivity("Development"),
    KimaiActivity("Onsite", project="Retainer"),
    KimaiActivity("Retainer support", project="Retainer"),
    KimaiActivity("Internal work", billable=False),
]

MINUTE_CHOICES = [Decimal(v) for v in ("5", "10", "15", "15", "20", "30", "30", "45", "60", "7.5")]


def _working_days(start: date, days: int) -> list[date]:
    return [start + timedelta(d) for d in range(days) if (start + timedelta(d)).weekday() < 5]


def demo_dataset(weeks: int = 4, seed: int = 7, now: datetime | None = None) -> Dataset:
    """Weeks of realistic bookings ending before `now` (default: the current time)."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    first_day = (now - timedelta(weeks=weeks)).date()

    customer_users = [
        CustomerUser(100 + i, first, last, f"{first.lower()}.{last.lower()}@{domain}", org)
        for i, (first, last, domain, org) in enumerate(
            [
                ("Emily", "Adams", "awesome.example", 1),
                ("Hank", "Scorpio", "globex.example", 2),
                ("Bill", "Lumbergh", "initech.example", 3),
                ("Alice", "Wong", "umbrella.example", 4),
                ("Sam", "Private", "mail.example", None),
            ]
        )
    ]
    tickets: list[Ticket] = []
    for i in range(24):
        customer = customer_users[i % len(customer_users)]
        created = datetime.combine(first_day - timedelta(days=rng.randint(1, 10)), time(9), UTC)
        tickets.append(
            Ticket(
                zammad_id=50 + i,
                number=str(24001 + i),
                title=TICKET_TITLES[i % len(TICKET_TITLES)],
                group_id=GROUPS[i % len(GROUPS)].zammad_id,
                organization_id=customer.organization_id,
                customer_id=customer.zammad_id,
                owner_id=AGENTS[i % len(AGENTS)].zammad_id,
                created_at=created,
                tags=("vip",) if i % 7 == 0 else (),
            )
        )

    entries: list[TimeEntry] = []
    next_id = 1
    for day in _working_days(first_day, weeks * 7):
        for agent in AGENTS:
            zone = ZoneInfo(agent.timezone)
            for _ in range(rng.randint(2, 5)):
                local = datetime.combine(day, time(rng.randint(8, 17), rng.choice([0, 15, 30, 45])))
                created = local.replace(tzinfo=zone).astimezone(UTC)
                created += timedelta(seconds=rng.randint(0, 59), milliseconds=rng.randint(0, 999))
                if created >= now:
                    continue
                ticket = rng.choice(tickets)
                type_id = rng.choice([1, 1, 1, 2, 3, 4, None])
                edited = rng.random() < 0.05
                updated = created + timedelta(hours=rng.randint(1, 30)) if edited else created
                entries.append(
                    TimeEntry(
                        zammad_id=next_id,
                        ticket_id=ticket.zammad_id,
                        agent_id=agent.zammad_id,
                        type_id=type_id,
                        time_unit=rng.choice(MINUTE_CHOICES),
                        created_at=created,
                        updated_at=min(updated, now),
                        with_article=rng.random() < 0.8,
                    )
                )
                next_id += 1
    entries.sort(key=lambda e: e.zammad_id)

    return Dataset(
        agents=list(AGENTS),
        customer_users=customer_users,
        organizations=list(ORGANIZATIONS),
        groups=list(GROUPS),
        activity_types=list(ACTIVITY_TYPES),
        tickets=tickets,
        entries=entries,
        kimai_users=_kimai_users(),
        kimai_customers=list(KIMAI_CUSTOMERS),
        kimai_projects=list(KIMAI_PROJECTS),
        kimai_activities=list(KIMAI_ACTIVITIES),
        kimai_manual_timesheets=_manual_timesheets(entries, tickets),
    )


def _kimai_users() -> list[KimaiUser]:
    users = [
        KimaiUser(a.kimai_username, a.kimai_email or a.email, a.timezone, a.kimai_role)
        for a in AGENTS
        if a.kimai_username
    ]
    # Super-Admin: the only default Kimai role allowed to list users (view_user), which the
    # automatic matching of agents by e-mail needs; Teamlead or Admin can book but not list.
    users.append(
        KimaiUser("sync-bot", "sync-bot@example.com", "Europe/Berlin", "ROLE_SUPER_ADMIN",
                  token="kimai-demo-token")
    )  # fmt: skip
    return users


def _manual_timesheets(
    entries: list[TimeEntry], tickets: list[Ticket]
) -> list[KimaiManualTimesheet]:
    """Two hand-made Kimai timesheets: one matches a Zammad entry, one has another duration.

    Both belong to Emma (Europe/Berlin) on tickets of Awesome Customer Inc.; the booking instant
    in Zammad is the *end* of the work, so the matching sheet begins `duration` earlier.
    """
    emma = next(a for a in AGENTS if a.login.startswith("emma"))
    zone = ZoneInfo(emma.timezone)
    awesome = {t.zammad_id: t for t in tickets if t.organization_id == 1}
    # Entries of ordinary types only (not "Onsite", which needs a project activity), so the
    # exact match can be adopted as it is.
    mine = [
        e
        for e in entries
        if e.agent_id == emma.zammad_id and e.ticket_id in awesome and e.type_id != 4
    ]
    sheets: list[KimaiManualTimesheet] = []
    for entry, delta in zip(mine[:2], (0, 10), strict=False):
        minutes = int(entry.time_unit)
        end = entry.created_at.replace(second=0, microsecond=0).astimezone(zone)
        ticket = awesome[entry.ticket_id]
        sheets.append(
            KimaiManualTimesheet(
                username="emma",
                project="Support 2026",
                activity="Support",
                begin=end - timedelta(minutes=minutes),
                duration_minutes=minutes + delta,
                description=f"#{ticket.number} {ticket.title}",
            )
        )
    return sheets


def scaled_dataset(entries: int, tickets: int | None = None, seed: int = 11) -> Dataset:
    """A large data set for benchmarks and request-count tests: `entries` bookings, same cast."""
    rng = random.Random(seed)
    base = demo_dataset(weeks=1, seed=seed, now=datetime(2026, 1, 10, 12, tzinfo=UTC))
    ticket_count = tickets or max(1, entries // 8)
    start = datetime(2025, 1, 6, 8, tzinfo=UTC)
    many_tickets = [
        Ticket(
            zammad_id=1000 + i,
            number=str(30000 + i),
            title=TICKET_TITLES[i % len(TICKET_TITLES)],
            group_id=GROUPS[i % len(GROUPS)].zammad_id,
            organization_id=ORGANIZATIONS[i % len(ORGANIZATIONS)].zammad_id if i % 5 else None,
            customer_id=base.customer_users[i % len(base.customer_users)].zammad_id,
            owner_id=AGENTS[i % len(AGENTS)].zammad_id,
            created_at=start,
        )
        for i in range(ticket_count)
    ]
    many_entries = []
    for i in range(entries):
        created = start + timedelta(minutes=7 * i, milliseconds=rng.randint(0, 999))
        many_entries.append(
            TimeEntry(
                zammad_id=i + 1,
                ticket_id=many_tickets[i % ticket_count].zammad_id,
                agent_id=AGENTS[i % len(AGENTS)].zammad_id,
                type_id=ACTIVITY_TYPES[i % 4].zammad_id,
                time_unit=MINUTE_CHOICES[i % len(MINUTE_CHOICES)],
                created_at=created,
                updated_at=created,
            )
        )
    base.tickets = many_tickets
    base.entries = many_entries
    base.kimai_manual_timesheets = []
    return base
