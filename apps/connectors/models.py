from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from encrypted_fields.fields import EncryptedCharField
from pydantic import BaseModel

from apps.connectors.base import CheckReport, Connector, Role
from apps.connectors.registry import (
    UnknownConnectorKind,
    build_connector,
    connector_class,
    is_available,
)


class Connection(models.Model):
    """One configured Zammad or Kimai (or any installed kind): where it is and how to log in.

    ``kind`` has no choices: the kinds are the installed connectors (apps/connectors/registry.py),
    which change without a migration; a row whose kind was uninstalled stays and says so.
    """

    kind = models.CharField(max_length=30)
    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(max_length=500)
    # Fernet-encrypted at rest (keys from SECRET_KEY and SALT_KEY); never returned or logged.
    token = EncryptedCharField(max_length=2000)
    settings = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    last_checked = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_check = models.JSONField(null=True, blank=True)
    # Zammad webhooks (sources only): the HMAC secret, and the previous one during a rotation.
    webhook_secret = EncryptedCharField(max_length=200, blank=True, null=True)
    webhook_previous_secret = EncryptedCharField(max_length=200, blank=True, null=True)
    webhook_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def kind_available(self) -> bool:
        return is_available(self.kind)

    @property
    def kind_problem(self) -> str:
        """Why this connection cannot be used as it is ("" when its kind is installed)."""
        try:
            connector_class(self.kind)
        except UnknownConnectorKind as missing:
            return missing.message
        return ""

    @property
    def role(self) -> Role | None:
        """Source or target; None when the connection's kind is not installed."""
        return connector_class(self.kind).role if is_available(self.kind) else None

    @property
    def token_hint(self) -> str:
        """Enough to recognise a token, never enough to use it."""
        token = self.token or ""
        if len(token) <= 8:
            return "••••" if token else ""
        return f"••••{token[-4:]}"

    def settings_model(self) -> BaseModel:
        return connector_class(self.kind).settings_model.model_validate(self.settings or {})

    def connector(self, **options: Any) -> Connector:
        return build_connector(
            self.kind,
            self.base_url,
            self.token,
            self.settings or {},
            connection_id=self.pk,
            **options,
        )

    def record_check(self, report: CheckReport) -> None:
        self.last_checked = timezone.now()
        self.last_check = report.as_dict()
        self.last_error = "" if report.ok else "; ".join(report.problems) or "check failed"
        Connection.objects.filter(pk=self.pk).update(
            last_checked=self.last_checked, last_check=self.last_check, last_error=self.last_error
        )


class WebhookDelivery(models.Model):
    """One webhook request Zammad sent that passed the signature check; the minimum only.

    Kept: Zammad's delivery id (the same across its retries, so the dedup key), the trigger name,
    the ticket, when it arrived, what we did and the run it queued. Never the payload: it carries
    the article body and customer details we have no use for.
    """

    class Outcome(models.TextChoices):
        QUEUED = "queued", "ticket sync queued"
        MERGED = "merged", "joined a ticket sync already waiting"
        DUPLICATE = "duplicate", "a retry of a delivery already received"
        NOT_CONFIGURED = "not_configured", "no Kimai connection to sync into"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.CharField(max_length=100)
    trigger = models.CharField(max_length=250, blank=True)
    ticket_id = models.CharField(max_length=64)
    ticket_number = models.CharField(max_length=50, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    run = models.ForeignKey(
        "sync.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "delivery_id"], name="one_row_per_zammad_delivery"
            )
        ]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} (ticket {self.ticket_id})"


class WebhookRejection(models.Model):
    """Refused webhook requests (unsigned, wrongly signed, too large, rate limited), counted per
    source address and minute: one row however many arrive, so callers without the secret can
    never grow a table without bound (reliability.md, "GDPR"). Pruned by the retention job."""

    source = models.CharField(max_length=64)
    minute = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)
    last_reason = models.CharField(max_length=200)
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-minute", "source"]
        constraints = [
            models.UniqueConstraint(fields=["source", "minute"], name="one_rejection_row_a_minute")
        ]

    def __str__(self) -> str:
        return f"{self.count} refused from {self.source} at {self.minute:%H:%M}"
