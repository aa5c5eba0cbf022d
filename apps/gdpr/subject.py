"""Who an export or a purge is about: one person, as every row this service holds for them.

A human appears as several ``Person`` rows: the Zammad agent, the Kimai user, perhaps a ticket
customer. Asked by e-mail, every row with that address (ignoring case); asked by id, that row.
Either way the rows a one-to-one user mapping links to them are added (registered by the
mappings app), so the agent and their Kimai user are exported and purged together; a Kimai user
several agents book to is nobody's alone and is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.gdpr.models import Person

# Given Person ids, the ids of the rows linked to them (a user mapping's other side).
_RELATIVES: list[Callable[[set[int]], set[int]]] = []


def register_relatives(find: Callable[[set[int]], set[int]]) -> None:
    _RELATIVES.append(find)


class SubjectNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Subject:
    # (Person id, connection id, external id, kind) of each row.
    rows: tuple[tuple[int, int, str, str], ...]

    @property
    def person_ids(self) -> set[int]:
        return {pk for pk, _, _, _ in self.rows}

    @property
    def primary_id(self) -> int:
        return min(self.person_ids)

    def external_ids(self, kind: str) -> set[str]:
        """The vendor's ids of the rows of one kind (e.g. the Kimai user ids)."""
        return {ext for _, _, ext, row_kind in self.rows if row_kind == kind}


def find_subject(email: str | None = None, person_id: int | None = None) -> Subject:
    """The person asked for, with their linked rows; SubjectNotFound when nobody matches."""
    if person_id is not None:
        ids = set(Person.objects.filter(pk=person_id).values_list("pk", flat=True))
    elif email and email.strip():
        ids = set(
            Person.objects.filter(email__iexact=email.strip(), purged_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
    else:
        raise ValueError("Give an e-mail address or a person id.")
    if not ids:
        raise SubjectNotFound(
            f"Nobody with the e-mail address {email.strip()!r} is known here."
            if person_id is None and email
            else f"There is no person #{person_id}."
        )
    for find in _RELATIVES:
        ids |= find(set(ids))
    rows = Person.objects.filter(pk__in=ids).order_by("pk")
    return Subject(tuple(rows.values_list("pk", "connection_id", "external_id", "kind")))


def subject_people(subject: Subject) -> list[Person]:
    return list(Person.objects.filter(pk__in=subject.person_ids).order_by("pk"))
