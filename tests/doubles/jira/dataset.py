"""A deterministic, realistic Jira data set, cast from the same team as the Zammad/Kimai one.

The six agents of ``tests/doubles/dataset.py`` log work in Jira too, in their own time zones and
working hours, so Jira users match the Kimai double's users by e-mail, except: Sofia hides her
e-mail address (Cloud profile visibility), and Pat, the temp, has left (a deactivated account
whose worklogs remain). Projects carry the customer as their category. People edit some worklogs
later (sometimes the team lead does), delete a few, and restrict a few to a role or group; one
group restriction hides worklogs from the sync user. Everything follows from ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tests.doubles.dataset import AGENTS, TICKET_TITLES
from tests.doubles.jira.double import JiraDouble
from tests.doubles.jira.model import User


@dataclass(frozen=True)
class Person:
    display_name: str
    email: str
    time_zone: str
    name: str  # Data Center username
    email_visible: bool = True
    active: bool = True
    groups: tuple[str, ...] = ("jira-software-users",)
    roles: tuple[str, ...] = ("Developers",)


@dataclass(frozen=True)
class ProjectSeed:
    key: str
    name: str
    category: str | None
    components: tuple[str, ...]


@dataclass(frozen=True)
class IssueSeed:
    key: str  # what the double will number it
    project_key: str
    summary: str
    issue_type: str
    labels: tuple[str, ...]
    components: tuple[str, ...]
    created: datetime
    parent_key: str | None = None


@dataclass(frozen=True)
class WorklogSeed:
    id: int
    issue_key: str
    author_email: str
    started: datetime  # aware, in the author's zone
    seconds: int
    comment: str | None
    created: datetime  # UTC
    updated: datetime  # UTC; later than created when edited
    edited_by: str | None = None  # e-mail of whoever edited it, if someone did
    original_seconds: int | None = None  # before the edit
    visibility: tuple[str, str] | None = None
    deleted_at: datetime | None = None


@dataclass
class JiraDataset:
    people: list[Person]
    projects: list[ProjectSeed]
    issue_types: list[tuple[str, bool]]  # (name, subtask)
    issues: list[IssueSeed]
    worklogs: list[WorklogSeed]
    sync_email: str = "sync@example.com"
    api_token: str = "jira-demo-token"  # Cloud: Basic sync@example.com:jira-demo-token (§2.1)
    personal_access_token: str = "jira-demo-pat"  # Data Center: Bearer (§2.2)
    hidden_group: str = "hr-team"  # the sync user is not a member (§3.1)
    extra: dict[str, str] = field(default_factory=dict)

    def live_worklogs(self) -> list[WorklogSeed]:
        return [w for w in self.worklogs if w.deleted_at is None]

    def login(self, flavour: str) -> str:
        """How the sync user signs in to this flavour, as the demo prints it (§2.1, §2.2)."""
        if flavour == "cloud":
            return f"Basic auth: {self.sync_email} / API token {self.api_token}"
        return f"Bearer personal access token: {self.personal_access_token}"


PROJECTS = [
    ProjectSeed(
        "AWE", "Awesome Support", "Awesome Customer Inc.", ("Network", "Email", "Hardware")
    ),
    ProjectSeed("GLX", "Globex Managed Service", "Globex Corporation", ("ERP", "Backup")),
    ProjectSeed("INI", "Initech Retainer", "Initech", ("Development",)),
    ProjectSeed("UMB", "Umbrella Onboarding", "Umbrella Health", ("Accounts",)),
    ProjectSeed("OPS", "Internal IT", None, ("Infrastructure",)),
]
ISSUE_TYPES = [("Task", False), ("Bug", False), ("Story", False), ("Support Request", False),
               ("Sub-task", True)]  # fmt: skip
LABELS = ("billable", "vip", "onsite", "warranty", "remote")
SECONDS = (600, 900, 900, 1800, 1800, 2700, 3600, 3600, 5400, 7200)
COMMENTS = ("Remote session with the customer", "Called the customer back",
            "Checked logs and restarted the service", "Onsite visit\nReplaced the power supply",
            "Documentation")  # fmt: skip


def people() -> list[Person]:
    cast = []
    for agent in AGENTS:
        hidden = agent.login.startswith("sofia")  # profile visibility hides her e-mail (§5.1)
        temp = agent.kimai_username is None  # Pat left; the account is deactivated
        cast.append(Person(agent.name, agent.email, agent.timezone,
                           agent.kimai_username or agent.login.split(".")[0],
                           email_visible=not hidden, active=not temp,
                           groups=("jira-software-users", "hr-team") if agent.zammad_id == 3
                           else ("jira-software-users",)))  # fmt: skip
    return cast


def jira_dataset(weeks: int = 4, seed: int = 7, now: datetime | None = None) -> JiraDataset:
    """Weeks of worklogs ending before ``now`` (default: the current time)."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    first_day = (now - timedelta(weeks=weeks)).date()
    cast = people()
    issues = _issues(rng, first_day)
    worklogs: list[WorklogSeed] = []
    lead = cast[0].email  # Christopher, the team lead, fixes other people's worklogs
    days = [first_day + timedelta(d) for d in range(weeks * 7 + 1)]
    for day in (d for d in days if d.weekday() < 5):
        for person in cast:
            zone = ZoneInfo(person.time_zone)
            for _ in range(rng.randint(1, 4)):
                local = datetime.combine(day, time(rng.randint(8, 16), rng.choice([0, 15, 30, 45])))
                started = local.replace(tzinfo=zone)
                seconds = rng.choice(SECONDS)
                created = started + timedelta(seconds=seconds, minutes=rng.randint(0, 90))
                created = created.astimezone(UTC) + timedelta(milliseconds=rng.randint(0, 999))
                if created >= now - timedelta(minutes=5):
                    continue
                issue = rng.choice(issues)
                edited = rng.random() < 0.06
                updated = (
                    min(created + timedelta(hours=rng.randint(1, 40)), now) if edited else created
                )
                visibility = None
                if rng.random() < 0.03:
                    visibility = ("role", "Developers")
                elif rng.random() < 0.02:
                    visibility = ("group", "hr-team")
                deleted = rng.random() < 0.03
                worklogs.append(WorklogSeed(
                    id=0, issue_key=issue.key, author_email=person.email, started=started,
                    seconds=seconds + (rng.choice([-300, 600, 900]) if edited else 0),
                    comment=rng.choice(COMMENTS) if rng.random() < 0.7 else None,
                    created=created, updated=updated,
                    edited_by=(lead if rng.random() < 0.3 else person.email) if edited else None,
                    original_seconds=seconds if edited else None, visibility=visibility,
                    deleted_at=min(updated + timedelta(hours=rng.randint(1, 20)), now)
                    if deleted else None,
                ))  # fmt: skip
    worklogs.sort(key=lambda w: (w.created, w.author_email))
    numbered = [_with_id(w, 10001 + i) for i, w in enumerate(worklogs)]
    return JiraDataset(cast, list(PROJECTS), list(ISSUE_TYPES), issues, numbered)


