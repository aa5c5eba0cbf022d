from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.gdpr.retention import BATCH, due, prune_expired


class Command(BaseCommand):
    help = (
        "Delete what is older than the retention policy now, as the nightly job does "
        "(--dry-run: only say how many rows of each kind would go)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--batch", type=int, default=BATCH)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["dry_run"]:
            for row in due():
                self.stdout.write(f"{row.rows} {row.label} (older than {row.days} days)")
            return
        report = prune_expired(batch=max(1, options["batch"]))
        for key, rows in report.items():
            self.stdout.write(f"deleted {rows} {key}")
