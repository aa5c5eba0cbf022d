from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

API_KEY_PREFIX = "zks"
# `issue` makes 8 lower-case hex digits; the column holds 12.
KEY_PREFIX = re.compile(r"[0-9a-f]{1,12}")


class User(AbstractUser):
    """The admin user. V1 has exactly one; the model exists so later versions can add more."""

    email = models.EmailField(unique=True)


def hash_api_key(key: str) -> str:
    # API keys are 256-bit random strings, so a fast unsalted hash is enough (as for GitHub
    # tokens); a slow KDF would only make every API request slower.
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A key for integrators: `Authorization: Bearer zks_<prefix>_<secret>`. Only a hash is kept."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def issue(cls, name: str) -> tuple[ApiKey, str]:
        """Create a key and return it with its plaintext, which is never stored."""
        prefix = secrets.token_hex(4)
        plaintext = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        key = cls.objects.create(name=name, prefix=prefix, key_hash=hash_api_key(plaintext))
        return key, plaintext

    @classmethod
    def authenticate(cls, plaintext: str) -> ApiKey | None:
        parts = plaintext.split("_", 2)
        # Only a well-formed prefix reaches the database: a caller's NUL byte or a megabyte of
        # text must be a plain "no" (401), not a database error.
        if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not KEY_PREFIX.fullmatch(parts[1]):
            return None
        key = cls.objects.active().filter(prefix=parts[1]).first()
        if key is None or not hmac.compare_digest(key.key_hash, hash_api_key(plaintext)):
            return None
        now = timezone.now()
        # Record use at most once a minute: an API key must not cost a write per request.
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            cls.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return key

    def revoke(self) -> bool:
        from apps.core import audit

        updated = ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        self.refresh_from_db(fields=["revoked_at"])
        if updated:
            audit.record(audit.current_actor(), "api_key.revoke", "api_key", self.pk,
                         after={"name": self.name, "prefix": self.prefix})  # fmt: skip
        return updated == 1
