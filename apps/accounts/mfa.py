"""allauth.mfa, adapted: second-factor secrets are encrypted at rest like connector tokens."""

from __future__ import annotations

from functools import cache

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import transaction
from encrypted_fields.fields import EncryptedTextField

# The keys allauth encrypts in Authenticator.data: the TOTP secret and the recovery codes' seed.
SECRET_KEYS = ("secret", "seed")


def _cipher() -> Fernet | MultiFernet:
    # The same Fernet keys as the encrypted fields (SECRET_KEY and FIELD_ENCRYPTION_SALTS, the
    # first encrypts, all decrypt), so `reencrypt_secrets` rotates these too.
    salts = settings.SALT_KEY if isinstance(settings.SALT_KEY, list) else [settings.SALT_KEY]
    return _cipher_for(settings.SECRET_KEY, tuple(settings.SECRET_KEY_FALLBACKS), tuple(salts))


@cache
def _cipher_for(
    secret_key: str, fallbacks: tuple[str, ...], salts: tuple[str, ...]
) -> Fernet | MultiFernet:
    # Deriving the keys takes 100,000 PBKDF2 rounds each: once per process and key set.
    return EncryptedTextField().f


class EncryptingMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return _cipher().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return _cipher().decrypt(encrypted_text.encode()).decode()


@transaction.atomic
def reencrypt_authenticators() -> int:
    """Re-encrypt every second-factor secret with the current key; returns how many."""
    adapter = EncryptingMFAAdapter()
    count = 0
    for authenticator in Authenticator.objects.select_for_update():
        data = dict(authenticator.data)
        for key in SECRET_KEYS:
            if key in data:
                data[key] = adapter.encrypt(adapter.decrypt(data[key]))
        authenticator.data = data
        authenticator.save(update_fields=["data"])
        count += 1
    return count
