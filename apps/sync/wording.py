"""Reasons as people read them: names where the stored text has ids.

Reasons and messages are stored naming people by id only ("Zammad agent #8 has no Kimai user"),
so forgetting a person never rewrites them; pages put the names back when they show them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from apps.gdpr.models import Person
from apps.mappings.models import MappingProfile

AGENT = re.compile(r"Zammad agent #([\w.@-]+)")
KIMAI_USER = re.compile(r"Kimai user #([\w.@-]+)")


def people_namer(texts: Iterable[str], profile: MappingProfile) -> Callable[[str], str]:
    """A function that names the agents and Kimai users these texts mention (one query)."""
    texts = list(texts)
    agents = {m for t in texts for m in AGENT.findall(t)}
    users = {m for t in texts for m in KIMAI_USER.findall(t)}
    names: dict[tuple[int, str], str] = {}
    if agents or users:
        people = Person.objects.filter(
            connection_id__in=[profile.source_id, profile.target_id],
            external_id__in=agents | users,
        )
        names = {(p.connection_id, p.external_id): p.label for p in people}

    def named(text: str) -> str:
        def agent(match: re.Match[str]) -> str:
            name = names.get((profile.source_id, match.group(1)))
            return f"Zammad agent {name}" if name else match.group(0)

        def user(match: re.Match[str]) -> str:
            name = names.get((profile.target_id, match.group(1)))
            return f"Kimai user {name}" if name else match.group(0)

        return KIMAI_USER.sub(user, AGENT.sub(agent, text))

    return named
