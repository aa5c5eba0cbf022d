"""Asking for runs: coalesced while queued, handed to the worker by id, in one transaction."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django_q.tasks import async_task

from apps.mappings.models import MappingProfile
from apps.sync.models import Run

TASK = "apps.sync.tasks.execute_run"


class RunRequestInvalid(ValueError):
    """A run cannot be asked for like this; the message says why."""


def coalesce_key(
    scope: str, dry_run: bool, start: datetime | None, end: datetime | None, ticket_id: str
) -> str:
    parts = [scope, "dry" if dry_run else "real"]
    if scope == Run.Scope.WINDOW:
        parts += [start.isoformat() if start else "", end.isoformat() if end else ""]
    if scope == Run.Scope.TICKET:
        parts.append(ticket_id)
    return ":".join(parts)


def request_run(
    profile: MappingProfile,
    *,
    scope: str,
    trigger: str,
    actor: str,
    dry_run: bool = False,
    start: datetime | None = None,
    end: datetime | None = None,
    ticket_id: str = "",
    enqueue: bool = True,
) -> tuple[Run, bool]:
    """Queue a run, or return the identical one already waiting. Returns (run, created).

    The run row and its task are written in one transaction, so a caller's own transaction
    (the webhook's delivery row) commits all three together or none.
    """
    if scope not in Run.Scope.values:
        raise RunRequestInvalid(f"scope must be one of {', '.join(Run.Scope.values)}")
    if scope == Run.Scope.WINDOW:
        if start is None or end is None:
            raise RunRequestInvalid("a window run needs a start and an end")
        if start >= end:
            raise RunRequestInvalid("the window's start must be before its end")
    if scope == Run.Scope.TICKET and not ticket_id.strip():
        raise RunRequestInvalid("a ticket run needs the Zammad ticket id")
    if scope == Run.Scope.TICKET and not (
        ticket_id.strip().isascii() and ticket_id.strip().isdigit()
    ):
        raise RunRequestInvalid(
            f"the Zammad ticket id is a whole number (the id, not the ticket number with #), "
            f"not {ticket_id.strip()[:40]!r}"
        )
    key = coalesce_key(scope, dry_run, start, end, ticket_id)
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = Run.objects.create(
                    profile=profile, trigger=trigger, actor=actor, scope=scope,
                    window_start=start, window_end=end, ticket_id=ticket_id.strip(),
                    dry_run=dry_run, coalesce_key=key,
                )  # fmt: skip
        except IntegrityError:
            waiting = Run.objects.filter(
                profile=profile, coalesce_key=key, status=Run.Status.QUEUED
            ).first()
            if waiting is not None:
                return waiting, False
            raise
        if enqueue:
            enqueue_run(run)
    return run, True


def enqueue_run(run: Run) -> None:
    # Tasks carry the run id only (django-q2 pickles arguments and keeps them).
    async_task(
        TASK,
        run.pk,
        task_name=f"sync-run-{run.pk}",
        timeout=settings.Q_CLUSTER["timeout"],
        sync=settings.TASKS_INLINE,
    )
