from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkerHeartbeatQuerySet(models.QuerySet["WorkerHeartbeat"]):
    def alive(self) -> WorkerHeartbeatQuerySet:
        cutoff = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE)
        return self.filter(seen_at__gte=cutoff)


class WorkerHeartbeat(models.Model):
    """Written every few seconds by each running `manage.py worker` while its cluster lives."""

    name = models.CharField(max_length=200, unique=True)
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField(db_index=True)

    objects = WorkerHeartbeatQuerySet.as_manager()

    class Meta:
        ordering = ["-seen_at"]

    def __str__(self) -> str:
        return self.name


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: object) -> int:
        raise PermissionError("audit events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError(
            "audit events are append-only: only the retention job removes expired ones"
        )


class AuditEvent(models.Model):
    """One write to Kimai, configuration change or resolution. Append-only.

    ``before``/``after`` hold ids and values, never names or e-mail addresses: people are
    referred to by ``Person`` id, so forgetting someone never means rewriting the audit trail.
    Free text that may name a person (a timesheet's description carries the ticket title) is
    kept apart in :class:`AuditDetail`, which a purge can forget. Database triggers (migrations
    core 0004 and 0005) refuse UPDATE always and DELETE except through the retention job's
    function ``core_prune_audit_events``.
    """

    at = models.DateTimeField(default=timezone.now)  # indexed with the id, below
    actor = models.CharField(max_length=100, db_index=True)
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=100, blank=True)
    ticket = models.CharField(max_length=50, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        # In the order pages show (read backwards): a page of 100,000 events is read off the
        # index, not sorted. The actor index lets the page list the actors without a scan.
        indexes = [
            models.Index(fields=["at", "id"], name="core_audit_at_id"),
            models.Index(fields=["object_type", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.object_type}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit events are append-only")

    def _shown(self, side: str) -> dict[str, Any] | None:
        values = getattr(self, side)
        try:
            detail = self.detail
        except AuditDetail.DoesNotExist:
            return values
        personal = getattr(detail, side)
        if personal is None:
            return values
        if detail.forgotten_at is not None:
            personal = dict.fromkeys(personal, FORGOTTEN)
        return {**(values or {}), **personal}

    @property
    def shown_before(self) -> dict[str, Any] | None:
        """``before`` with its personal values (or "forgotten" after a purge)."""
        return self._shown("before")

    @property
    def shown_after(self) -> dict[str, Any] | None:
        return self._shown("after")


FORGOTTEN = "(forgotten)"


class AuditDetail(models.Model):
    """The personal values of one audit event (e.g. a timesheet's description, which carries
    the ticket title), apart from the append-only row so a purge can forget them: the event
    stays, its detail's values are erased and ``forgotten_at`` says when."""

    event = models.OneToOneField(
        AuditEvent, on_delete=models.CASCADE, primary_key=True, related_name="detail"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    forgotten_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"detail of audit event {self.event_id}"
