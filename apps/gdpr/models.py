from __future__ import annotations

from django.db import models
from django.utils import timezone


class Person(models.Model):
    """Everything personal we keep about someone, in one place (GDPR by design).

    Zammad agents and Kimai users are rows here, keyed by connection and the vendor's id. Other
    tables (user mappings, sync items, conflicts, audit events) refer to a person by this row
    or by ``(connection, external_id)`` and keep no copy of names or e-mail addresses, so
    forgetting someone means changing this table only, and the append-only audit never has to
    be rewritten.
    """

    class Kind(models.TextChoices):
        AGENT = "agent", "Zammad agent"
        TARGET_USER = "target_user", "Kimai user"
        # A ticket customer a mapping rule names (chosen by name in the rule editor).
        CUSTOMER = "customer", "Zammad ticket customer"

    connection = models.ForeignKey(
        "connectors.Connection", on_delete=models.CASCADE, related_name="people"
    )
    external_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    username = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    active = models.BooleanField(default=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="person_unique_per_connection"
            )
        ]
        indexes = [models.Index(fields=["email"])]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        if self.purged_at:
            return f"forgotten person #{self.pk}"
        return self.name or self.username or self.email or f"#{self.external_id}"


class RetentionPolicy(models.Model):
    """How long history is kept (one row). The nightly job (apps/gdpr/retention.py) deletes
    what is older, in batches, and records what it deleted here and in the audit trail."""

    SINGLETON = 1

    runs_days = models.PositiveSmallIntegerField(
        default=90, help_text="Finished sync runs and their entries."
    )
    conflicts_days = models.PositiveSmallIntegerField(
        default=90, help_text="Resolved conflicts (skipped ones are decisions and stay)."
    )
    deliveries_days = models.PositiveSmallIntegerField(
        default=30, help_text="Webhook deliveries and counts of refused webhook requests."
    )
    audit_days = models.PositiveSmallIntegerField(default=400, help_text="Audit events.")
    task_results_days = models.PositiveSmallIntegerField(
        default=30, help_text="The worker's finished task records (django-q2)."
    )
    prune_hour_utc = models.PositiveSmallIntegerField(default=3)
    last_pruned_at = models.DateTimeField(null=True, blank=True)
    # What the last prune deleted: {"run_items": 120000, "runs": 40, ...}.
    last_report = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "retention policy"

    @classmethod
    def load(cls) -> RetentionPolicy:
        policy, _ = cls.objects.get_or_create(pk=cls.SINGLETON)
        return policy
