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
    plan: Run | None = None,
) -> tuple[Run, bool]:
    """Queue a run, or return the identical one already waiting. Returns (run, created).

    The run row and its task are written in one transaction, so a caller's own transaction
    (the webhook's delivery row) commits all three together or none. ``plan``: the dry run
    this one carries out (a confirmed plan).
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
                    dry_run=dry_run, coalesce_key=key, plan=plan,
                )  # fmt: skip
        except IntegrityError:
            waiting = Run.objects.filter(
                profile=profile, coalesce_key=key, status=Run.Status.QUEUED
            ).first()
            if waiting is not None:
                if plan is not None and waiting.plan_id is None:
                    Run.objects.filter(pk=waiting.pk).update(plan=plan)
                    waiting.plan = plan
                return waiting, False
            raise
        if enqueue:
            enqueue_run(run)
    return run, True


def confirm_plan(planned: Run, actor: str, trigger: str = Run.Trigger.MANUAL) -> Run:
    """Carry out a finished dry run: the real run of the same scope, linked to the plan.

    A plan is confirmed once: asking again returns the run it already became.
    """
    if not planned.dry_run or planned.status != Run.Status.SUCCEEDED:
        raise RunRequestInvalid("only a finished plan (a dry run that succeeded) can be confirmed")
    with transaction.atomic():
        # Two clicks on Confirm wait for each other here; the second finds the first's run.
        Run.objects.select_for_update().filter(pk=planned.pk).first()
        earlier = planned.confirmations.order_by("created_at").first()
        if earlier is not None:
            return earlier
        run, _ = request_run(
            planned.profile, scope=planned.scope, trigger=trigger, actor=actor,
            start=planned.window_start, end=planned.window_end, ticket_id=planned.ticket_id,
            plan=planned,
        )  # fmt: skip
    return run


def enqueue_run(run: Run) -> None:
    # Tasks carry the run id only (django-q2 pickles arguments and keeps them).
    async_task(
        TASK,
        run.pk,
        task_name=f"sync-run-{run.pk}",
        timeout=settings.Q_CLUSTER["timeout"],
        sync=settings.TASKS_INLINE,
    )
