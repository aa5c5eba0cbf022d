"""Deleting a connection: what would go with it, and history that disabling keeps instead.

Deleting a connection deletes everything hanging off it in PostgreSQL (its Zammad → Kimai pairs
with their rules, mappings, runs, conflicts and decisions). So nothing is deleted by one click:
the page lists what goes, and the API refuses a connection with history unless asked to delete
it anyway. Disabling keeps it all.

What counts as history is known by the apps that keep it: higher layers register a counter with
:func:`register_history` (this module never imports them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, router, transaction
from django.db.models.deletion import Collector, ProtectedError, RestrictedError

from apps.connectors.models import Connection, WebhookDelivery

HistoryCounter = Callable[[Connection], int]
_HISTORY: dict[str, HistoryCounter] = {}


def register_history(label: str, count: HistoryCounter) -> None:
    """``label`` (e.g. "sync runs") and how many of them a connection has."""
    _HISTORY[label] = count


register_history(
    "webhook deliveries", lambda c: WebhookDelivery.objects.filter(connection=c).count()
)


class DeletionRefused(Exception):
    """The connection was not deleted; ``message`` says why and what to do instead."""

    def __init__(self, message: str, history: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.history = history or {}


@dataclass(frozen=True)
class DeletionPlan:
    connection: Connection
    goes: list[tuple[str, int]]  # (what, how many), everything a delete removes with it
    history: dict[str, int]  # what of that is history (runs, conflicts, deliveries...)


def history_of(connection: Connection) -> dict[str, int]:
    counts = {label: count(connection) for label, count in _HISTORY.items()}
    return {label: n for label, n in counts.items() if n}


def deletion_plan(connection: Connection) -> DeletionPlan:
    """Everything ``connection.delete()`` would remove, counted (Django's own cascade)."""
    collector = Collector(using=router.db_for_write(Connection))
    collector.collect([connection])
    totals: dict[str, int] = {}
    for model, instances in collector.data.items():
        name = str(model._meta.verbose_name_plural)
        totals[name] = totals.get(name, 0) + len(instances)
    for queryset in collector.fast_deletes:
        name = str(queryset.model._meta.verbose_name_plural)
        totals[name] = totals.get(name, 0) + queryset.count()
    goes = sorted(((name, n) for name, n in totals.items() if n), key=lambda row: row[0])
    return DeletionPlan(connection, goes, history_of(connection))


def describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {label}" for label, n in counts.items())


def delete_connection(connection: Connection, *, force: bool) -> None:
    """Delete ``connection`` and what hangs off it; refuse when it has history, unless
    ``force``. Never half-done: one transaction."""
    history = history_of(connection)
    if history and not force:
        raise DeletionRefused(
            f"{connection.name} has history ({describe(history)}), which deleting it would "
            "erase. Disable it instead (it keeps everything), or delete it anyway with "
            "force=true.",
            history,
        )
    try:
        with transaction.atomic():
            connection.delete()
    except (IntegrityError, ProtectedError, RestrictedError) as error:
        # e.g. a run that wrote a row for this connection while it was being deleted
        raise DeletionRefused(
            f"{connection.name} could not be deleted ({error.__class__.__name__}); nothing was "
            "deleted. Try again, or disable it instead.",
            history,
        ) from None


def disable_connection(connection: Connection) -> None:
    """Stop using it, keep everything (audited like any change of a connection)."""
    if connection.enabled:
        connection.enabled = False
        connection.save(update_fields=["enabled", "updated_at"])
