"""Facts about a ticket that rules may ask about, named the same for every source.

Part of the connector contract. A time entry carries the ticket (key and title), the
organization and the work type (:mod:`apps.connectors.entry`); the rest (the ticket's customer,
its project, its queue or group, its tags) a source hands over per ticket as
:class:`TicketFacts`, and only when a rule asks. Each source connector declares which facts it
can provide (``SourceConnector.facts``) and what it calls them (``fact_labels``): the rule
editor offers only those conditions, with those words.

| fact | Zammad | Jira |
| --- | --- | --- |
| organization | the ticket's organization | the project's category |
| customer | the ticket's customer (a person) | — |
| project | — | the issue's project |
| group | the ticket's group | the issue's components (any of them) |
| work type | the time accounting type | the issue type |
| tags | the ticket's tags | the issue's labels |
| ticket | number and title | key and summary |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fact(StrEnum):
    ORGANIZATION = "organization"  # customer or organization
    CUSTOMER = "customer"  # the ticket's customer, a person
    PROJECT = "project"  # the source's own project
    GROUP = "group"  # queue or group
    WORK_TYPE = "work_type"
    TAGS = "tags"  # tags or labels
    TICKET = "ticket"  # key (number) and title


# What a fact is called when a source does not say (the words of the rule editor).
FACT_LABELS: dict[Fact, str] = {
    Fact.ORGANIZATION: "Organization",
    Fact.CUSTOMER: "Ticket customer",
    Fact.PROJECT: "Project",
    Fact.GROUP: "Group",
    Fact.WORK_TYPE: "Work type",
    Fact.TAGS: "Tag",
    Fact.TICKET: "Ticket",
}
# What every TimeEntry can carry: a source that declares nothing has these.
ENTRY_FACTS = frozenset({Fact.ORGANIZATION, Fact.WORK_TYPE, Fact.TICKET})


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """What rules may ask about a ticket beyond the entry, as one source knows it.

    ``None`` means "not known" (a rule that needs it stops with ``missing_ticket_details``);
    ``group_ids`` lists every group of a ticket that has several (Jira's components) and
    defaults to ``group_id`` alone.
    """

    ticket_id: str
    group_id: str | None = None
    group_name: str | None = None
    customer_id: str | None = None
    tags: tuple[str, ...] | None = None
    project_id: str | None = None
    project_name: str | None = None
    group_ids: tuple[str, ...] | None = None
    group_names: tuple[str, ...] = ()

    @property
    def groups(self) -> tuple[str, ...] | None:
        """Every group id of the ticket; None when the source did not say."""
        if self.group_ids is not None:
            return self.group_ids
        return None if self.group_id is None else (self.group_id,)
