from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.mfa import reencrypt_authenticators
from apps.connectors.models import Connection


class Command(BaseCommand):
    help = (
        "Re-encrypt stored tokens and two-factor secrets with the current key. After rotating "
        "SECRET_KEY (old one in SECRET_KEY_FALLBACKS) or prepending a salt to "
        "FIELD_ENCRYPTION_SALTS, run this, then drop the old key or salt."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = 0
        with transaction.atomic():
            for connection in Connection.objects.select_for_update():
                # Reading decrypts with any known key; saving encrypts with the first one.
                connection.save(update_fields=["token"])
                count += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the tokens of {count} connection(s)."))
        authenticators = reencrypt_authenticators()
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted {authenticators} two-factor secret(s) of the admin.")
        )
