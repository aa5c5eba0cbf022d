"""What a plan is made of: the timesheet an entry becomes, each field's decision and the problems.

Pure values: :func:`apps.mappings.engine.plan_timesheet` makes them, the sync engine stores and
carries them out, pages show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from apps.connectors.base import TimesheetDraft
from apps.connectors.facts import TicketFacts

__all__ = ["TicketFacts"]  # re-exported: rules and callers read it from here too

ProblemKind = Literal[
    "unmapped_user",
    "unmapped_activity",
    "no_matching_rule",
    "broken_rule",
    "broken_mapping",
    "invalid_activity",
    "missing_ticket_details",
    "no_customer",
    "hidden_record",
]


# Not frozen, only for speed: a frozen dataclass sets each field through object.__setattr__,
# which made making these and the reconciler's decisions a sixth of reconciling. Hashed and
# compared as before (unsafe_hash), and never to be changed: plans share them.
@dataclass(slots=True, unsafe_hash=True)
class FieldDecision:
    """One field of the timesheet: its value, who decided it and why."""

    value: Any
    display: str
    decided_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class MappingProblem:
    kind: ProblemKind
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class CustomerToCreate:
    """A Kimai customer the sync creates first, then records as a :class:`KimaiLink`."""

    name: str
    link_scope: str
    link_key: str


@dataclass(frozen=True, slots=True)
class ProjectToCreate:
    """A Kimai project to create (allowing global activities); ``customer_id`` None: the
    plan's ``customer_to_create``."""

    name: str
    customer_id: str | None
    link_scope: str
    link_key: str
    global_activities: bool = True


@dataclass(slots=True)
class TimesheetPlan:
    """What one entry becomes in Kimai.

    ``draft`` is set only when the entry can be booked as it is. ``fields`` always explains what
    could be decided (``rule`` too, when one matched); ``begin`` and ``end`` are missing when the
    entry is skipped. ``project_to_create`` (and ``customer_to_create``) say what a rule wants
    created first, even when ``problems`` stand in the way: check ``bookable`` before creating.
    """

    entry_id: str
    marker: str
    draft: TimesheetDraft | None
    fields: dict[str, FieldDecision]
    problems: list[MappingProblem]
    skipped_reason: str | None = None
    # The work ends in the future: nothing is written until a run after its end.
    waiting_reason: str | None = None
    project_to_create: ProjectToCreate | None = None
    customer_to_create: CustomerToCreate | None = None
    rule_id: int | None = None

    @property
    def bookable(self) -> bool:
        """Nothing stands in the way: a draft now, or one after creating the project."""
        return not self.problems and self.skipped_reason is None and self.waiting_reason is None

    def draft_for_project(self, project_id: str) -> TimesheetDraft:
        """The draft once ``project_to_create`` exists in Kimai under ``project_id``."""
        if not self.bookable:
            raise ValueError("this plan has problems or is skipped: there is nothing to book")
        value = {name: decision.value for name, decision in self.fields.items()}
        return TimesheetDraft(
            begin=value["begin"],
            duration_seconds=value["duration"],
            project_id=project_id,
            activity_id=value["activity"],
            user_id=value["user"],
            description=value["description"],
            tags=value["tags"],
            billable=value["billable"],
        )
