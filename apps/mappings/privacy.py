"""What the mappings hold about a person: user mappings, by Person id only."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from apps.gdpr.models import Person
from apps.gdpr.registry import PersonalData, model_rows, register_personal_data
from apps.gdpr.subject import Subject, register_relatives
from apps.mappings.models import UserMapping


def _mappings(subject: Subject) -> QuerySet[UserMapping]:
    ids = subject.person_ids
    return UserMapping.objects.filter(Q(agent__in=ids) | Q(kimai_user__in=ids))


def _mapped_to(ids: set[int]) -> set[int]:
    """The other side of each user mapping of these people, when the mapping is one to one: a
    Kimai user that several agents book to (a shared or fallback account) is nobody's alone, so
    it is neither added to an agent's purge nor does it bring in every agent mapped to it."""
    pairs = list(
        UserMapping.objects.filter(Q(agent__in=ids) | Q(kimai_user__in=ids)).values_list(
            "agent_id", "kimai_user_id"
        )
    )
    users = {user for _, user in pairs}
    shared = set(
        UserMapping.objects.filter(kimai_user__in=users)
        .values("kimai_user")
        .annotate(agents=Count("agent", distinct=True))
        .filter(agents__gt=1)
        .values_list("kimai_user", flat=True)
    )
    return {pk for agent, user in pairs if user not in shared for pk in (agent, user)}


def _keep_matches(subject: Subject) -> int:
    """Save the e-mail matches of their agents that no mapping holds yet: once the e-mail
    addresses are erased, the sync could no longer match them, and their entries would stop."""
    made = 0
    agents = Person.objects.filter(pk__in=subject.person_ids, kind=Person.Kind.AGENT)
    for agent in agents.exclude(email=""):
        mapped = set(UserMapping.objects.filter(agent=agent).values_list("target_id", flat=True))
        users = Person.objects.filter(
            kind=Person.Kind.TARGET_USER, email__iexact=agent.email, active=True,
            purged_at__isnull=True,
        ).exclude(connection_id__in=mapped)  # fmt: skip
        for user in users:
            UserMapping.objects.create(
                agent=agent, target_id=user.connection_id, kimai_user=user,
                method=UserMapping.Method.EMAIL,
            )  # fmt: skip
            made += 1
    return made


def register() -> None:
    register_relatives(_mapped_to)
    register_personal_data(
        PersonalData(
            "user_mappings", "User mappings (kept, ids only: the sync goes on with them)",
            rows=lambda s: model_rows(
                _mappings(s), ["id", "agent_id", "target_id", "kimai_user_id", "method"]
            ),
            count=lambda s: _mappings(s).count(),
            forget=_keep_matches,
        )
    )  # fmt: skip
