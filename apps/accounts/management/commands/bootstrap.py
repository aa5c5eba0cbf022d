from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from apps.accounts.services import ensure_admin
from apps.core.urls_info import login_url


class Command(BaseCommand):
    help = "Prepare the database for serving: apply migrations and create the admin on first start."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--address",
            default=None,
            help="Where the service will answer (run passes the address it binds); the login "
            "address printed uses PUBLIC_URL when set.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        result = ensure_admin()
        if result is None:
            from django.contrib.auth import get_user_model

            if not get_user_model().objects.filter(is_superuser=True).exists():
                self.stdout.write(
                    self.style.WARNING(
                        "No admin user yet: set ADMIN_EMAIL and ADMIN_PASSWORD, "
                        "or run `manage.py createadmin`."
                    )
                )
            return
        self.stdout.write(self.style.SUCCESS(f"Created the admin user {result.email}."))
        self.stdout.write(f"Log in at {login_url(options['address'])} with e-mail {result.email}")
        if result.generated_password:
            self.stdout.write(
                f"Generated password (shown once; change it after logging in, or reset it "
                f"with `manage.py createadmin`): {result.generated_password}"
            )
