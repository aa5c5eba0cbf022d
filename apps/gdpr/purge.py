"""Forgetting one person everywhere, in one transaction, leaving one audit event.

Every registered section (apps/gdpr/registry.py) erases or pseudonymizes its rows; the Person
rows keep only their ids, kind and time zone, and ``purged_at``. The append-only audit trail is
not rewritten: its events hold ids only, and the personal values some carry (descriptions) live
in detail rows that are erased here (docs/ARCHITECTURE.md, "Privacy"). The sync keeps working:
user mappings stay, Kimai is not touched, and a forgotten person is never filled in again from
Zammad or Kimai.
"""

from __future__ import annotations

from django.db import transaction

from apps.core import audit
from apps.gdpr.models import Person
from apps.gdpr.registry import personal_data
from apps.gdpr.subject import Subject


class AlreadyPurged(Exception):
    pass


def purge(subject: Subject, actor: str) -> dict[str, int]:
    """Forget ``subject``; returns the rows changed per section."""
    with transaction.atomic():
        people = list(Person.objects.select_for_update().filter(pk__in=subject.person_ids))
        if all(p.purged_at is not None for p in people):
            raise AlreadyPurged(f"Person #{subject.primary_id} was already purged.")
        # People last: the other sections find rows through them.
        sections = sorted(personal_data(), key=lambda s: s.key == "people")
        report = {section.key: section.forget(subject) for section in sections}
        audit.record(
            actor, "person.purge", "person", subject.primary_id,
            after={"people": sorted(subject.person_ids), "rows": report},
        )  # fmt: skip
    return report
