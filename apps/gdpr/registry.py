"""What other apps tell the GDPR tools: which of their rows expire, and what they hold about a
person. ``gdpr`` sits at the bottom of the layers, so the apps that own the tables register
here from their ``AppConfig.ready`` (the way ``register_history`` works for deletions)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Model, Q, QuerySet

if TYPE_CHECKING:
    from apps.gdpr.subject import Subject


@dataclass(frozen=True)
class Expiring:
    """Rows that expire: ``expired(cutoff)`` selects those older than the cutoff.

    ``policy_field`` names the RetentionPolicy field holding the days. Targets are pruned in the
    order registered (a run's entries before the run). ``delete_batch`` deletes rows by primary
    key (default: a plain DELETE); ``prune_batch(cutoff, size)`` instead deletes up to ``size``
    expired rows itself (the audit trail's database function)."""

    key: str
    label: str
    policy_field: str
    expired: Callable[[datetime], QuerySet[Any]]
    delete_batch: Callable[[list[int]], int] | None = None
    prune_batch: Callable[[datetime, int], int] | None = None


@dataclass(frozen=True)
class PersonalData:
    """One kind of row that can hold something about a person.

    ``rows(subject)`` yields JSON-ready dicts for the export (streamed: read with
    ``iterator``); ``count(subject)`` says how many; ``forget(subject)`` removes or
    pseudonymizes them inside the purge's transaction and returns how many rows it changed."""

    key: str
    label: str
    rows: Callable[[Subject], Iterator[dict[str, Any]]]
    count: Callable[[Subject], int]
    forget: Callable[[Subject], int]


_EXPIRING: dict[str, Expiring] = {}
_PERSONAL: dict[str, PersonalData] = {}
# Given a subject, a filter on AuditEvent for the events about rows of theirs an app owns
# (e.g. the sync's conflicts of their entries).
_AUDIT_REFS: list[Callable[[Subject], Q]] = []


def register_audit_refs(refs: Callable[[Subject], Q]) -> None:
    _AUDIT_REFS.append(refs)


def audit_refs(subject: Subject) -> list[Q]:
    return [refs(subject) for refs in _AUDIT_REFS]


def register_expiring(target: Expiring) -> None:
    _EXPIRING[target.key] = target


def register_personal_data(section: PersonalData) -> None:
    _PERSONAL[section.key] = section


def expiring() -> list[Expiring]:
    return list(_EXPIRING.values())


def personal_data() -> list[PersonalData]:
    return list(_PERSONAL.values())


def model_rows(queryset: QuerySet[Any], fields: list[str], chunk: int = 2000) -> Iterator[dict]:
    """The export's rows of a queryset: the named fields, read in chunks (never all at once)."""
    yield from queryset.order_by("pk").values(*fields).iterator(chunk_size=chunk)


def plain_delete(model: type[Model]) -> Callable[[list[int]], int]:
    def delete(ids: list[int]) -> int:
        return int(model._default_manager.filter(pk__in=ids).delete()[1].get(model._meta.label, 0))

    return delete
