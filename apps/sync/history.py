"""What a connection's pairs have done: the history deleting the connection would erase."""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Model, Q

from apps.connectors.models import Connection
from apps.sync.models import Conflict, Link, Run


def _of_pairs(model: type[Model]) -> Callable[[Connection], int]:
    def count(connection: Connection) -> int:
        mine = Q(profile__source=connection) | Q(profile__target=connection)
        return int(model._default_manager.filter(mine).count())

    return count


HISTORY: dict[str, Callable[[Connection], int]] = {
    "sync runs": _of_pairs(Run),
    "timesheets linked to Zammad entries": _of_pairs(Link),
    "conflicts and decisions": _of_pairs(Conflict),
}
