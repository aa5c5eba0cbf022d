"""Kimai's reference data indexed for mapping, and Kimai's rules about what may go together.

Built once per run (or per page) from a :class:`ReferenceData`; lookups by id and by name are
dictionary reads, so planning 100,000 entries never scans lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.connectors.base import (
    ReferenceActivity,
    ReferenceCustomer,
    ReferenceData,
    ReferenceProject,
    ReferenceUser,
)

# kimai-api.md §6 "Project and activity choice lists" and §7: the rule we must respect.
KIMAI_ACTIVITY_RULE = (
    "Kimai books an activity on a project only if the activity belongs to that project, or is "
    "global and the project allows global activities."
)


GONE = "no longer exists (deleted, or not visible to the token)"
# What to do about a hidden record (kimai-api.md §11 "Visibility": Kimai books nothing on, or
# below, a hidden record; the sync never creates a second one of the same name instead).
SHOW_IT = (
    "The sync does not create a second one of the same name: in Kimai, open {where}, edit "
    "“{name}” and tick “Visible” (then check again), or choose another one in the rule or the "
    "mapping."
)
SHOW_WHERE = {"customer": "Customers", "project": "Projects", "activity": "Activities"}


def hidden_advice(what: str, name: str) -> str:
    return SHOW_IT.format(where=SHOW_WHERE[what], name=name)


def _key(name: str) -> str:
    return name.strip().casefold()


@dataclass
class Catalog:
    """Kimai customers, projects, activities and users by id; visible ones also by name."""

    customers: dict[str, ReferenceCustomer] = field(default_factory=dict)
    projects: dict[str, ReferenceProject] = field(default_factory=dict)
    activities: dict[str, ReferenceActivity] = field(default_factory=dict)
    users: dict[str, ReferenceUser] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    customers_by_name: dict[str, ReferenceCustomer] = field(default_factory=dict)
    projects_by_name: dict[tuple[str, str], ReferenceProject] = field(default_factory=dict)
    global_activities_by_name: dict[str, ReferenceActivity] = field(default_factory=dict)
    project_activities_by_name: dict[tuple[str, str], ReferenceActivity] = field(
        default_factory=dict
    )
    users_by_email: dict[str, ReferenceUser] = field(default_factory=dict)
    # Hidden records by name: what a rule would otherwise create a second time.
    hidden_customers_by_name: dict[str, ReferenceCustomer] = field(default_factory=dict)
    hidden_projects_by_name: dict[tuple[str, str], ReferenceProject] = field(default_factory=dict)
    hidden_activities_by_name: dict[str, ReferenceActivity] = field(default_factory=dict)

    @classmethod
    def build(cls, reference: ReferenceData) -> Catalog:
        catalog = cls(
            customers={c.id: c for c in reference.customers},
            projects={p.id: p for p in reference.projects},
            activities={a.id: a for a in reference.activities},
            users={u.id: u for u in reference.users},
            tags=reference.tags,
        )
        # Reversed, so that of two records with the same name the first one listed wins.
        for customer in reversed(reference.customers):
            if customer.visible:
                catalog.customers_by_name[_key(customer.name)] = customer
            else:
                catalog.hidden_customers_by_name[_key(customer.name)] = customer
        for project in reversed(reference.projects):
            key = (project.customer_id, _key(project.name))
            if project.visible:
                catalog.projects_by_name[key] = project
            else:
                catalog.hidden_projects_by_name[key] = project
        for activity in reversed(reference.activities):
            if not activity.visible:
                catalog.hidden_activities_by_name[_key(activity.name)] = activity
                continue
            if activity.project_id is None:
                catalog.global_activities_by_name[_key(activity.name)] = activity
            else:
                key = (activity.project_id, _key(activity.name))
                catalog.project_activities_by_name[key] = activity
        for user in reversed(reference.users):
            if user.email and user.active:
                catalog.users_by_email[user.email.casefold()] = user
        return catalog

    @property
    def empty(self) -> bool:
        return not (self.customers or self.projects or self.activities)

    # -- names for people ---------------------------------------------------------------------
    def customer_label(self, customer_id: str) -> str:
        customer = self.customers.get(customer_id)
        return customer.name if customer else f"customer #{customer_id}"

    def project_label(self, project_id: str) -> str:
        project = self.projects.get(project_id)
        if project is None:
            return f"project #{project_id}"
        return f"{self.customer_label(project.customer_id)} / {project.name}"

    def activity_label(self, activity_id: str) -> str:
        activity = self.activities.get(activity_id)
        if activity is None:
            return f"activity #{activity_id}"
        if activity.project_id is None:
            return f"{activity.name} (global)"
        return f"{activity.name} ({self.project_label(activity.project_id)})"

    # -- lookups ------------------------------------------------------------------------------
    def customer_named(self, name: str) -> ReferenceCustomer | None:
        return self.customers_by_name.get(_key(name))

    def hidden_customer_named(self, name: str) -> ReferenceCustomer | None:
        """A hidden customer of that name, when no visible one has it."""
        if _key(name) in self.customers_by_name:
            return None
        return self.hidden_customers_by_name.get(_key(name))

    def hidden_project_named(self, customer_id: str, name: str) -> ReferenceProject | None:
        if (customer_id, _key(name)) in self.projects_by_name:
            return None
        return self.hidden_projects_by_name.get((customer_id, _key(name)))

    def hidden_activity_named(self, name: str) -> ReferenceActivity | None:
        key = _key(name)
        if key in self.global_activities_by_name or any(
            k[1] == key for k in self.project_activities_by_name
        ):
            return None
        return self.hidden_activities_by_name.get(key)

    def project_named(self, customer_id: str, name: str) -> ReferenceProject | None:
        return self.projects_by_name.get((customer_id, _key(name)))

    def activity_named(self, name: str, project_id: str | None) -> ReferenceActivity | None:
        """The project's own activity of that name, else a global one."""
        if project_id is not None:
            own = self.project_activities_by_name.get((project_id, _key(name)))
            if own is not None:
                return own
        return self.global_activities_by_name.get(_key(name))

    def projects_with_activity_named(self, name: str) -> list[str]:
        """Labels of the projects that have an activity of this name of their own (for saying
        "not on this project" instead of "nowhere")."""
        wanted = _key(name)
        return sorted(
            self.project_label(project_id)
            for (project_id, key) in self.project_activities_by_name
            if key == wanted
        )

    def user_with_email(self, email: str | None) -> ReferenceUser | None:
        return self.users_by_email.get(email.casefold()) if email else None

    # -- what is wrong with a choice ----------------------------------------------------------
    def project_problem(self, project_id: str) -> str | None:
        """Why a timesheet cannot be booked on this project, or None."""
        project = self.projects.get(project_id)
        if project is None:
            return f"Kimai project #{project_id} {GONE}."
        if not project.visible:
            return (
                f"Kimai project “{project.name}” is hidden; Kimai books nothing on hidden "
                f"projects. {hidden_advice('project', project.name)}"
            )
        customer = self.customers.get(project.customer_id)
        if customer is not None and not customer.visible:
            return (
                f"Kimai customer “{customer.name}” of project “{project.name}” is hidden; Kimai "
                f"books nothing below a hidden customer. {hidden_advice('customer', customer.name)}"
            )
        return None

    def customer_problem(self, customer_id: str) -> str | None:
        customer = self.customers.get(customer_id)
        if customer is None:
            return f"Kimai customer #{customer_id} {GONE}."
        if not customer.visible:
            return (
                f"Kimai customer “{customer.name}” is hidden; Kimai books nothing below it. "
                f"{hidden_advice('customer', customer.name)}"
            )
        return None

    def activity_problem(self, activity_id: str) -> str | None:
        activity = self.activities.get(activity_id)
        if activity is None:
            return f"Kimai activity #{activity_id} {GONE}."
        if not activity.visible:
            return (
                f"Kimai activity “{activity.name}” is hidden; Kimai books nothing on it. "
                f"{hidden_advice('activity', activity.name)}"
            )
        return None

    def hidden(self, *, customer: str = "", project: str = "", activity: str = "") -> bool:
        """Whether the record (or a project's customer) exists in Kimai but is hidden."""
        if customer and customer in self.customers:
            return not self.customers[customer].visible
        if project and project in self.projects:
            record = self.projects[project]
            owner = self.customers.get(record.customer_id)
            return not record.visible or (owner is not None and not owner.visible)
        if activity and activity in self.activities:
            return not self.activities[activity].visible
        return False

    def combination_problem(
        self, activity: ReferenceActivity, project: ReferenceProject | None
    ) -> str | None:
        """Kimai's activity/project rule, explained; ``project`` None: a project to be created
        (the sync creates projects that allow global activities)."""
        if project is None:
            if activity.project_id is None:
                return None
            return (
                f"“{activity.name}” belongs to project "
                f"“{self.project_label(activity.project_id)}”, but this entry needs a new "
                f"project. {KIMAI_ACTIVITY_RULE} Choose a global activity."
            )
        if activity.project_id is None:
            if project.global_activities:
                return None
            return (
                f"“{activity.name}” is a global activity and project “{project.name}” does not "
                f"allow global activities. {KIMAI_ACTIVITY_RULE} Choose one of the project's own "
                "activities, or allow global activities on the project in Kimai."
            )
        if activity.project_id == project.id:
            return None
        return (
            f"“{activity.name}” belongs to project “{self.project_label(activity.project_id)}”, "
            f"not to “{project.name}”. {KIMAI_ACTIVITY_RULE}"
        )