def _with_id(worklog: WorklogSeed, number: int) -> WorklogSeed:
    return WorklogSeed(**{**worklog.__dict__, "id": number})


def _issues(rng: random.Random, first_day: date) -> list[IssueSeed]:
    numbers = {p.key: 1 for p in PROJECTS}
    issues: list[IssueSeed] = []
    for i in range(30):
        project = PROJECTS[i % len(PROJECTS)]
        kind = ISSUE_TYPES[i % 4][0]
        parent = None
        if i % 9 == 8:  # a sub-task below an earlier issue of the same project
            parent = next(s.key for s in issues if s.project_key == project.key)
            kind = "Sub-task"
        # opened one a day before the window, in the order the double numbers them
        created = datetime.combine(first_day - timedelta(days=30 - i), time(8), UTC)
        issues.append(IssueSeed(
            key=f"{project.key}-{numbers[project.key]}", project_key=project.key,
            summary=TICKET_TITLES[i % len(TICKET_TITLES)], issue_type=kind,
            labels=tuple(sorted(rng.sample(LABELS, rng.randint(0, 2)))),
            components=(rng.choice(project.components),) if rng.random() < 0.8 else (),
            created=created, parent_key=parent,
        ))  # fmt: skip
        numbers[project.key] += 1
    return issues


def seed_from_dataset(double: JiraDouble, dataset: JiraDataset) -> User:
    """Fill the double as Jira would look after these events; returns the sync user.

    The sync user (``dataset.sync_email``) is a Jira administrator who may browse users and
    every project and holds the Developers role, but is not in ``dataset.hidden_group``.
    """
    with double.lock:
        sync = double.add_user(
            "Time Sync", dataset.sync_email, time_zone="Europe/Berlin", name="sync-bot",
            api_token=dataset.api_token, personal_access_token=dataset.personal_access_token,
            groups={"jira-administrators", "jira-software-users"},
            roles={"Administrators", "Developers"}, browse_users=True,
        )  # fmt: skip
        for person in dataset.people:
            double.add_user(
                person.display_name, person.email, time_zone=person.time_zone, name=person.name,
                email_visible=person.email_visible, active=person.active,
                groups=set(person.groups), roles=set(person.roles),
            )  # fmt: skip
        for name, subtask in dataset.issue_types:
            double.add_issue_type(name, subtask=subtask)
        for project in dataset.projects:
            double.add_project(project.key, project.name, category=project.category,
                               components=project.components)  # fmt: skip
        for seed in dataset.issues:
            issue = double.add_issue(
                seed.project_key, seed.summary, issue_type=seed.issue_type, labels=seed.labels,
                components=seed.components, parent=seed.parent_key, at=seed.created,
            )  # fmt: skip
            assert issue.key == seed.key, (issue.key, seed.key)
        for item in dataset.worklogs:
            double.log_work(
                item.issue_key, item.author_email, item.started,
                item.original_seconds or item.seconds, comment=item.comment,
                visibility=item.visibility, at=item.created, id=item.id,
            )  # fmt: skip
            if item.edited_by:
                double.edit_worklog(item.id, by=item.edited_by, seconds=item.seconds,
                                    at=item.updated)  # fmt: skip
            if item.deleted_at:
                double.delete_worklog(item.id, at=item.deleted_at)
        return sync
