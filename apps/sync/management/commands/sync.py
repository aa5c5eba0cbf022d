from __future__ import annotations

import time
from datetime import datetime, timedelta
from datetime import time as day_time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from apps.core.audit import SYSTEM
from apps.core.collector import tune_for_batch_work
from apps.mappings.services import NotConfigured, current_pair, profile_for
from apps.sync import engine
from apps.sync.models import Conflict, Run
from apps.sync.services import RunRequestInvalid, request_run


def _day(value: str) -> datetime:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError(f"{value!r} is not a date like 2026-11-01") from None
    return datetime.combine(day, day_time(0), tzinfo=timezone.get_current_timezone())


class Command(BaseCommand):
    help = (
        "Sync Zammad time accountings into Kimai now, in this process, and print a summary. "
        "Scopes: --window FROM TO (dates, TO inclusive), --incremental, --ticket ZAMMAD_TICKET_ID."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        scope = parser.add_mutually_exclusive_group(required=True)
        scope.add_argument("--window", nargs=2, metavar=("FROM", "TO"))
        scope.add_argument("--incremental", action="store_true")
        scope.add_argument("--ticket", metavar="TICKET_ID")
        parser.add_argument("--dry-run", action="store_true", help="Plan only; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        tune_for_batch_work()
        kwargs: dict[str, Any] = {"scope": Run.Scope.INCREMENTAL}
        if options["window"]:
            start, end = (_day(v) for v in options["window"])
            kwargs = {"scope": Run.Scope.WINDOW, "start": start, "end": end + timedelta(days=1)}
        elif options["ticket"]:
            kwargs = {"scope": Run.Scope.TICKET, "ticket_id": options["ticket"]}
        try:
            profile = profile_for(*current_pair())
        except NotConfigured as error:
            raise CommandError(str(error)) from None
        started = time.monotonic()
        try:
            run, _ = request_run(
                profile, trigger=Run.Trigger.CLI, actor=SYSTEM, dry_run=options["dry_run"],
                enqueue=False, **kwargs,
            )  # fmt: skip
        except RunRequestInvalid as error:
            raise CommandError(str(error)) from None
        finished = engine.execute_run(run.pk)
        if finished is None or finished.status == Run.Status.QUEUED:
            raise CommandError("Another run of this pair is in progress; this one will follow it.")
        self._summary(finished, time.monotonic() - started)
        if finished.status in (Run.Status.FAILED, Run.Status.PARTIAL, Run.Status.INTERRUPTED):
            raise CommandError(finished.error or f"The run ended {finished.status}.")

    def _summary(self, run: Run, seconds: float) -> None:
        label = "Planned (dry run)" if run.dry_run else "Synced"
        self.stdout.write(f"{label}: {run.describe_scope()} — run {run.pk}, {run.status}.")
        for outcome, count in sorted(run.counts.items()):
            self.stdout.write(f"  {outcome:<10} {count:>6}")
        if run.results:
            self.stdout.write(
                "  Kimai: " + ", ".join(f"{count} {what}" for what, count in run.results.items())
            )
        open_conflicts = Conflict.objects.filter(
            profile=run.profile, status=Conflict.Status.OPEN
        ).count()
        self.stdout.write(
            f"{run.total} entries, {run.requests_made} HTTP requests, {seconds:.1f} s; "
            f"{open_conflicts} open conflict(s) in total."
        )
