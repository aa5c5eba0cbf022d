from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for integrators and print it once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="What the key is for, e.g. 'billing-export'.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1 to 100 characters long")
        key, plaintext = ApiKey.issue(name)
        self.stdout.write(self.style.SUCCESS(f"Created API key {key.name!r} ({key.prefix})."))
        self.stdout.write("Send it as `Authorization: Bearer <key>`. It is shown only now:")
        self.stdout.write(plaintext)
