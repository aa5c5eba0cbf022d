"""Who did something, in words: the admin's e-mail, the API key's name, "the schedule".

Audit events, runs and conflicts store an actor as a short stable key (``admin:3``,
``api-key:ab12cd34``, ``schedule``, ``webhook``, ``system``) so renaming a key or changing the
admin's address never rewrites history; pages and exports show these words instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from apps.accounts.models import ApiKey, User
from apps.core.audit import SCHEDULE, SYSTEM, WEBHOOK

FIXED = {
    SCHEDULE: "the schedule",
    WEBHOOK: "a Zammad webhook",
    SYSTEM: "the system",
    "anonymous": "someone not logged in",
}


def actor_labels(actors: Iterable[str]) -> dict[str, str]:
    """Every actor given, in words (two queries at most, whatever the number of actors)."""
    actors = set(actors)
    labels = {actor: FIXED[actor] for actor in actors if actor in FIXED}
    admins = {a.split(":", 1)[1] for a in actors if a.startswith("admin:")}
    ids = [int(i) for i in admins if i.isdigit()]
    if ids:
        for user in User.objects.filter(pk__in=ids).only("email"):
            labels[f"admin:{user.pk}"] = user.email
    prefixes = {a.split(":", 1)[1] for a in actors if a.startswith("api-key:")}
    if prefixes:
        for key in ApiKey.objects.filter(prefix__in=prefixes).only("prefix", "name"):
            labels[f"api-key:{key.prefix}"] = f"API key “{key.name}”"
    for actor in actors - labels.keys():  # a deleted admin or key: say what it was
        kind, _, ident = actor.partition(":")
        labels[actor] = {"admin": f"a former admin (#{ident})", "api-key": "a deleted API key"}.get(
            kind, actor
        )
    return labels


def actor_label(actor: str) -> str:
    return actor_labels([actor])[actor]
