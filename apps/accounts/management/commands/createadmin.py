from __future__ import annotations

import getpass
import secrets
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.services import DEFAULT_LOCAL_ADMIN_EMAIL, set_admin
from apps.core.urls_info import login_url


class Command(BaseCommand):
    help = (
        "Create the admin user, or reset its password and lift every login throttle of the "
        "account. Without --password, reads ADMIN_PASSWORD, asks on a terminal, or generates "
        "one and prints it once. --disable-2fa also switches the second factor off."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default=settings.ADMIN_EMAIL or DEFAULT_LOCAL_ADMIN_EMAIL)
        parser.add_argument("--password", default=None)
        parser.add_argument(
            "--generate", action="store_true", help="Generate a password instead of asking."
        )
        parser.add_argument(
            "--disable-2fa",
            action="store_true",
            help="Switch two-factor authentication off (authenticator app lost with its codes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"] or settings.ADMIN_PASSWORD
        generated = False
        if not password:
            if options["generate"] or not sys.stdin.isatty():
                password, generated = secrets.token_urlsafe(12), True
            else:
                password = getpass.getpass("Password for the admin: ")
        try:
            result = set_admin(options["email"], password, disable_2fa=options["disable_2fa"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        verb = "Created" if result.created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} the admin user {result.email}."))
        self.stdout.write(f"Log in at {login_url()} with e-mail {result.email}")
        if options["disable_2fa"]:
            self.stdout.write("Two-factor authentication is off; switch it on again under Account.")
        if generated:
            self.stdout.write(f"Password (shown once, change it after logging in): {password}")
